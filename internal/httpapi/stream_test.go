package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
)

// bodyGen produces a request body of n candidates, each about 300 bytes, without
// holding it: the target first, the candidates, then the message (as the vendor's
// sample puts it).
type bodyGen struct {
	n, i int
	buf  []byte
	done bool
}

var pad = strings.Repeat("x", 110)

func (g *bodyGen) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		switch {
		case g.done:
			return 0, io.EOF
		case g.i == 0:
			g.buf = []byte(`{"com_interview_set_id":"` + sandbox.DemoInterviewSetID + `","candidates":[`)
		case g.i > g.n:
			g.buf, g.done = []byte(`],"invitation_message":"Hello {{candidate_name}}, welcome!","send_invite":true}`), true
		default:
			sep := ","
			if g.i == 1 {
				sep = ""
			}
			g.buf = fmt.Appendf(nil, `%s{"email":"candidate-%06d@example.com","firstname":"Candidate %06d %s","lastname":"%s"}`, sep, g.i, g.i, pad, pad)
		}
		g.i++
	}
	k := copy(p, g.buf)
	g.buf = g.buf[k:]
	return k, nil
}

// TestLargeBodyKeepsMemoryFlat: a 100,000-candidate body (about 30 MB) is
// accepted whole while the live heap, sampled after a collection every 20 ms
// through the request, grows by far less than the body.
func TestLargeBodyKeepsMemoryFlat(t *testing.T) {
	t.Parallel()
	const n = 100_000
	tb := setup(t, httpapi.Config{MaxBodyBytes: 64 << 20})
	base := liveHeap()
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if h := liveHeap(); h > base {
					peak = max(peak, h-base)
				}
			}
		}
	})
	r := httptest.NewRequest("POST", "/v1/batches", &bodyGen{n: n})
	r.Header.Set("Authorization", "Bearer "+token1)
	r.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	start := time.Now()
	tb.srv.ServeHTTP(rec, r)
	close(stop)
	wg.Wait()
	if rec.Code != http.StatusAccepted || !strings.Contains(rec.Body.String(), fmt.Sprintf(`"accepted":%d`, n)) {
		t.Fatalf("%d %.500s", rec.Code, rec.Body)
	}
	// Holding the body would take 30 MB, its candidates several times that. The
	// bound leaves room for what the tests running alongside hold.
	const bound = 16 << 20
	t.Logf("%d candidates in %v; live heap grew at most %.1f MiB", n, time.Since(start).Round(time.Millisecond), float64(peak)/(1<<20))
	if peak > bound {
		t.Errorf("the live heap grew by %.1f MiB, more than %d MiB", float64(peak)/(1<<20), bound>>20)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
