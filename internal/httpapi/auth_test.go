package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/httpapi"
)

// TestAuthOnEveryRoute: every route but the health checks answers 401 without a
// token, with a wrong one and with another scheme; the health checks need none.
func TestAuthOnEveryRoute(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{Metrics: http.NotFoundHandler()})
	for _, route := range tb.srv.Routes() {
		method, path, _ := strings.Cut(route, " ")
		path = strings.ReplaceAll(path, "{id}", "some-batch")
		open := path == "/healthz" || path == "/readyz"
		for name, auth := range map[string]string{"none": "", "wrong": "Bearer not-a-token", "basic": "Basic " + token1, "prefix": "Bearer " + token1[:5]} {
			rec := tb.do(t, req{method: method, target: path, header: []string{"Authorization", auth}})
			switch {
			case open && rec.Code != http.StatusOK:
				t.Errorf("%s with %s auth: %d %s", route, name, rec.Code, rec.Body)
			case !open:
				if e := errorOf(t, rec, http.StatusUnauthorized); e.Code != httpapi.CodeUnauthorized || rec.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("%s with %s auth: %+v %v", route, name, e, rec.Header())
				}
			}
		}
	}
	// Both tokens work, and the log line names a token by its id only.
	for _, tok := range []string{token1, token2} {
		if rec := tb.do(t, req{method: "GET", target: "/v1/batches", header: []string{"Authorization", "Bearer " + tok}}); rec.Code != http.StatusOK {
			t.Errorf("token: %d %s", rec.Code, rec.Body)
		}
	}
	lines := tb.logs.FilterMessage("request").FilterField(zapString("token", httpapi.TokenID(token2))).All()
	if len(lines) != 1 || lines[0].ContextMap()["route"] != "GET /v1/batches" || lines[0].ContextMap()["status"] != int64(200) {
		t.Errorf("log lines for token2: %+v", lines)
	}
}

// TestRateLimitPerToken: past its rate and burst a token gets 429 with
// Retry-After; another token is not affected.
func TestRateLimitPerToken(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{TokenRate: 0.5, TokenBurst: 2})
	get := func(tok string) *httptestRecorder {
		return tb.do(t, req{method: "GET", target: "/v1/batches", header: []string{"Authorization", "Bearer " + tok}})
	}
	for i := range 2 {
		if rec := get(token1); rec.Code != http.StatusOK {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
	rec := get(token1)
	e := errorOf(t, rec, http.StatusTooManyRequests)
	if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 2 || e.Code != httpapi.CodeRateLimited {
		t.Errorf("429: Retry-After %q, %+v", rec.Header().Get("Retry-After"), e)
	}
	if rec := get(token2); rec.Code != http.StatusOK {
		t.Errorf("the other token: %d", rec.Code)
	}
	if rec := tb.do(t, req{method: "GET", target: "/healthz"}); rec.Code != http.StatusOK {
		t.Errorf("healthz is not limited: %d", rec.Code)
	}
}

// TestFailedAuthThrottle: a client address that keeps sending wrong tokens
// gets 429 too_many_failed_auth with Retry-After once past its burst of
// failures, while the right token from the same address still works and
// another address's wrong token is still a plain 401.
func TestFailedAuthThrottle(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{FailedAuth: httpapi.NewAuthThrottle(httpapi.ThrottleConfig{})})
	const attacker, other = "203.0.113.9:40000", "198.51.100.7:4242"
	codes := map[int]int{}
	for i := range 300 {
		rec := tb.do(t, req{method: "GET", target: "/v1/batches", remote: attacker,
			header: []string{"Authorization", "Bearer wrong-" + strconv.Itoa(i) + token1[10:]}})
		codes[rec.Code]++
		if rec.Code == http.StatusTooManyRequests {
			e := errorOf(t, rec, http.StatusTooManyRequests)
			if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 || e.Code != httpapi.CodeTooManyFailedAuth {
				t.Fatalf("429: Retry-After %q, %+v", rec.Header().Get("Retry-After"), e)
			}
		}
	}
	if codes[http.StatusTooManyRequests] == 0 || codes[http.StatusUnauthorized] < httpapi.DefaultFailedAuthBurst ||
		codes[http.StatusUnauthorized]+codes[http.StatusTooManyRequests] != 300 {
		t.Errorf("300 wrong tokens from one address: statuses %v, want %d or more 401s, then 429s", codes, httpapi.DefaultFailedAuthBurst)
	}
	for _, tok := range []string{token1, token2} {
		if rec := tb.do(t, req{method: "GET", target: "/v1/batches", remote: attacker, header: []string{"Authorization", "Bearer " + tok}}); rec.Code != http.StatusOK {
			t.Errorf("the right token from the throttled address: %d %s", rec.Code, rec.Body)
		}
	}
	if rec := tb.do(t, req{method: "GET", target: "/v1/batches", remote: other, header: []string{"Authorization", "Bearer wrong"}}); rec.Code != http.StatusUnauthorized {
		t.Errorf("a wrong token from another address: %d %s", rec.Code, rec.Body)
	}
}

