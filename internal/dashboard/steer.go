package dashboard

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/internal/store"
)

// cancelBody is what the cancel confirmation page shows.
type cancelBody struct {
	BatchID string
	State   string
	// Unsent is how many candidates the cancel would leave unsent.
	Unsent   int64
	Accepted int64
	Sealed   bool
}

// pausePost is POST /batches/{id}/pause: the batch is paused, and the browser
// goes back to its page.
func (d *Dashboard) pausePost(w http.ResponseWriter, r *http.Request, s *session) {
	d.steerPost(w, r, s, "pause", d.steer.PauseBatch)
}

// resumeBatchPost is POST /batches/{id}/resume.
func (d *Dashboard) resumeBatchPost(w http.ResponseWriter, r *http.Request, s *session) {
	d.steerPost(w, r, s, "resume", d.steer.ResumeBatch)
}

// steerPost runs step on the batch of the path, logs it, and sends the browser
// back to the batch's page.
func (d *Dashboard) steerPost(w http.ResponseWriter, r *http.Request, s *session, what string, step func(ctx context.Context, id, by string) (*store.Batch, error)) {
	id, ok := d.batchID(w, r, s)
	if !ok {
		return
	}
	b, err := step(context.WithoutCancel(r.Context()), id, s.Who.Name)
	if err != nil {
		d.steerFailed(w, r, id, err)
		return
	}
	d.log.Info("dashboard "+what, zap.String("token", s.Who.Name), zap.String("batch", id), zap.String("state", b.State()))
	http.Redirect(w, r, batchURL(id), http.StatusSeeOther)
}

// cancelConfirm is GET /batches/{id}/cancel: how many candidates a cancel would
// leave unsent, and the form to cancel.
func (d *Dashboard) cancelConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := d.batchID(w, r, s)
	if !ok {
		return
	}
	ctx := r.Context()
	b, status, msg, err := d.batch(ctx, id)
	if err == nil && b == nil {
		d.errorPage(w, r, status, msg)
		return
	}
	body := cancelBody{BatchID: id}
	if err == nil {
		body.State, body.Accepted, body.Sealed = b.State(), b.Accepted, b.Sealed
		body.Unsent, err = d.store.Unsent(ctx, b)
	}
	if err != nil {
		d.fail(w, r, err)
		return
	}
	p, err := d.common(ctx, r, s, "Cancel batch "+id, false, body)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	p.Refresh = 0 // a confirmation is not refreshed under the person's hand
	d.render(w, r, http.StatusOK, "cancel.html", p)
}

// cancelPost is POST /batches/{id}/cancel: every candidate not yet sent ends
// cancelled; the browser goes back to the batch's page, which says how many.
func (d *Dashboard) cancelPost(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := d.batchID(w, r, s)
	if !ok {
		return
	}
	_, n, err := d.steer.CancelBatch(context.WithoutCancel(r.Context()), id, s.Who.Name)
	if err != nil {
		d.steerFailed(w, r, id, err)
		return
	}
	d.log.Info("dashboard cancel", zap.String("token", s.Who.Name), zap.String("batch", id), zap.Int64("cancelled", n))
	http.Redirect(w, r, batchURL(id)+"?cancelled="+strconv.FormatInt(n, 10), http.StatusSeeOther)
}

// steerFailed answers a steering step's error: a page saying the batch is done,
// unknown or expired, or a 500.
func (d *Dashboard) steerFailed(w http.ResponseWriter, r *http.Request, id string, err error) {
	switch {
	case errors.Is(err, store.ErrBatchDone):
		d.errorPage(w, r, http.StatusConflict, "Batch "+id+" is done: every candidate has its outcome, there is nothing left to cancel.")
	case errors.Is(err, store.ErrBatchNotFound), errors.Is(err, store.ErrBatchExpired):
		_, status, msg, _ := d.batch(r.Context(), id)
		d.errorPage(w, r, status, msg)
	default:
		d.fail(w, r, err)
	}
}
