package producer_test

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

// heapWatch samples the live heap while a reader consumes a generated input: every
// few MiB it collects garbage and reads the heap in use. Past its bound it fails
// the read, so that a reader that keeps what it reads is stopped early instead of
// taking the machine's memory.
type heapWatch struct {
	bound, base, peak uint64
	next, every       int64
}

var errHeapBound = errors.New("the live heap grew past the test's bound")

func newHeapWatch(bound uint64) *heapWatch {
	w := &heapWatch{bound: bound, every: 4 << 20}
	w.base = liveHeap()
	return w
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// at is called with the bytes produced so far.
func (w *heapWatch) at(n int64) error {
	if n < w.next {
		return nil
	}
	w.next = n + w.every
	h := liveHeap()
	if h > w.base {
		w.peak = max(w.peak, h-w.base)
	}
	if w.peak > w.bound {
		return fmt.Errorf("%w: %.1f MiB after %d MiB of input", errHeapBound, float64(w.peak)/(1<<20), n>>20)
	}
	return nil
}

// repeatReader produces head, then body repeated until size bytes, then tail,
// without holding more than one copy of each in memory.
type repeatReader struct {
	head, body, tail string
	size, n          int64
	watch            *heapWatch
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if err := r.watch.at(r.n); err != nil {
		return 0, err
	}
	total := 0
	for len(p) > 0 {
		var src string
		switch hb := int64(len(r.head)); {
		case r.n < hb:
			src = r.head[r.n:]
		case r.n < hb+r.size:
			off := (r.n - hb) % int64(len(r.body))
			src = r.body[off:]
			src = src[:min(int64(len(src)), hb+r.size-r.n)]
		case r.n < hb+r.size+int64(len(r.tail)):
			src = r.tail[r.n-hb-r.size:]
		default:
			if total == 0 {
				return 0, io.EOF
			}
			return total, nil
		}
		k := copy(p, src)
		p, total, r.n = p[k:], total+k, r.n+int64(k)
	}
	return total, nil
}

// TestJSONSourceBoundsIgnoredValues: however large or deep the value of a key the
// reader ignores, memory stays flat. A value nested deeper than MaxJSONDepth is a
// fatal error naming the key and the limit (encoding/json's Decoder.Token keeps
// state for every open level, so 50 MiB of '[' would hold ~400 MiB); a long flat
// value is skipped; a single string over MaxRecordBytes is refused.
func TestJSONSourceBoundsIgnoredValues(t *testing.T) {
	t.Parallel()
	// The bound leaves room for what tests running in parallel hold; the old reader
	// passed it after 16 MiB of '['.
	const (
		size  = 50 << 20
		bound = 128 << 20
	)
	alex := payload.Candidate{Email: "alex@example.com"}
	tail := `],"candidates":[{"email":"alex@example.com"}]}`
	tests := []struct {
		name             string
		head, body, tail string
		want             []string // fragments of the fatal error; nil: no error
		records          []want
	}{
		{name: "deep array", head: `{"com_project_id":"` + uuidA + `","x":`, body: "[",
			want: []string{`"x"`, "nested deeper than 64 levels"}},
		{name: "deep object", head: `{"candidates":[],"extra":`, body: `{"a":`,
			want: []string{`"extra"`, "nested deeper than 64 levels"}},
		{name: "deep mixed, after the candidates", head: `{"candidates":[{"email":"alex@example.com"}],"meta":`, body: `[{"k":`,
			want: []string{`"meta"`, "nested deeper than 64 levels"}, records: []want{ok(1, alex)}},
		{name: "long flat array", head: `{"attachments":[0`, body: `,{"name":"file.pdf","size":12345,"tags":["a","b"]}`, tail: tail,
			records: []want{ok(1, alex)}},
		{name: "one long string", head: `{"blob":["`, body: "QUJD", tail: `"` + tail,
			want: []string{`(inside "blob")`, "larger than 1048576 bytes"}},
		{name: "one long candidate string", head: `[{"email":"alex@example.com","notes":"`, body: "QUJD", tail: `"}]`,
			want: []string{"candidate 1", "larger than 1048576 bytes"}},
		{name: "deep candidate", head: `[{"email":"alex@example.com","x":`, body: "[",
			want: []string{"candidate 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			watch := newHeapWatch(bound)
			in := &repeatReader{head: tt.head, body: tt.body, tail: tt.tail, size: size, watch: watch}
			recs, err := readAll(t, producer.NewJSONSource(in))
			t.Logf("read %d MiB; live heap grew by at most %.1f MiB; error: %v", in.n>>20, float64(watch.peak)/(1<<20), err)
			if errors.Is(err, errHeapBound) {
				t.Fatal(err)
			}
			if err := watch.at(watch.next); err != nil {
				t.Fatal(err)
			}
			checkRecords(t, producer.WhereCandidate, recs, tt.records)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("fatal error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, frag := range tt.want {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error %q lacks %q", err, frag)
				}
			}
		})
	}
}
