package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest/observer"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/dashboard"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/payload"
)

// Named tokens of one scope each.
const (
	readerSecret   = "dash-reader-secret-0c7e2a9f4b1d8e36"
	operatorSecret = "dash-operator-secret-5a1c9e3f7b2d0e84"
	submitSecret   = "dash-submit-secret-9e4b2d7a1c0f6e35"
)

// TestDashboardScopes: the dashboard signs in with named tokens and respects
// their scopes: a read token sees the pages but no replay, purge or resume
// button, and those routes answer it 403; an operate token replays but cannot
// resume; a submit token sees no page. The header and the log name the token.
func TestDashboardScopes(t *testing.T) {
	t.Parallel()
	toks, err := auth.ParseEnv("reader:read:" + readerSecret + ",operator:read+operate:" + operatorSecret + ",ingest:submit:" + submitSecret)
	if err != nil {
		t.Fatal(err)
	}
	tb := setup(t, dashboard.Config{AuthTokens: toks})
	// Each token sees its own batch: sc is the reader's, op the operator's.
	for id, owner := range map[string]string{"sc": "reader", "op": "operator"} {
		cands := pipelinetest.Candidates(id, 2)
		tb.importAs(t, id, owner, cands)
		tb.deadLetter(t, id, 0, cands[0], payload.ReasonValidation, "", "")
		tb.deadLetter(t, id, 1, cands[1], payload.ReasonValidation, "", "")
	}
	if err := tb.Store.StopAuth(context.Background(), tb.Key.ID(), tb.Key.Masked(), 401, "API key is invalid"); err != nil {
		t.Fatal(err)
	}

	reader := tb.client()
	csrf := reader.signIn(t, readerSecret)
	for _, p := range []string{"/", "/batches/sc", "/batches/sc/deadletters", "/batches/sc/deadletters.csv"} {
		rec := reader.get(t, p)
		body := rec.Body.String()
		must(t, rec.Code == http.StatusOK, "reader GET %s: %d", p, rec.Code)
		must(t, !strings.Contains(body, "Replay") && !strings.Contains(body, "Purge") && !strings.Contains(body, "Resume sending"),
			"reader GET %s shows an action it may not take:\n%s", p, body)
	}
	must(t, strings.Contains(reader.get(t, "/").Body.String(), "signed in with <code>reader</code>"), "the header does not name the token")
	for _, p := range []string{"/batches/sc/replay", "/batches/sc/purge"} {
		must(t, reader.get(t, p).Code == http.StatusForbidden, "reader GET %s is not 403", p)
	}
	for _, p := range []string{"/batches/sc/replay", "/batches/sc/purge", "/resume"} {
		rec := reader.do(t, http.MethodPost, p, url.Values{"csrf": {csrf}, "reason": {"validation"}})
		must(t, rec.Code == http.StatusForbidden && strings.Contains(rec.Body.String(), "lacks the"), "reader POST %s: %d", p, rec.Code)
	}
	must(t, tb.countDeadLetters(t, "sc") == 2 && tb.resumes.Load() == 0, "a refused action acted")

	op := tb.client()
	csrf = op.signIn(t, operatorSecret)
	page := op.get(t, "/batches/op").Body.String()
	must(t, strings.Contains(page, "Replay all…") && !strings.Contains(page, "Resume sending"), "operator's batch page:\n%s", page)
	must(t, op.do(t, http.MethodPost, "/resume", url.Values{"csrf": {csrf}}).Code == http.StatusForbidden, "operator resumed")
	rec := op.do(t, http.MethodPost, "/batches/op/purge", url.Values{"csrf": {csrf}, "reason": {"validation"}})
	must(t, rec.Code == http.StatusSeeOther && tb.countDeadLetters(t, "op") == 0, "operator purge: %d", rec.Code)

	admin := tb.client()
	admin.signIn(t, token1)
	must(t, strings.Contains(admin.get(t, "/").Body.String(), "Resume sending"), "an admin sees no resume button")

	ingest := tb.client()
	form := ingest.get(t, "/signin")
	ingest.do(t, http.MethodPost, "/signin", url.Values{"csrf": {csrfOf(t, form)}, "token": {submitSecret}, "next": {"/"}})
	must(t, ingest.get(t, "/").Code == http.StatusForbidden, "a submit-only token sees the batches")

	for _, name := range []string{"reader", "operator", "ingest"} {
		must(t, tb.logs.FilterMessage("dashboard sign-in").FilterFieldKey("token").Filter(func(e observer.LoggedEntry) bool {
			return e.ContextMap()["token"] == name
		}).Len() == 1, "no sign-in line names %s", name)
	}
	must(t, tb.logs.FilterMessage("dashboard purge").Filter(func(e observer.LoggedEntry) bool { return e.ContextMap()["token"] == "operator" }).Len() == 1,
		"the purge line does not name the operator")
	for _, e := range tb.logs.All() {
		for _, s := range []string{readerSecret, operatorSecret, submitSecret} {
			for _, v := range e.ContextMap() {
				if str, ok := v.(string); ok && strings.Contains(str, s) {
					t.Errorf("a secret was logged: %v", e.ContextMap())
				}
			}
		}
	}
}

