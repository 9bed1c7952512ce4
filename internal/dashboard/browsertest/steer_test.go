package browsertest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// TestBrowserPauseThenCancel: a person pauses a running batch from its page
// (the vendor gets nothing more of it), then cancels it behind the
// confirmation page, which says how many candidates will not be sent; the
// cancel posted without the page's CSRF token is refused and changes nothing.
func TestBrowserPauseThenCancel(t *testing.T) {
	t.Parallel()
	e := setup(t, pipelinetest.Options{})
	const n = 400
	e.Import("steered", pipelinetest.Candidates("steered", n), nil)
	e.startWorker(t)
	ctx := context.Background()
	tab := e.tab
	tab.signIn("")
	tab.open("/batches/steered")
	tab.waitFor(`document.querySelector('#live-status .state').textContent === 'running'`, time.Minute)
	tab.follow(`#pause-batch`)
	tab.waitFor(`document.querySelector('#live-status .state').textContent === 'paused' && !!document.querySelector('#resume-batch')`, time.Minute)
	time.Sleep(time.Second) // requests in flight at the pause finish
	sent := e.API.Stats().Candidates
	tab.shoot("batch-paused")
	time.Sleep(time.Second)
	if got := e.API.Stats().Candidates; got != sent {
		t.Errorf("the vendor got %d more candidates of the paused batch", got-sent)
	}

	tab.follow(`#cancel-batch`)
	if got := tab.text("#cancel-count"); !strings.Contains(got, "of its 400 candidates have not been sent and will not be") {
		t.Errorf("the confirmation says %q", got)
	}
	tab.shoot("cancel-confirm")
	js := `fetch('/batches/steered/cancel', {method: 'POST', body: new URLSearchParams({})}).then(r => r.status)`
	if got := run(tab, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise)); got != http.StatusForbidden {
		t.Errorf("POST cancel without the CSRF token: %d, want 403", got)
	}
	if b, err := e.Store.Batch(ctx, "steered"); err != nil || b.State() != store.StatePaused {
		t.Fatalf("after the refused cancel: %v %v, want it paused", b.State(), err)
	}
	tab.follow(`#cancel-confirm`)
	tab.waitFor(`document.querySelector('#live-status .state').textContent === 'cancelled'`, time.Minute)
	if got := tab.text(".notice"); !strings.HasPrefix(got, "Batch cancelled:") {
		t.Errorf("after the cancel: notice %q", got)
	}
	if got := eval[int](tab, `document.querySelectorAll('#pause-batch, #resume-batch, #cancel-batch').length`); got != 0 {
		t.Errorf("%d steering controls on the cancelled batch's page, want none", got)
	}
	tab.shoot("batch-cancelled")
	bt := e.WaitDone("steered", time.Minute)
	e.CheckAccounting("steered")
	if bt.State() != store.StateCancelled || bt.Cancelled == 0 || bt.Invited != int64(sent) {
		t.Errorf("status %+v, want cancelled with the %d sent before the pause invited", bt.Status(), sent)
	}
	if got := e.API.Stats().Candidates; got != sent {
		t.Errorf("the vendor got %d candidates after the pause", got-sent)
	}
}
