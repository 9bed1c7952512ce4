package httpapi_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
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
