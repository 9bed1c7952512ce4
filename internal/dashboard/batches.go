package dashboard

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// Bounds of the batch list.
const (
	batchesPerPage = 50
	// maxBatchesRead bounds the batches one page of the list reads to find
	// those in the state asked for.
	maxBatchesRead = 500
	// rejectsShown bounds the rejects a batch page lists.
	rejectsShown = 100
	// summaryScan bounds the dead letters a batch page reads for its summary by
	// reason, which it reads again at every refresh while the batch runs.
	summaryScan = 2000
)

// states are the states the list filters by.
var states = []string{store.StateQueued, store.StateRunning, store.StatePaused, store.StateDone, store.StateCancelled, store.StateScheduled, store.StateWaitingForWindow}

// listBody is what the batch list shows.
type listBody struct {
	State   string
	States  []string
	Batches []batchView
	Next    string // the next page's URL
	Limiter limiterView
	// Activity is the deployment's, with the pending candidates of the
	// unfinished batches the page read.
	Activity activityView
}

// listPage is GET /?state=&cursor=: batches, newest first.
func (d *Dashboard) listPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	q := r.URL.Query()
	body := listBody{State: q.Get("state"), States: states}
	if body.State != "" && !slices.Contains(states, body.State) {
		d.errorPage(w, r, http.StatusBadRequest, "Unknown state: pick "+strings.Join(states, ", ")+".")
		return
	}
	cursor, read := q.Get("cursor"), 0
	active, pending := false, int64(0)
	for len(body.Batches) < batchesPerPage && read < maxBatchesRead {
		ids, next, err := d.indexPage(ctx, s, cursor)
		if errors.Is(err, store.ErrBadCursor) {
			d.errorPage(w, r, http.StatusBadRequest, "That page of the list does not exist.")
			return
		}
		if err != nil {
			d.fail(w, r, err)
			return
		}
		for _, id := range ids {
			read++
			b, err := d.store.Batch(ctx, id)
			switch {
			case errors.Is(err, store.ErrBatchExpired), errors.Is(err, store.ErrBatchNotFound):
				continue
			case err != nil:
				d.fail(w, r, err)
				return
			}
			st := b.Status()
			if st.State != store.StateDone {
				pending += st.Pending
			}
			if body.State != "" && st.State != body.State {
				continue
			}
			v := d.view(st)
			active = active || v.Running
			body.Batches = append(body.Batches, v)
		}
		cursor = next
		if cursor == "" {
			break
		}
	}
	if cursor != "" {
		body.Next = "/?cursor=" + cursor
		if body.State != "" {
			body.Next += "&state=" + body.State
		}
	}
	body.Limiter = d.limiterView(ctx)
	body.Activity = d.activityView(ctx, "", pending)
	p, err := d.common(ctx, r, s, "Batches", active, body)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	d.render(w, r, http.StatusOK, "list.html", p)
}

// batchBody is what a batch's page shows.
type batchBody struct {
	View        batchView
	Source      string
	Callback    *store.CallbackState
	Dead        deadLetterSummary
	Rejects     []store.Reject
	MoreRejects int64
	Activity    activityView
	// Events are who did what to the batch, oldest first (store.Events).
	Events []store.Event
}

// batchPage is GET /batches/{id}: its status, dead letters by reason, events,
// rejects.
func (d *Dashboard) batchPage(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := d.batchID(w, r, s)
	if !ok {
		return
	}
	ctx := r.Context()
	b, status, msg, err := d.batch(ctx, id)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	if b == nil {
		d.errorPage(w, r, status, msg)
		return
	}
	body := batchBody{View: d.view(b.Status()), Source: b.Source, Callback: b.Callback}
	body.Activity = d.activityView(ctx, id, body.View.Pending)
	if body.Dead, err = d.deadLetters(ctx, id, "", "", 0, min(summaryScan, d.cfg.MaxScan)); err != nil {
		d.fail(w, r, err)
		return
	}
	if body.Events, err = d.store.Events(ctx, id); err != nil {
		d.fail(w, r, err)
		return
	}
	if b.Rejected > 0 {
		if body.Rejects, err = d.store.Rejects(ctx, id, rejectsShown); err != nil {
			d.fail(w, r, err)
			return
		}
		body.MoreRejects = b.Rejected - int64(len(body.Rejects))
	}
	p, err := d.common(ctx, r, s, "Batch "+id, body.View.Running, body)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	d.render(w, r, http.StatusOK, "batch.html", p)
}

// indexPage reads a page of the batch index: every batch for an admin, the
// token's own for another (store.OwnedBatchPage).
func (d *Dashboard) indexPage(ctx context.Context, s *session, cursor string) ([]string, string, error) {
	if s.Who.Has(auth.Admin) {
		return d.store.BatchPage(ctx, cursor, batchesPerPage)
	}
	return d.store.OwnedBatchPage(ctx, s.Who.Name, cursor, batchesPerPage)
}
