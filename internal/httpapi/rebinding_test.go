package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/httpapi"
)

// TestInsecureNoAuthAnswersLoopbackHostsOnly: a server without auth answers
// only requests addressed to a loopback name, on every route, so that a page of
// another site whose name is made to resolve to 127.0.0.1 (DNS rebinding)
// cannot create batches the local worker sends with the developer's key. The
// others get 421, as the dashboard answers them, and nothing is written.
func TestInsecureNoAuthAnswersLoopbackHostsOnly(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{InsecureNoAuth: true})
	countBatches := func() int {
		t.Helper()
		var list struct {
			Batches []struct{} `json:"batches"`
		}
		decode(t, tb.do(t, req{method: "GET", target: "/v1/batches"}), &list)
		return len(list.Batches)
	}
	for _, host := range []string{
		"attacker.example", "attacker.example:8080", "127.0.0.1.attacker.example:8080", "localhost.attacker.example:8080",
		"10.0.0.1:8080", "[fd00::1]:8080", "0.0.0.0:8080", "",
	} {
		for _, r := range []req{
			{method: "POST", target: "/v1/batches", body: seed},
			{method: "GET", target: "/v1/batches"},
			{method: "GET", target: "/v1/deadletters"},
			{method: "POST", target: "/v1/deadletters/replay", body: `{"all":true}`},
			{method: "DELETE", target: "/v1/deadletters?all=true&confirm=true"},
			{method: "GET", target: "/healthz"},
			{method: "GET", target: "/readyz"},
		} {
			r.header = []string{"Host", host, "Authorization", ""}
			rec := tb.do(t, r)
			if rec.Code != http.StatusMisdirectedRequest {
				t.Errorf("Host %q: %s %s answered %d, want 421: %s", host, r.method, r.target, rec.Code, rec.Body)
				continue
			}
			if e := errorOf(t, rec, http.StatusMisdirectedRequest); e.Code != "misdirected_request" {
				t.Errorf("Host %q: %s %s: %+v", host, r.method, r.target, e)
			}
		}
	}
	if n := countBatches(); n != 0 {
		t.Fatalf("%d batches created through another Host", n)
	}
	for i, host := range []string{"127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "[::1]:8080", "127.0.0.1", "localhost"} {
		rec := tb.do(t, req{method: "POST", target: "/v1/batches", body: seed, header: []string{"Host", host, "Authorization", ""}})
		if rec.Code != http.StatusAccepted {
			t.Errorf("Host %q: %d %s", host, rec.Code, rec.Body)
		}
		if n := countBatches(); n != i+1 {
			t.Errorf("Host %q: %d batches, want %d", host, n, i+1)
		}
	}

	// A server with tokens answers whatever the Host: a token is what it checks.
	authed := setup(t, httpapi.Config{})
	if rec := authed.do(t, req{method: "POST", target: "/v1/batches", body: seed, header: []string{"Host", "bulkinvite.internal.example:8080"}}); rec.Code != http.StatusAccepted {
		t.Errorf("a server with tokens, another Host: %d %s", rec.Code, rec.Body)
	}
}