// TestDashboardIsolation: a token without admin sees its own batches only: the
// list leaves out another owner's, and every page of one (status, dead letters,
// CSV export, replay and purge, forms and actions) is a 404 that acts on
// nothing; the admin sees both.
func TestDashboardIsolation(t *testing.T) {
	t.Parallel()
	const aliceSecret, bobSecret, rootSecret = "dash-alice-secret-3b8e1f0a9c2d7e45", "dash-bob-secret-6d0a4c8e2f1b9e73a", "dash-root-secret-8f2c6a0e4b1d9e57"
	toks, err := auth.ParseEnv("alice:read+operate:" + aliceSecret + ",bob:read+operate:" + bobSecret + ",root:admin:" + rootSecret)
	if err != nil {
		t.Fatal(err)
	}
	tb := setup(t, dashboard.Config{AuthTokens: toks})
	for id, owner := range map[string]string{"alice-batch": "alice", "bob-batch": "bob"} {
		cands := pipelinetest.Candidates(id, 2)
		tb.importAs(t, id, owner, cands)
		tb.deadLetter(t, id, 0, cands[0], payload.ReasonValidation, "", "")
		tb.deadLetter(t, id, 1, cands[1], payload.ReasonTargetNotFound, "", "")
	}
	bob := tb.client()
	csrf := bob.signIn(t, bobSecret)
	list := bob.get(t, "/").Body.String()
	must(t, strings.Contains(list, "bob-batch") && !strings.Contains(list, "alice-batch"), "bob's list:\n%s", list)
	for _, p := range []string{"/batches/alice-batch", "/batches/alice-batch/deadletters", "/batches/alice-batch/deadletters.csv",
		"/batches/alice-batch/replay", "/batches/alice-batch/purge", "/batches/alice-batch/deadletters?reason=validation"} {
		rec := bob.get(t, p)
		must(t, rec.Code == http.StatusNotFound && !strings.Contains(rec.Body.String(), "alice-batch-0@"), "bob GET %s: %d\n%s", p, rec.Code, rec.Body)
	}
	for _, p := range []string{"/batches/alice-batch/replay", "/batches/alice-batch/purge"} {
		rec := bob.do(t, http.MethodPost, p, url.Values{"csrf": {csrf}, "reason": {""}})
		must(t, rec.Code == http.StatusNotFound, "bob POST %s: %d", p, rec.Code)
	}
	must(t, tb.countDeadLetters(t, "alice-batch") == 2, "bob's actions reached alice's dead letters")
	must(t, bob.get(t, "/batches/bob-batch/deadletters.csv").Code == http.StatusOK, "bob cannot export his own")

	root := tb.client()
	root.signIn(t, rootSecret)
	list = root.get(t, "/").Body.String()
	must(t, strings.Contains(list, "bob-batch") && strings.Contains(list, "alice-batch"), "root's list:\n%s", list)
	for _, p := range []string{"/batches/alice-batch", "/batches/bob-batch/deadletters", "/batches/alice-batch/deadletters.csv", "/batches/bob-batch/purge"} {
		must(t, root.get(t, p).Code == http.StatusOK, "root GET %s", p)
	}
}