// TestRequestIDs: a sane X-Request-Id is kept, anything else replaced; the answer
// and the log line carry it.
func TestRequestIDs(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	rec := tb.do(t, req{method: "GET", target: "/v1/batches", header: []string{"X-Request-Id", "client-req-42"}})
	if rec.Header().Get("X-Request-Id") != "client-req-42" {
		t.Errorf("kept id: %q", rec.Header().Get("X-Request-Id"))
	}
	if n := tb.logs.FilterField(zapString("request_id", "client-req-42")).Len(); n != 1 {
		t.Errorf("%d log lines with the client's id", n)
	}
	for _, bad := range []string{"has space", strings.Repeat("x", 200), "new\x7fline"} {
		rec := tb.do(t, req{method: "GET", target: "/v1/batches", header: []string{"X-Request-Id", bad}})
		if id := rec.Header().Get("X-Request-Id"); id == bad || len(id) != 36 {
			t.Errorf("%q: id %q", bad, id)
		}
	}
}

// TestUnroutedAnswers: an unknown path is a JSON 404, a known path with another
// method (OPTIONS too: there is no CORS) a JSON 405 naming the allowed ones.
func TestUnroutedAnswers(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	if e := errorOf(t, tb.do(t, req{method: "GET", target: "/v2/nothing"}), http.StatusNotFound); e.Code != httpapi.CodeNotFound {
		t.Errorf("404: %+v", e)
	}
	for _, r := range []struct{ method, target, allow string }{
		{"PUT", "/v1/batches", "GET, POST"},
		{"OPTIONS", "/v1/batches", "GET, POST"}, // no CORS: docs/openapi.yaml says so
		{"OPTIONS", "/v1/batches/b1", "GET"},
		{"OPTIONS", "/v1/deadletters", "GET, DELETE"},
	} {
		rec := tb.do(t, req{method: r.method, target: r.target})
		if e := errorOf(t, rec, http.StatusMethodNotAllowed); e.Code != httpapi.CodeMethodNotAllowed || rec.Header().Get("Allow") != r.allow {
			t.Errorf("%s %s: %+v, Allow %q, want %q", r.method, r.target, e, rec.Header().Get("Allow"), r.allow)
		}
	}
}

