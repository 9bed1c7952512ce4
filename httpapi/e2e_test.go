package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/httpapi"
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
// server, is sent to the sandbox by a worker, and GET /v1/batches/{id} shows it
// done in the status JSON shape.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	base, stop := serve(t, tb.srv)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	var acc httpapi.Accepted
	if code := call(t, hc, "POST", base+"/v1/batches", strings.NewReader(seed), &acc); code != http.StatusAccepted || acc.Accepted != 1 {
		t.Fatalf("%d %+v", code, acc)
	}
	tb.StartWorker(pipelinetest.WorkerOptions{})
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
	if err := stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}
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
