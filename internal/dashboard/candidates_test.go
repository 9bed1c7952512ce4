package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/dashboard"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TestCandidateSearch: /candidates lists the batches that held a person, by
// email in any letter case, with the dead letter's reason and the vendor's
// message as text; a token without admin sees its own batches only; a query
// that names nobody is a 400 that says what to give; every page has the search
// box.
func TestCandidateSearch(t *testing.T) {
	t.Parallel()
	toks, err := auth.ParseEnv("reader:read:" + readerSecret + ",operator:read+operate:" + operatorSecret)
	if err != nil {
		t.Fatal(err)
	}
	tb := setup(t, dashboard.Config{AuthTokens: toks})
	ann := payload.Candidate{Email: "ann@example.com", Name: "Ann"}
	tb.importAs(t, "fs-reader", "reader", []payload.Candidate{ann})
	tb.importAs(t, "fs-operator", "operator", []payload.Candidate{ann})
	tb.deadLetter(t, "fs-reader", 0, ann, payload.ReasonInvitationError, payload.FieldInvitationErrorMessage, `<b>already invited</b>`)

	admin := tb.client()
	admin.signIn(t, token1)
	must(t, strings.Contains(admin.get(t, "/").Body.String(), `action="/candidates"`), "the batch list has no search box")
	page := admin.get(t, "/candidates?q="+url.QueryEscape("ANN@example.com")).Body.String()
	must(t, strings.Contains(page, "2 candidate(s)") && strings.Contains(page, `href="/batches/fs-reader"`) && strings.Contains(page, `href="/batches/fs-operator"`),
		"the admin's search:\n%s", page)
	must(t, strings.Contains(page, "<code>invitation_error</code> &lt;b&gt;already invited&lt;/b&gt;"), "the vendor's message is not shown as text:\n%s", page)

	reader := tb.client()
	reader.signIn(t, readerSecret)
	page = reader.get(t, "/candidates?q=ann@example.com").Body.String()
	must(t, strings.Contains(page, "1 candidate(s)") && !strings.Contains(page, "fs-operator"), "the reader sees another owner's batch:\n%s", page)
	must(t, strings.Contains(reader.get(t, "/candidates?q=nobody@example.com").Body.String(), "No batch kept holds"), "no answer for nobody")
	rec := reader.get(t, "/candidates?q=nobody")
	must(t, rec.Code == http.StatusBadRequest && strings.Contains(rec.Body.String(), "ATS candidate id"), "a bad query: %d", rec.Code)
	must(t, reader.get(t, "/candidates").Code == http.StatusOK, "the empty search page")
}