// TestUIAnswersOutsideTheAPI: with a UI, the paths no API route claims outside
// the API's namespace are the UI's (without a bearer token: it has its own
// sign-in); the API's routes, its 404s in its namespace (/v1, paths that look
// like another version or /api, and the paths below its own routes) and its 405s
// stay as they were, and Routes (what docs/openapi.yaml is held to) lists the
// API's routes only.
func TestUIAnswersOutsideTheAPI(t *testing.T) {
	t.Parallel()
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "ui "+r.Method+" "+r.URL.Path)
	})
	plain := setup(t, httpapi.Config{})
	tb := setup(t, httpapi.Config{UI: ui})
	if got, want := tb.srv.Routes(), plain.srv.Routes(); !slices.Equal(got, want) {
		t.Errorf("Routes with a UI = %v, want the API's %v", got, want)
	}
	// The UI's answers are not the API's: no checkAgainstDoc for them.
	for _, r := range []struct{ method, target, path string }{
		{"GET", "/", "/"},
		{"GET", "/batches/b1/deadletters?q=x", "/batches/b1/deadletters"},
		{"POST", "/signin", "/signin"},
		{"GET", "/version", "/version"},
		{"GET", "/apis", "/apis"},
		{"GET", "/healthzz", "/healthzz"},
	} {
		rec := httptest.NewRecorder()
		tb.srv.ServeHTTP(rec, httptest.NewRequest(r.method, r.target, nil))
		if want := "ui " + r.method + " " + r.path; rec.Code != http.StatusOK || rec.Body.String() != want {
			t.Errorf("%s %s: %d %q, want the UI's %q", r.method, r.target, rec.Code, rec.Body, want)
		}
	}
	if e := errorOf(t, tb.do(t, req{method: "GET", target: "/v1/nothing"}), http.StatusNotFound); e.Code != httpapi.CodeNotFound {
		t.Errorf("404 under /v1: %+v", e)
	}
	// Paths that look like API calls are the API's too: a JSON 404, never the UI's page.
	for _, p := range []string{"/v1", "/v1x", "/v2", "/v2/batches", "/v10/batches/b1", "/api", "/api/v1/batches", "/healthz/x", "/readyz/", "/metrics"} {
		t.Run(p, func(t *testing.T) {
			if e := errorOf(t, tb.do(t, req{method: "GET", target: p}), http.StatusNotFound); e.Code != httpapi.CodeNotFound {
				t.Errorf("404 at %s: %+v", p, e)
			}
		})
	}
	if e := errorOf(t, tb.do(t, req{method: "POST", target: "/healthz"}), http.StatusMethodNotAllowed); e.Code != httpapi.CodeMethodNotAllowed {
		t.Errorf("405: %+v", e)
	}
	if e := errorOf(t, tb.do(t, req{method: "GET", target: "/v1/batches", header: []string{"Authorization", ""}}), http.StatusUnauthorized); e.Code != httpapi.CodeUnauthorized {
		t.Errorf("the API without a token: %+v", e)
	}
}

// TestConfigValidate: no tokens is refused unless explicitly insecure on loopback.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  httpapi.Config
		want string // "" = valid
	}{
		{httpapi.Config{Tokens: []string{token1}}, ""},
		{httpapi.Config{Tokens: []string{token1, "t"}}, "token 2 of 2 is 1 characters; at least 32"},
		{httpapi.Config{}, "BULKINVITE_TOKENS"},
		{httpapi.Config{InsecureNoAuth: true}, ""},
		{httpapi.Config{InsecureNoAuth: true, Addr: "[::1]:0"}, ""},
		{httpapi.Config{InsecureNoAuth: true, Addr: "localhost:9000"}, ""},
		{httpapi.Config{InsecureNoAuth: true, Addr: ":8080"}, "loopback"},
		{httpapi.Config{InsecureNoAuth: true, Addr: "0.0.0.0:8080"}, "loopback"},
		{httpapi.Config{InsecureNoAuth: true, Addr: "10.1.2.3:8080"}, "loopback"},
		{httpapi.Config{InsecureNoAuth: true, Tokens: []string{token1}}, "drop one"},
		{httpapi.Config{Tokens: []string{token1 + " b"}}, "white space"},
		{httpapi.Config{Tokens: []string{token1}, Addr: "nope"}, "HOST:PORT"},
		{httpapi.Config{Tokens: []string{token1}, ImportTimeout: 10 * 60e9}, "write timeout"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v: %v, want %q", tt.cfg, err, tt.want)
		}
	}
}
