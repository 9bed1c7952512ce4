package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
)

// scoped are tokens of one scope each, and an admin, by name.
var scoped = map[string]string{
	"submitter": "submitter:submit:scope-test-submit-7d1e0c9a4b2f8e36",
	"reader":    "reader:read:scope-test-read-0b7c3e9f1a5d2c84e6",
	"operator":  "operator:operate:scope-test-operate-5e2a8c1f9b3d7e04",
	"boss":      "boss:admin:scope-test-admin-9c4f1e7b3a0d5c28e6",
}

// secretOf returns a scoped token's secret.
func secretOf(name string) string { return scoped[name][strings.LastIndexByte(scoped[name], ':')+1:] }

// asScoped is r sent with the scoped token name.
func asScoped(r req, name string) req {
	r.header = []string{"Authorization", "Bearer " + secretOf(name)}
	return r
}

func scopedTokens(t *testing.T) []auth.Token {
	t.Helper()
	var entries []string
	for _, e := range scoped {
		entries = append(entries, e)
	}
	toks, err := auth.ParseEnv(strings.Join(entries, ","))
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

// TestScopePerRoute: each route answers 403 forbidden to a token without its
// scope and 2xx to one with it (or with admin); the health checks need none.
func TestScopePerRoute(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("# metrics\n")) })
	tb := setup(t, httpapi.Config{AuthTokens: scopedTokens(t), Metrics: ok})
	// Each token acts on a batch of its own, sc-<name> (sc-b in requests).
	for name := range scoped {
		deadLettersOf(t, tb, "sc-"+name, name, 3)
	}
	requests := map[string]req{
		"POST /v1/batches":            {method: "POST", target: "/v1/batches", body: seed},
		"GET /v1/batches":             {method: "GET", target: "/v1/batches"},
		"GET /v1/batches/{id}":        {method: "GET", target: "/v1/batches/sc-b"},
		"GET /v1/deadletters":         {method: "GET", target: "/v1/deadletters?batch_id=sc-b"},
		"POST /v1/deadletters/replay": {method: "POST", target: "/v1/deadletters/replay", body: `{"batch_id":"sc-b"}`},
		"DELETE /v1/deadletters":      {method: "DELETE", target: "/v1/deadletters?batch_id=sc-b&confirm=true"},
		"GET /metrics":                {method: "GET", target: "/metrics"},
		"GET /healthz":                {method: "GET", target: "/healthz"},
		"GET /readyz":                 {method: "GET", target: "/readyz"},
	}
	want := map[string]auth.Scope{
		"POST /v1/batches": auth.Submit, "GET /v1/batches": auth.Read, "GET /v1/batches/{id}": auth.Read,
		"GET /v1/deadletters": auth.Read, "POST /v1/deadletters/replay": auth.Operate, "DELETE /v1/deadletters": auth.Operate,
		"GET /metrics": auth.Admin, "GET /healthz": "", "GET /readyz": "",
	}
	requests["GET /v1/batches/{id}/rejects"], want["GET /v1/batches/{id}/rejects"] = req{method: "GET", target: "/v1/batches/sc-b/rejects"}, auth.Read
	requests["GET /v1/candidates"], want["GET /v1/candidates"] = req{method: "GET", target: "/v1/candidates?email=ca-sc-b@example.com"}, auth.Read
	requests["GET /v1/batches/{id}/events"], want["GET /v1/batches/{id}/events"] = req{method: "GET", target: "/v1/batches/sc-b/events"}, auth.Read
	// The batches with dead letters are done; each token cancels one of its own
	// that is not (a cancel of a done batch is a 409).
	for name := range scoped {
		openBatch(t, tb, "sc-"+name+"-open", name)
	}
	for _, step := range []string{"pause", "resume", "cancel"} {
		route := "POST /v1/batches/{id}/" + step
		requests[route], want[route] = req{method: "POST", target: "/v1/batches/sc-b-open/" + step}, auth.Operate
	}
	holder := map[auth.Scope]string{auth.Submit: "submitter", auth.Read: "reader", auth.Operate: "operator", auth.Admin: "boss"}
	// Each token acts on a batch of its own.
	as := func(r req, name string) req {
		r = asScoped(r, name)
		r.target = strings.ReplaceAll(r.target, "sc-b", "sc-"+name)
		r.body = strings.ReplaceAll(r.body, "sc-b", "sc-"+name)
		return r
	}
	// Replay before purge, so that both act on dead letters.
	order := []string{"POST /v1/batches", "GET /v1/batches", "GET /v1/batches/{id}", "GET /v1/batches/{id}/rejects", "GET /v1/batches/{id}/events",
		"POST /v1/batches/{id}/pause", "POST /v1/batches/{id}/resume", "POST /v1/batches/{id}/cancel", "GET /v1/candidates", "GET /v1/deadletters",
		"POST /v1/deadletters/replay", "DELETE /v1/deadletters", "GET /metrics", "GET /healthz", "GET /readyz"}
	if len(order) != len(tb.srv.Routes()) {
		t.Fatalf("routes %v, test covers %v", tb.srv.Routes(), order)
	}
	for _, route := range order {
		r, ok := requests[route]
		if !ok || tb.srv.RouteScope(route) != want[route] {
			t.Fatalf("%s: scope %q, want %q", route, tb.srv.RouteScope(route), want[route])
		}
		for name := range scoped {
			if name == "boss" || name == holder[want[route]] || want[route] == "" {
				continue
			}
			rec := tb.do(t, as(r, name))
			if e := errorOf(t, rec, http.StatusForbidden); e.Code != httpapi.CodeForbidden || !strings.Contains(e.Message, string(want[route])) {
				t.Errorf("%s as %s: %+v", route, name, e)
			}
		}
		for _, name := range []string{holder[want[route]], "boss"} {
			if want[route] == "" {
				name = "reader"
			}
			if rec := tb.do(t, as(r, name)); rec.Code < 200 || rec.Code > 299 {
				t.Errorf("%s as %s: %d %s", route, name, rec.Code, rec.Body)
			}
		}
	}
}

