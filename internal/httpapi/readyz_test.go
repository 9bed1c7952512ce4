package httpapi_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
)

// TestReadyzSaysOnlyWhy: the unauthenticated /readyz answers {"ready":true} (and
// the old "status") when ready, and only {"ready":false,"reason":...} when not:
// neither the masked key nor the vendor's message of an auth stop, nor Redis's
// error, which go to the log instead.
func TestReadyzSaysOnlyWhy(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{KeyID: "key-1"})
	ready := func(status int, want string) {
		t.Helper()
		rec := tb.do(t, req{method: "GET", target: "/readyz", header: []string{"Authorization", ""}})
		if got := strings.TrimSpace(rec.Body.String()); rec.Code != status || got != want {
			t.Errorf("/readyz = %d %s, want %d %s", rec.Code, got, status, want)
		}
	}
	ready(http.StatusOK, `{"ready":true,"status":"ready"}`)

	if err := tb.Store.StopAuth(context.Background(), "key-1", "fl_live_abcd.****", 403, "key inactive"); err != nil {
		t.Fatal(err)
	}
	ready(http.StatusServiceUnavailable, `{"ready":false,"reason":"auth_stopped"}`)
	if logged := tb.loggedText(); !strings.Contains(logged, "key inactive") || !strings.Contains(logged, "fl_live_abcd.****") {
		t.Errorf("the auth stop's details are not in the log:\n%s", logged)
	}

	tb.Redis.Kill()
	ready(http.StatusServiceUnavailable, `{"ready":false,"reason":"redis"}`)
	if logged := tb.loggedText(); !strings.Contains(logged, "not ready: Redis") || !strings.Contains(logged, "ping Redis") {
		t.Errorf("Redis's error is not in the log:\n%s", logged)
	}
}

// TestRedisDownIsNotReady: with Redis gone, the data routes answer 503
// not_ready with Retry-After, not 500 internal; the cause is logged.
func TestRedisDownIsNotReady(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	tb.Import("there", pipelinetest.Candidates("t", 1), nil)
	tb.Redis.Kill()
	for _, r := range []req{
		{method: "GET", target: "/v1/batches/x"},
		{method: "GET", target: "/v1/batches/there"},
		{method: "GET", target: "/v1/batches"},
		{method: "GET", target: "/v1/deadletters"},
		{method: "POST", target: "/v1/batches", body: seed},
		{method: "POST", target: "/v1/deadletters/replay", body: `{"batch_id":"there"}`},
		{method: "DELETE", target: "/v1/deadletters?batch_id=there&confirm=true"},
	} {
		rec := tb.do(t, r)
		e := errorOf(t, rec, http.StatusServiceUnavailable)
		if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 || e.Code != httpapi.CodeNotReady {
			t.Errorf("%s %s: %+v, Retry-After %q", r.method, r.target, e, rec.Header().Get("Retry-After"))
		}
		if strings.Contains(rec.Body.String(), "refused") || strings.Contains(rec.Body.String(), "127.0.0.1") {
			t.Errorf("%s %s: the answer shows Redis's error: %s", r.method, r.target, rec.Body)
		}
	}
	if !strings.Contains(tb.loggedText(), "connection refused") {
		t.Error("the cause of the 503s was not logged")
	}
}

// TestRedisBugIsStillInternal: an error Redis answers that is not about reaching
// it (here WRONGTYPE on a batch record that is not a hash) stays a 500.
func TestRedisBugIsStillInternal(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	if err := tb.RDB.Set(context.Background(), pipelinetest.Prefix+"{b:odd}", "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if e := errorOf(t, tb.do(t, req{method: "GET", target: "/v1/batches/odd"}), http.StatusInternalServerError); e.Code != httpapi.CodeInternal {
		t.Errorf("WRONGTYPE: %+v", e)
	}
}

// TestRedisFullIsRedisFull: with Redis at its maxmemory, POST /v1/batches
// waits a few seconds at most, then answers 503 redis_full with Retry-After,
// not 500 internal, showing nothing of Redis's error; once there is room, the
// same request creates the batch.
func TestRedisFullIsRedisFull(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	redistest.FillMemory(t, tb.RDB)
	body := strings.Replace(seed, "{", `{"batch_id":"full",`, 1)
	start := time.Now()
	rec := tb.do(t, req{method: "POST", target: "/v1/batches", body: body})
	took := time.Since(start)
	e := errorOf(t, rec, http.StatusServiceUnavailable)
	if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 || e.Code != httpapi.CodeRedisFull {
		t.Errorf("full Redis: %+v, Retry-After %q", e, rec.Header().Get("Retry-After"))
	}
	if strings.Contains(rec.Body.String(), "OOM") || strings.Contains(rec.Body.String(), "maxmemory") {
		t.Errorf("the answer shows Redis's error: %s", rec.Body)
	}
	t.Logf("answered %d %s after %s", rec.Code, e.Code, took.Round(time.Millisecond))
	if took > 20*time.Second {
		t.Errorf("the request waited %s for Redis memory: want a few seconds at most", took)
	}
	if !strings.Contains(tb.loggedText(), "OOM command not allowed") {
		t.Error("the cause of the 503 was not logged")
	}
	redistest.RaiseMaxmemory(t, tb.RDB)
	var acc httpapi.Accepted
	rec = tb.do(t, req{method: "POST", target: "/v1/batches", body: body})
	if rec.Code != http.StatusAccepted {
		t.Fatalf("with room: %d %s", rec.Code, rec.Body)
	}
	decode(t, rec, &acc)
	if acc.BatchID != "full" || acc.Accepted == 0 {
		t.Errorf("with room: %+v", acc)
	}
}
