package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/internal/deadletter"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

// confirmBody is what the replay and purge confirmation pages show.
type confirmBody struct {
	BatchID string
	Reason  string
	// Count is how many dead letters the action would take.
	Count  int
	Target payload.Target
	Errors []string
}

// matching returns the ids of the batch's dead letters of reason ("" any).
func (d *Dashboard) matching(ctx context.Context, batchID, reason string) ([]string, error) {
	var ids []string
	err := d.store.DeadLetters(ctx, store.Filter{BatchID: batchID, Reason: payload.Reason(reason)}, func(dl *store.DeadLetter) error {
		ids = append(ids, dl.ID)
		return nil
	})
	return ids, err
}

// confirm renders a confirmation page (page) for the batch's dead letters of the
// reason its query or form names.
func (d *Dashboard) confirm(w http.ResponseWriter, r *http.Request, s *session, page, title, reason string, status int, body confirmBody) {
	id, ok := d.batchID(w, r, s)
	if !ok || !d.dlFilter(w, r, reason) {
		return
	}
	ctx := r.Context()
	ids, err := d.matching(ctx, id, reason)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	body.BatchID, body.Reason, body.Count = id, reason, len(ids)
	p, err := d.common(ctx, r, s, title, false, body)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	p.Refresh = 0 // a form being filled in is not refreshed
	d.render(w, r, status, page, p)
}

// replayConfirm is GET /batches/{id}/replay?reason=: what a replay would take,
// and the form to send them, optionally to a corrected target.
func (d *Dashboard) replayConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	d.confirm(w, r, s, "replay.html", "Replay dead letters", r.URL.Query().Get("reason"), http.StatusOK, confirmBody{})
}

// replayPost is POST /batches/{id}/replay (reason, interview_set, project,
// job_post): the dead letters move into a new batch (one per target and
// message), which the browser is sent to.
func (d *Dashboard) replayPost(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := d.batchID(w, r, s)
	reason := r.PostForm.Get("reason")
	if !ok || !d.dlFilter(w, r, reason) {
		return
	}
	target := payload.Target{
		InterviewSetID: strings.TrimSpace(r.PostForm.Get("interview_set")),
		ProjectID:      strings.TrimSpace(r.PostForm.Get("project")),
		JobPostID:      strings.TrimSpace(r.PostForm.Get("job_post")),
	}
	if !target.IsZero() {
		if err := target.Validate(); err != nil {
			d.confirm(w, r, s, "replay.html", "Replay dead letters", reason, http.StatusBadRequest,
				confirmBody{Target: target, Errors: strings.Split(err.Error(), "; ")})
			return
		}
	}
	// A replay moves entries under a lease: let it finish if the browser leaves.
	res, err := d.replay.Replay(context.WithoutCancel(r.Context()), deadletter.Options{
		Filter: store.Filter{BatchID: id, Reason: payload.Reason(reason)}, Target: target, By: s.Who.Name})
	if errors.Is(err, producer.ErrUsage) {
		d.confirm(w, r, s, "replay.html", "Replay dead letters", reason, http.StatusBadRequest,
			confirmBody{Target: target, Errors: []string{err.Error()}})
		return
	}
	if err != nil {
		d.fail(w, r, err)
		return
	}
	d.log.Info("dashboard replay", zap.String("token", s.Who.Name), zap.String("batch", id), zap.String("reason", reason),
		zap.Int("replayed", res.Replayed), zap.Strings("batches", res.Batches))
	to := batchURL(id)
	if len(res.Batches) == 1 {
		to = batchURL(res.Batches[0])
	}
	http.Redirect(w, r, to+"?replayed="+strconv.Itoa(res.Replayed), http.StatusSeeOther)
}

// purgeConfirm is GET /batches/{id}/purge?reason=: what a purge would delete.
func (d *Dashboard) purgeConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	d.confirm(w, r, s, "purge.html", "Purge dead letters", r.URL.Query().Get("reason"), http.StatusOK, confirmBody{})
}

// purgePost is POST /batches/{id}/purge (reason): the dead letters are deleted
// for good.
func (d *Dashboard) purgePost(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := d.batchID(w, r, s)
	reason := r.PostForm.Get("reason")
	if !ok || !d.dlFilter(w, r, reason) {
		return
	}
	ctx := context.WithoutCancel(r.Context())
	ids, err := d.matching(ctx, id, reason)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	n, err := d.store.PurgeDeadLetters(ctx, ids, s.Who.Name)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	d.log.Info("dashboard purge", zap.String("token", s.Who.Name), zap.String("batch", id), zap.String("reason", reason), zap.Int("purged", n))
	http.Redirect(w, r, batchURL(id)+"?purged="+strconv.Itoa(n), http.StatusSeeOther)
}

// resumePost is POST /resume (next): every auth stop is cleared, as `bulkinvite
// resume` does, and the browser goes back to the page it came from.
func (d *Dashboard) resumePost(w http.ResponseWriter, r *http.Request, s *session) {
	stops, err := d.resume(context.WithoutCancel(r.Context()), s.Who.Name)
	if err != nil {
		d.fail(w, r, fmt.Errorf("resume: %w", err))
		return
	}
	d.log.Info("dashboard resume", zap.String("token", s.Who.Name), zap.Int("stops", len(stops)))
	next, _ := url.Parse(safeNext(r.PostForm.Get("next")))
	q := next.Query()
	for _, k := range notices {
		q.Del(k)
	}
	q.Set("resumed", strconv.Itoa(len(stops)))
	next.RawQuery = q.Encode()
	http.Redirect(w, r, next.String(), http.StatusSeeOther)
}
