package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/bulkinvite/bulkinvite/internal/store"
)

// Steerer pauses, resumes and cancels a batch; *worker.Steering is one.
type Steerer interface {
	PauseBatch(ctx context.Context, id, by string) (*store.Batch, error)
	ResumeBatch(ctx context.Context, id, by string) (*store.Batch, error)
	CancelBatch(ctx context.Context, id, by string) (*store.Batch, int64, error)
}

// pauseBatch is POST /v1/batches/{id}/pause.
func (s *Server) pauseBatch(w http.ResponseWriter, r *http.Request) {
	s.steerBatch(w, r, s.steer.PauseBatch)
}

// resumeBatch is POST /v1/batches/{id}/resume.
func (s *Server) resumeBatch(w http.ResponseWriter, r *http.Request) {
	s.steerBatch(w, r, s.steer.ResumeBatch)
}

// cancelBatch is POST /v1/batches/{id}/cancel: 409 batch_done for a batch that
// is done.
func (s *Server) cancelBatch(w http.ResponseWriter, r *http.Request) {
	s.steerBatch(w, r, func(ctx context.Context, id, by string) (*store.Batch, error) {
		b, _, err := s.steer.CancelBatch(ctx, id, by)
		if errors.Is(err, store.ErrBatchDone) {
			return nil, errorf(http.StatusConflict, CodeBatchDone, "batch "+id+" is done: every candidate has its outcome, there is nothing left to cancel")
		}
		return b, err
	})
}

// steerBatch runs step on the batch the path names, if the caller may act on
// it (as GET /v1/batches/{id}: another owner's batch is a 404), and answers
// 202 with the batch's status. Every step is idempotent.
func (s *Server) steerBatch(w http.ResponseWriter, r *http.Request, step func(ctx context.Context, id, by string) (*store.Batch, error)) {
	b, err := s.visibleBatch(r, r.PathValue("id"))
	if err == nil {
		b, err = step(r.Context(), b.ID, caller(r).Name)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeStatus(w, r, http.StatusAccepted, b)
}
