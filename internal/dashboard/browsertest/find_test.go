package browsertest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TestBrowserFindCandidate: after a real batch was sent, a person types an
// email (in another letter case) into the search box every page has and sees
// the batch that held the candidate, invited, with the invitation and
// submission ids the vendor created, and until when a repeat invite is
// blocked; searches a refused candidate by email and sees the dead letter's
// reason and the vendor's message; and follows the batch's link to its page.
func TestBrowserFindCandidate(t *testing.T) {
	t.Parallel()
	e := setup(t, pipelinetest.Options{})
	tab := e.tab
	tab.signIn("")
	cands := append(pipelinetest.Candidates("team", 6),
		payload.Candidate{Email: "Alex.Morgan@Example.com", Name: "Alex Morgan", ATSCandidateID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"},
		payload.Candidate{Email: "sam+invitation_error@example.com", Name: "Sam Lee"})
	e.Import("spring-hiring", cands, nil)
	e.startWorker(t)
	e.WaitDone("spring-hiring", time.Minute)
	var inv, sub string
	for _, i := range e.API.Invites() {
		if i.Email == "Alex.Morgan@Example.com" {
			inv, sub = i.InvitationID, i.SubmissionID
		}
	}
	if inv == "" {
		t.Fatalf("the sandbox did not invite Alex: %+v", e.API.Invites())
	}

	find := func(q string) {
		t.Helper()
		tab.do(chromedp.SetValue(chromedp.CSS(`form.find input[name=q]`), q))
		tab.follow(`form.find button[type=submit]`)
		if h := tab.text("h1"); h != "Find a candidate" {
			t.Fatalf("searching %q leads to %q", q, h)
		}
	}
	tab.open("/")
	find("alex.morgan@example.com")
	row := tab.text("table.found tbody tr")
	for _, want := range []string{"spring-hiring", "invited", inv, sub, "UTC"} {
		if !strings.Contains(row, want) {
			t.Errorf("Alex's row %q does not show %q", row, want)
		}
	}
	if n := eval[int](tab, `document.querySelectorAll('table.found tbody tr').length`); n != 1 {
		t.Errorf("%d rows for Alex, want 1", n)
	}
	tab.shoot("find-invited")

	find("SAM+invitation_error@example.com")
	row = tab.text("table.found tbody tr")
	if !strings.Contains(row, "dead_lettered") || !strings.Contains(row, "invitation_error invitation could not be created") || !strings.Contains(row, "nothing blocks one") {
		t.Errorf("Sam's row %q, want dead-lettered with the vendor's message and no ledger block", row)
	}
	tab.shoot("find-dead-lettered")

	tab.follow(`table.found a[href="/batches/spring-hiring"]`)
	if p := tab.path(); p != "/batches/spring-hiring" {
		t.Errorf("the batch link leads to %q", p)
	}
}
