package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/internal/callback"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
)

// Notifier delivers a batch's callback; *callback.Sender is one.
type Notifier interface {
	Send(ctx context.Context, url, keyID string, e callback.Event) (int, error)
}

// errNoNotifier is recorded for a callback this worker cannot sign.
var errNoNotifier = fmt.Errorf("this worker has no BULKINVITE_CALLBACK_SECRET: %w", callback.ErrNoSecret)

// callbackError is a failed delivery, retried with the callback's own backoff.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return "callback not delivered: " + e.err.Error() }
func (e *callbackError) Unwrap() error { return e.err }

// HandleCallback waits until its batch is done, then POSTs the batch's status to
// its callback_url (package callback), signed with the key the batch names
// (its creating token's, or the global secret), and retries with backoff until the receiver
// answers 2xx or CallbackWindow has passed since the batch finished. Each attempt
// and the outcome are recorded in the batch's status.
func (w *Worker) HandleCallback(ctx context.Context, t *asynq.Task) error {
	cb, err := task.DecodeCallback(t.Payload())
	if err != nil {
		return w.undecodable(ctx, t, err)
	}
	log := w.log.With(zap.String("batch_id", cb.BatchID))
	b, err := w.store.Batch(ctx, cb.BatchID)
	switch {
	case errors.Is(err, store.ErrBatchNotFound), errors.Is(err, store.ErrBatchExpired):
		log.Warn("callback of a batch that is gone: dropped", zap.Error(err))
		return nil
	case err != nil:
		return err
	case b.Callback == nil || b.Callback.State != store.CallbackPending:
		return nil
	case !b.Done():
		return &PauseError{After: w.cfg.CallbackPoll, Why: "waiting for the batch to be done"}
	}
	status, sendErr := 0, errNoNotifier
	if w.notifier != nil {
		status, sendErr = w.notifier.Send(ctx, b.CallbackURL, b.CallbackKey, callback.NewEvent(b.Status()))
	}
	final := sendErr != nil && (errors.Is(sendErr, callback.ErrPrivateTarget) || w.now().Sub(b.FinishedAt) >= w.cfg.CallbackWindow)
	// The status shows a category only; the error, which may name the addresses
	// and ports the delivery met, goes to this log.
	reason := callback.Reason(status, sendErr)
	attempt := store.CallbackAttempt{HTTPStatus: status, Err: sendErr, Reason: reason, Final: final, By: w.by}
	if err := w.persist(ctx, log, "record the callback", func(ctx context.Context) error {
		return w.store.RecordCallback(ctx, b.ID, attempt)
	}); err != nil {
		return err
	}
	switch {
	case sendErr == nil:
		log.Info("callback delivered", zap.String("url", b.Callback.URL), zap.Int("status", status))
		return nil
	case final:
		log.Error("callback given up on", zap.String("url", b.Callback.URL), zap.Int("status", status), zap.String("reason", reason), zap.Error(sendErr))
		return nil
	}
	log.Warn("callback not delivered; will retry", zap.String("url", b.Callback.URL), zap.Int("status", status), zap.String("reason", reason), zap.Error(sendErr))
	return &callbackError{sendErr}
}
