package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
)

// TestWorkerMetricsAddr: `worker --metrics-addr` serves the contract's metrics at
// /metrics while it runs, counting what it sent, and stops serving when it stops;
// an address that is no HOST:PORT is a usage error, one in use a failure.
func TestWorkerMetricsAddr(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	res := tb.Import("metrics", pipelinetest.Candidates("metrics", 3), nil)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr lockedBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- cli.Run(ctx, []string{"worker", "--metrics-addr", "127.0.0.1:0"},
			cli.IO{In: strings.NewReader(""), Out: io.Discard, Err: &stderr, Getenv: func(k string) string { return tb.env[k] }})
	}()
	url := metricsURL(t, &stderr, exit)
	tb.WaitDone(res.BatchID, time.Minute)

	// The worker counts an outcome just after the store has it: poll.
	var body string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if body = get(t, url); strings.Contains(body, `bulkinvite_candidates_total{outcome="invited"} 3`) {
			break
		}
	}
	for _, want := range []string{
		`bulkinvite_candidates_total{outcome="invited"} 3`,
		`bulkinvite_deadletters_total{reason="validation"} 0`,
		`bulkinvite_api_requests_total{code="200"} 1`,
		`bulkinvite_ratelimit_wait_seconds_count 1`,
		`bulkinvite_api_inflight_requests 0`,
		`bulkinvite_auth_stopped 0`,
		`asynq_tasks_processed_total{queue="default`, // the default queue's shard the chunk was on
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	cancel()
	if code := <-exit; code != cli.ExitOK {
		t.Errorf("worker exit %d, want 0\n%s", code, stderr.String())
	}
	if _, err := noKeepAlive.Get(url); err == nil {
		t.Error("/metrics still served after the worker stopped")
	}

	if r := tb.run(t, "", "worker", "--metrics-addr", "9464"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "HOST:PORT") {
		t.Errorf("--metrics-addr 9464: exit %d, stderr %s; want 2", r.code, r.stderr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if r := tb.run(t, "", "worker", "--metrics-addr", ln.Addr().String()); r.code != cli.ExitFailed || !strings.Contains(r.stderr, "address already in use") {
		t.Errorf("--metrics-addr in use: exit %d, stderr %s; want 1", r.code, r.stderr)
	}
}

// metricsURL waits for the worker's log line saying where it serves the metrics.
func metricsURL(t *testing.T, stderr *lockedBuffer, exit <-chan int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(stderr.String()))
		for sc.Scan() {
			var line struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving metrics" {
				return line.URL
			}
		}
		select {
		case code := <-exit:
			t.Fatalf("worker exited %d before serving metrics:\n%s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("the worker did not say where it serves metrics:\n%s", stderr.String())
	return ""
}

// noKeepAlive leaves no idle connection behind for goleak to find.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := noKeepAlive.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, b)
	}
	return string(b)
}
