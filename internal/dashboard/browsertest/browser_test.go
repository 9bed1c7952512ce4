package browsertest_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// noScript turns JavaScript off or on in the tab.
func noScript(off bool) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: off})
		return chromedp.Void{}, err
	}
}

// unknownSet is an interview set the sandbox does not know: it answers 404.
const unknownSet = "019c5ea9-dead-7000-8000-000000000404"

// TestBrowserWatchBatchThenReplay: signed in through the form, a person watches
// a real batch go from queued through running to done on its page without
// reloading it, with the counts the store and the vendor have; opens its dead
// letters, grouped with the vendor's message, and searches them; replays the
// dead letters as they are and sees that replay finish with them refused again
// (their attempts adding up); replays the dead letters of another batch (sent to
// an interview set the vendor does not know) to the corrected set and watches
// that replay finish with everyone invited at the vendor; searches with
// JavaScript off; then signs out.
func TestBrowserWatchBatchThenReplay(t *testing.T) {
	t.Parallel()
	e := setup(t, pipelinetest.Options{})
	tab := e.tab
	tab.signIn("signin")

	cands := pipelinetest.Candidates("nightly", 40)
	for i := range 4 {
		cands = append(cands, payload.Candidate{Email: fmt.Sprintf("refused-%d+invitation_error@example.com", i), Name: fmt.Sprintf("Refused %d", i)})
	}
	e.Import("nightly", cands, nil)
	wrong := task.Job{Target: payload.Target{InterviewSetID: unknownSet}}
	e.Import("wrong-set", pipelinetest.Candidates("moved", 6), &wrong)

	// Watch the batch: the page is opened before any worker runs, and never reloaded.
	tab.open("/batches/nightly")
	if s := tab.text("#live-status .state"); s != "queued" {
		t.Fatalf("before the workers: %q", s)
	}
	eval[bool](tab, `window.sameDocument = true`)
	e.startWorker(t)
	seen := map[string]bool{}
	var pcts []string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		st := eval[string](tab, `document.querySelector('#live-status .state').textContent`)
		pct := eval[string](tab, `document.querySelector('#live-status .progress-line strong').textContent`)
		if !seen[st] || (len(pcts) > 0 && pcts[len(pcts)-1] != pct) || len(pcts) == 0 {
			pcts = append(pcts, pct)
		}
		seen[st] = true
		if st == "done" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not show the batch done within a minute; saw %v, %v", seen, pcts)
		}
	}
	t.Logf("the page showed %v on its way to done", pcts)
	if !seen["running"] || !eval[bool](tab, `window.sameDocument === true`) {
		t.Errorf("the page did not show the batch running on the way (saw %v), or was reloaded", seen)
	}
	bt := e.CheckAccounting("nightly")
	if bt.Invited != 40 || bt.DeadLettered != 4 || e.API.Stats().Invites != 40 {
		t.Fatalf("batch %+v, vendor %+v", bt.Status(), e.API.Stats())
	}
	for _, c := range []struct{ row, want string }{{"invited", "40"}, {"dead", "4"}, {"pending", "0"}, {"skipped", "0"}} {
		if got := tab.text("#live-status tr." + c.row + " td"); got != c.want {
			t.Errorf("the page shows %s %q, want %s", c.row, got, c.want)
		}
	}
	if got := tab.text(".progress-line"); !strings.HasPrefix(got, "100% done") || !strings.Contains(got, "time to done: done") {
		t.Errorf("progress line %q", got)
	}
	if got := tab.text("#live-dead table.reasons tbody"); !strings.Contains(got, "invitation_error") ||
		!strings.Contains(got, "4× invitation_error_message: invitation could not be created (sandbox trigger +invitation_error)") {
		t.Errorf("the dead letters by reason: %q", got)
	}
	tab.shoot("batch")

	// Its dead letters, with the vendor's message, searchable.
	tab.follow(`#live-dead a[href="/batches/nightly/deadletters"]`)
	if got := tab.text(".group h2"); got != "invitation_error 4" {
		t.Errorf("group heading %q", got)
	}
	if n := eval[int](tab, `document.querySelectorAll('.group table.entries tbody tr').length`); n != 4 {
		t.Errorf("%d entries listed, want 4", n)
	}
	if got := tab.text(".group table.entries tbody tr"); !strings.Contains(got, "refused-0+invitation_error@example.com") ||
		!strings.Contains(got, "invitation_error_message invitation could not be created") {
		t.Errorf("first entry %q", got)
	}
	tab.shoot("deadletters")
	tab.do(chromedp.SendKeys(chromedp.CSS(`form.filter input[name=q]`), "refused-2"))
	tab.follow(`form.filter button[type=submit]`)
	if n := eval[int](tab, `document.querySelectorAll('.group table.entries tbody tr').length`); n != 1 ||
		!strings.Contains(tab.text(".group table.entries tbody"), "refused-2+invitation_error@example.com") {
		t.Errorf("searching refused-2: %d entries", n)
	}
	if href := eval[string](tab, `document.querySelector('a.button').getAttribute('href')`); href != "/batches/nightly/deadletters.csv?q=refused-2" {
		t.Errorf("the CSV link %q does not carry the search", href)
	}

	// Replay them as they are: the vendor refuses them again, and the replay
	// batch finishes with their attempt history.
	tab.open("/batches/nightly")
	tab.follow(`#live-dead a[href="/batches/nightly/replay?reason=invitation_error"]`)
	tab.follow(`form.confirm button[type=submit]`)
	again, ok := strings.CutSuffix(strings.TrimPrefix(tab.path(), "/batches/"), "?replayed=4")
	if !ok {
		t.Fatalf("after replaying nightly's dead letters the browser is at %q", tab.path())
	}
	tab.waitFor(`document.querySelector('#live-status .state').textContent === 'done'`, time.Minute)
	if got := tab.text("#live-status tr.dead td"); got != "4" {
		t.Errorf("the replay of nightly shows %q dead-lettered, want 4", got)
	}
	for _, d := range e.DeadLetters(again) {
		if d.Attempts != 2 || d.ReplayedFrom == "" {
			t.Errorf("replayed dead letter %s: %d attempts, from %q", d.ID, d.Attempts, d.ReplayedFrom)
		}
	}
	if n := len(e.DeadLetters("nightly")); n != 0 {
		t.Errorf("nightly still holds %d dead letters after their replay", n)
	}
	// Both batches' timelines tell of it: the replay batch names its source,
	// nightly its creation and the replay, by the signed-in token.
	if got := tab.text("#live-events .timeline li.created"); !strings.Contains(got, "replay of dead letters of batch nightly; 4 accepted, 0 rejected") {
		t.Errorf("the replay batch's timeline starts %q", got)
	}
	tab.open("/batches/nightly")
	if n := eval[int](tab, `document.querySelectorAll('#live-events .timeline li').length`); n != 2 {
		t.Errorf("nightly's timeline has %d events, want created and replayed", n)
	}
	if got := tab.text("#live-events .timeline li.created"); !strings.HasSuffix(got, "44 accepted, 0 rejected") {
		t.Errorf("nightly's created event %q", got)
	}
	if got := tab.text("#live-events .timeline li.replayed"); !strings.Contains(got, "by "+auth.BareName(token)) || !strings.HasSuffix(got, "replayed 4 dead letters into batch "+again) {
		t.Errorf("nightly's replayed event %q", got)
	}
	tab.shoot("batch-events")

	// Replay the other batch's dead letters to the corrected interview set.
	tab.open("/batches/wrong-set")
	tab.waitFor(`document.querySelector('#live-status .state').textContent === 'done'`, time.Minute)
	tab.follow(`a[href="/batches/wrong-set/replay?reason=target_not_found"]`)
	if got := tab.text("main p:nth-of-type(2)"); !strings.Contains(got, "This moves 6 dead letter(s) of batch wrong-set with reason target_not_found") {
		t.Errorf("replay confirmation says %q", got)
	}
	tab.do(chromedp.SendKeys(chromedp.CSS(`input[name=interview_set]`), sandbox.DemoInterviewSetID))
	tab.shoot("replay-confirm")
	tab.follow(`form.confirm button[type=submit]`)
	path := tab.path()
	replayID, ok := strings.CutSuffix(strings.TrimPrefix(path, "/batches/"), "?replayed=6")
	if !ok || !strings.HasPrefix(path, "/batches/") {
		t.Fatalf("after the replay the browser is at %q", path)
	}
	if got := tab.text(".notice"); got != "6 dead letters replayed." {
		t.Errorf("notice %q", got)
	}
	tab.waitFor(`document.querySelector('#live-status .state').textContent === 'done'`, time.Minute)
	if got := tab.text("#live-status tr.invited td"); got != "6" {
		t.Errorf("the replay batch shows %q invited, want 6", got)
	}
	rb := e.CheckAccounting(replayID)
	if rb.Invited != 6 || len(rb.ReplayOf) != 1 || rb.ReplayOf[0] != "wrong-set" {
		t.Errorf("replay batch %+v", rb.Status())
	}
	for i := range 6 {
		if n := e.API.InviteCount(pipelinetest.Target, "moved-"+strconv.Itoa(i)+"@example.com"); n != 1 {
			t.Errorf("moved-%d invited %d times at the corrected set", i, n)
		}
	}
	if e.API.Stats().DuplicateInvites != 0 {
		t.Errorf("duplicate invites: %+v", e.API.Stats())
	}

	// The list: every batch, newest first, done.
	tab.open("/")
	if n := eval[int](tab, `document.querySelectorAll('table.batches tbody tr').length`); n != 4 {
		t.Errorf("the list shows %d batches, want 4", n)
	}
	if got := tab.text("table.batches tbody tr"); !strings.HasPrefix(got, replayID) {
		t.Errorf("the newest row is %q, want the replay", got)
	}
	tab.shoot("batches")

	// Without JavaScript the pages read and work the same.
	tab.do(noScript(true))
	tab.open("/batches/wrong-set/deadletters")
	if eval[bool](tab, `document.body.classList.contains('js')`) {
		t.Error("the script ran with JavaScript disabled")
	}
	tab.do(chromedp.SendKeys(chromedp.CSS(`form.filter input[name=q]`), "moved-1@"))
	tab.follow(`form.filter button[type=submit]`)
	if p := tab.path(); p != "/batches/wrong-set/deadletters?q=moved-1%40&reason=" {
		t.Errorf("the search form without JavaScript led to %q", p)
	}
	tab.do(noScript(false))

	// Sign out: the session ends, the pages want a sign-in again.
	tab.follow(`form[action="/signout"] button`)
	tab.open("/")
	if p := tab.path(); !strings.HasPrefix(p, "/signin") {
		t.Errorf("after signing out / is %q", p)
	}
	if n := tab.dialogs.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened", n)
	}
}
