package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/dashboard"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// TestPauseResumeCancel: the batch page's Pause and Resume act at once (with
// the form's CSRF secret, never without); Cancel shows how many candidates
// will not be sent and cancels only on the confirmed POST.
func TestPauseResumeCancel(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{})
	tb.Import("steer", pipelinetest.Candidates("steer", 5), nil)
	c := tb.client()
	c.signIn(t, token1)
	state := func() string {
		t.Helper()
		b, err := tb.Store.Batch(context.Background(), "steer")
		if err != nil {
			t.Fatal(err)
		}
		return b.State()
	}

	page := c.get(t, "/batches/steer")
	must(t, strings.Contains(page.Body.String(), `id="pause-batch"`), "no Pause button:\n%s", page.Body)
	csrf := csrfOf(t, page)
	rec := c.do(t, http.MethodPost, "/batches/steer/pause", url.Values{})
	must(t, rec.Code == http.StatusForbidden && state() == store.StateQueued, "a pause without the CSRF secret: %d, state %s", rec.Code, state())
	rec = c.do(t, http.MethodPost, "/batches/steer/pause", url.Values{"csrf": {csrf}})
	must(t, rec.Code == http.StatusSeeOther && state() == store.StatePaused, "pause: %d, state %s", rec.Code, state())
	page = c.get(t, "/batches/steer")
	must(t, strings.Contains(page.Body.String(), `id="resume-batch"`), "a paused batch without a Resume button:\n%s", page.Body)
	rec = c.do(t, http.MethodPost, "/batches/steer/resume", url.Values{"csrf": {csrf}})
	must(t, rec.Code == http.StatusSeeOther && state() == store.StateQueued, "resume: %d, state %s", rec.Code, state())

	confirm := c.get(t, "/batches/steer/cancel")
	must(t, strings.Contains(confirm.Body.String(), "<strong>5 of its 5 candidates</strong> have not been sent"), "cancel confirmation:\n%s", confirm.Body)
	must(t, state() == store.StateQueued, "the confirmation page changed the batch")
	rec = c.do(t, http.MethodPost, "/batches/steer/cancel", url.Values{})
	must(t, rec.Code == http.StatusForbidden && state() == store.StateQueued, "a cancel without the CSRF secret: %d, state %s", rec.Code, state())
	rec = c.do(t, http.MethodPost, "/batches/steer/cancel", url.Values{"csrf": {csrfOf(t, confirm)}})
	must(t, rec.Code == http.StatusSeeOther && rec.Header().Get("Location") == "/batches/steer?cancelled=5", "cancel: %d to %q", rec.Code, rec.Header().Get("Location"))
	must(t, state() == store.StateCancelled, "state %s after the cancel", state())
	page = c.get(t, "/batches/steer?cancelled=5")
	must(t, strings.Contains(page.Body.String(), "5 candidates not yet sent will not be") && !strings.Contains(page.Body.String(), `id="pause-batch"`),
		"the cancelled batch's page:\n%s", page.Body)
	tb.CheckAccounting("steer")
}
