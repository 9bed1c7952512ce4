package producer_test

import (
	"io"
	"runtime"
	"strconv"
	"testing"

	"github.com/bulkinvite/bulkinvite/producer"
)

// genReader produces a candidate file of n rows on the fly, without holding it in
// memory, so that a reader's own memory use can be measured.
type genReader struct {
	format  string // producer.FormatCSV, FormatJSONL or FormatJSON
	n, i    int
	started bool
	buf     []byte
	pending []byte
}

func newGenReader(format string, n int) *genReader {
	return &genReader{format: format, n: n, buf: make([]byte, 0, 512)}
}

func (g *genReader) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		if len(g.pending) == 0 && !g.fill() {
			break
		}
		n := copy(p, g.pending)
		g.pending, p, total = g.pending[n:], p[n:], total+n
	}
	if total == 0 {
		return 0, io.EOF
	}
	return total, nil
}

// fill puts the next piece of the file in pending; false at the end.
func (g *genReader) fill() bool {
	b := g.buf[:0]
	switch {
	case !g.started:
		g.started = true
		switch g.format {
		case producer.FormatCSV:
			b = append(b, "ATS Candidate ID,Email Address,First Name,Last Name,CV URL,Department\n"...)
		case producer.FormatJSON:
			b = append(b, '[')
		}
	case g.i < g.n:
		b = g.row(b, g.i)
		g.i++
	case g.i == g.n && g.format == producer.FormatJSON:
		b = append(b, "]\n"...)
		g.i++
	default:
		return false
	}
	g.buf, g.pending = b, b
	return true
}

func (g *genReader) row(b []byte, i int) []byte {
	id := func(b []byte) []byte { // a valid UUID: its last group is i in decimal
		b = append(b, "00000000-0000-4000-8000-"...)
		digits := 1
		for x := i; x >= 10; x /= 10 {
			digits++
		}
		for range 12 - digits {
			b = append(b, '0')
		}
		return strconv.AppendInt(b, int64(i), 10)
	}
	switch g.format {
	case producer.FormatCSV:
		b = id(b)
		b = append(b, ",user"...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, "@example.com,First,Last,https://cdn.example.com/cv/"...)
		b = strconv.AppendInt(b, int64(i), 10)
		return append(b, ".pdf,Sales\n"...)
	default:
		if g.format == producer.FormatJSON && i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"ats_candidate_id":"`...)
		b = id(b)
		b = append(b, `","email":"user`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `@example.com","firstname":"First","lastname":"Last","cv_link":"https://cdn.example.com/cv/`...)
		b = strconv.AppendInt(b, int64(i), 10)
		return append(b, ".pdf\"}\n"...)
	}
}

func newGenSource(tb testing.TB, format string, n int) producer.Source {
	tb.Helper()
	src, err := producer.NewSource(newGenReader(format, n), format)
	if err != nil {
		tb.Fatal(err)
	}
	return src
}

// TestReadersStreamInConstantMemory reads 200,000 rows of each format (~30 MB of
// input; fewer under the race detector) and checks that the live heap stays small
// while it does: a reader that kept the file, or the records, would hold tens of MiB.
func TestReadersStreamInConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 600,000 rows")
	}
	t.Parallel()
	const (
		every     = 25_000
		heapBound = 32 << 20
	)
	rows := 200_000
	if raceEnabled {
		rows = 50_000
	}
	for _, format := range []string{producer.FormatCSV, producer.FormatJSONL, producer.FormatJSON} {
		t.Run(format, func(t *testing.T) {
			src := newGenSource(t, format, rows)
			var peak uint64
			n := 0
			for {
				rec, err := src.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("after %d rows: %v", n, err)
				}
				if rec.Err != nil {
					t.Fatalf("row %d rejected: %v", n, rec.Err)
				}
				n++
				if n%every == 0 {
					runtime.GC()
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapAlloc)
				}
			}
			if n != rows {
				t.Fatalf("read %d rows, want %d", n, rows)
			}
			t.Logf("%s: %d rows, peak live heap %.1f MiB", format, n, float64(peak)/(1<<20))
			if peak > heapBound {
				t.Errorf("live heap reached %.1f MiB while reading, want < %d MiB", float64(peak)/(1<<20), heapBound>>20)
			}
		})
	}
}

// benchmarkSource reads b.N generated rows: ns/op, B/op and allocs/op are per row.
func benchmarkSource(b *testing.B, format string) {
	b.ReportAllocs()
	src := newGenSource(b, format, b.N)
	b.ResetTimer()
	n := 0
	for {
		rec, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil || rec.Err != nil {
			b.Fatalf("row %d: %v %v", n, err, rec.Err)
		}
		n++
	}
	if n != b.N {
		b.Fatalf("read %d rows, want %d", n, b.N)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkCSVSource(b *testing.B)   { benchmarkSource(b, producer.FormatCSV) }
func BenchmarkJSONLSource(b *testing.B) { benchmarkSource(b, producer.FormatJSONL) }
func BenchmarkJSONSource(b *testing.B)  { benchmarkSource(b, producer.FormatJSON) }
