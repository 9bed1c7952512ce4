package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/metrics"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
)

// serve runs the server on a free loopback port until the returned stop; stop
// returns Serve's error.
func serve(t *testing.T, srv *httpapi.Server) (base string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var err2 error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err2 = <-done
		}
		return err2
	}
	t.Cleanup(func() { _ = stop() })
	return "http://" + ln.Addr().String(), stop
}

func call(t *testing.T, hc *http.Client, method, url string, body io.Reader, v any) int {
	t.Helper()
	r, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+token2)
	r.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s %s: %d: %v", method, url, resp.StatusCode, err)
	}
	return resp.StatusCode
}

// TestEndToEnd: the vendor's sample body, unchanged, POSTed over HTTP to a real
// server, is sent to the sandbox by a worker, GET /v1/batches/{id} shows it done
// in the status JSON shape, and a scrape of /metrics (the worker's metrics, as one
// process running both would serve them) shows counters equal to that status.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Config{})
	tb := setup(t, httpapi.Config{Metrics: m.Handler()})
	base, stop := serve(t, tb.srv)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	var acc httpapi.Accepted
	if code := call(t, hc, "POST", base+"/v1/batches", strings.NewReader(seed), &acc); code != http.StatusAccepted || acc.Accepted != 1 {
		t.Fatalf("%d %+v", code, acc)
	}
	tb.StartWorker(pipelinetest.WorkerOptions{Observer: m})
	var st map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if code := call(t, hc, "GET", base+acc.StatusURL, nil, &st); code != http.StatusOK {
			t.Fatalf("status %d %v", code, st)
		}
		if st["state"] == "done" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	want := map[string]any{"batch_id": acc.BatchID, "state": "done", "total": 1.0, "accepted": 1.0, "rejected": 0.0, "invited": 1.0,
		"cv_queued": 0.0, "dead_lettered": 0.0, "skipped_duplicate": 0.0, "pending": 0.0}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("status %s = %v, want %v (%v)", k, st[k], v, st)
		}
	}
	if n := tb.API.InviteCount(pipelinetest.Target, "alex@example.com"); n != 1 {
		t.Errorf("alex invited %d times", n)
	}
	tb.CheckAccounting(acc.BatchID)

	fams := scrapeMetrics(t, hc, base)
	outcomes := counters(fams[metrics.CandidatesTotal])
	for _, o := range []string{"invited", "cv_queued", "dead_lettered"} {
		if outcomes[o] != st[o] {
			t.Errorf("%s{outcome=%q} = %v, the status says %v", metrics.CandidatesTotal, o, outcomes[o], st[o])
		}
	}
	var dead float64
	for _, v := range counters(fams[metrics.DeadLettersTotal]) {
		dead += v
	}
	if dead != st["dead_lettered"] {
		t.Errorf("%s sums to %v, the status says %v dead-lettered", metrics.DeadLettersTotal, dead, st["dead_lettered"])
	}
	if got := counters(fams[metrics.APIRequestsTotal])["200"]; got != 1 {
		t.Errorf("%s{code=\"200\"} = %v, want the one request the sandbox got", metrics.APIRequestsTotal, got)
	}
	if err := stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// scrapeMetrics GETs /metrics with a token and parses the text format.
func scrapeMetrics(t *testing.T, hc *http.Client, base string) map[string]*dto.MetricFamily {
	t.Helper()
	r, _ := http.NewRequest(http.MethodGet, base+metrics.Path, nil)
	r.Header.Set("Authorization", "Bearer "+token2)
	resp, err := hc.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics: not the text format: %v", err)
	}
	return fams
}

// counters returns a counter family's values keyed by their one label's value.
func counters(fam *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range fam.GetMetric() {
		if len(m.GetLabel()) == 1 {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

// TestGracefulShutdown: a request in flight when the server is told to stop is
// still answered; Serve returns once it is, and new connections are refused.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	base, stop := serve(t, tb.srv)
	addr := strings.TrimPrefix(base, "http://")
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	half := len(seed) / 2
	head := "POST /v1/batches HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + token1 +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(seed)) + "\r\n\r\n"
	if _, err := conn.Write([]byte(head + seed[:half])); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the handler is reading the body
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	time.Sleep(100 * time.Millisecond) // Shutdown has begun: the listener is closed
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("a new connection was accepted during shutdown")
	}
	if _, err := conn.Write([]byte(seed[half:])); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("in-flight request: %d", resp.StatusCode)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestIdempotencyKeyBytesOverHTTP pins what docs/openapi.yaml says of
// Idempotency-Key over a real connection: a control byte other than tab is
// refused by net/http itself, as plain text, before the server sees the request
// (nothing is imported); a tab or a non-ASCII byte reaches the server, which
// answers its JSON 400 naming the header.
func TestIdempotencyKeyBytesOverHTTP(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	base, _ := serve(t, tb.srv)
	raw := func(key string) (*http.Response, []byte) {
		t.Helper()
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /v1/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nIdempotency-Key: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			token1, key, len(seed), seed)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	for _, key := range []string{"a\x01b", "a\x7fb", "a\x00b"} {
		resp, body := raw(key)
		if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("key %q: %d %s %q, want net/http's plain-text 400", key, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	for _, key := range []string{"a\tb", "a\xc3\xa9b"} {
		resp, body := raw(key)
		var e httpapi.ErrorBody
		if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != http.StatusBadRequest || len(e.Error.Details) != 1 || e.Error.Details[0].Field != "Idempotency-Key" {
			t.Errorf("key %q: %d %s, want our 400 naming Idempotency-Key", key, resp.StatusCode, body)
		}
	}
	if ids, _, err := tb.Store.BatchPage(context.Background(), "", 10); err != nil || len(ids) != 0 {
		t.Errorf("refused requests left batches %v (%v)", ids, err)
	}
}