// TestLogNamesTheToken: a request's log line names its token by its name, never
// by its secret or a hash of it; a bare secret by its tok- id.
func TestLogNamesTheToken(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{AuthTokens: scopedTokens(t)})
	for _, tok := range []string{secretOf("reader"), token2} {
		if rec := tb.do(t, req{method: "GET", target: "/v1/batches", header: []string{"Authorization", "Bearer " + tok}}); rec.Code != http.StatusOK {
			t.Fatalf("GET: %d %s", rec.Code, rec.Body)
		}
	}
	tb.do(t, req{method: "POST", target: "/v1/batches", body: seed, header: []string{"Authorization", "Bearer " + secretOf("reader")}})
	lines := tb.logs.FilterMessage("request").FilterField(zapString("token", "reader")).All()
	if len(lines) != 2 || lines[0].ContextMap()["status"] != int64(200) || lines[1].ContextMap()["status"] != int64(403) {
		t.Errorf("log lines of reader: %+v", lines)
	}
	if n := tb.logs.FilterField(zapString("token", httpapi.TokenID(token2))).Len(); n != 1 {
		t.Errorf("log lines of the bare token2: %d", n)
	}
	for _, e := range tb.logs.All() {
		for _, v := range e.ContextMap() {
			if s, ok := v.(string); ok && (strings.Contains(s, secretOf("reader")) || s == httpapi.TokenID(secretOf("reader"))) {
				t.Errorf("a log line shows the reader's secret or its hash: %v", e.ContextMap())
			}
		}
	}
}

// TestAllNeedsAdmin: acting on every batch (all=true) is for an admin token
// only; an operator may still act on one batch.
func TestAllNeedsAdmin(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{AuthTokens: scopedTokens(t)})
	deadLettersOf(t, tb, "an-a", "operator", 2)
	purgeAll := req{method: "DELETE", target: "/v1/deadletters?all=true&confirm=true"}
	replayAll := req{method: "POST", target: "/v1/deadletters/replay", body: `{"all":true}`}
	for _, r := range []req{purgeAll, replayAll} {
		if e := errorOf(t, tb.do(t, asScoped(r, "operator")), http.StatusForbidden); e.Code != "forbidden" {
			t.Errorf("%s %s by an operator: %+v, want forbidden", r.method, r.target, e)
		}
	}
	if rec := tb.do(t, asScoped(req{method: "DELETE", target: "/v1/deadletters?batch_id=an-a&confirm=true"}, "operator")); rec.Code != http.StatusOK {
		t.Errorf("an operator's purge of one batch: %d %s", rec.Code, rec.Body)
	}
	deadLetters(t, tb, "an-b", 2)
	if rec := tb.do(t, asScoped(purgeAll, "boss")); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"purged":2`) {
		t.Errorf("an admin's purge of all: %d %s", rec.Code, rec.Body)
	}
}
