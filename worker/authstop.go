package worker

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/internal/store"
)

// AuthStopRecheck is how long a worker trusts that sending is not stopped for its
// key before it reads the stop from Redis again. Every chunk looks twice (before
// its claim and after the rate limiter's wait); without this, that is two Redis
// round trips per chunk for an answer that changes once in a long while. A stop
// this worker writes itself is seen at once; one another worker writes, within
// AuthStopRecheck (the requests sent meanwhile are refused by the vendor as well,
// and handled the same way). A stop found is never trusted: it is read again at
// every look, so that `bulkinvite resume` is seen at once.
const AuthStopRecheck = 500 * time.Millisecond

// authStopCache remembers when the key was last found not stopped.
type authStopCache struct {
	mu    sync.Mutex
	clear time.Time // when the key was last read as not stopped; zero: read again
}

// authStop returns the key's auth stop, or nil, reading Redis at most once every
// AuthStopRecheck while there is none.
func (w *Worker) authStop(ctx context.Context) (*store.AuthStop, error) {
	c := &w.authCache
	now := w.now()
	c.mu.Lock()
	fresh := !c.clear.IsZero() && now.Sub(c.clear) < AuthStopRecheck && !now.Before(c.clear)
	c.mu.Unlock()
	if fresh {
		return nil, nil
	}
	stop, err := w.store.AuthStopped(ctx, w.key.ID())
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if stop == nil {
		c.clear = now
	} else {
		c.clear = time.Time{}
	}
	c.mu.Unlock()
	return stop, nil
}

// forgetAuthClear makes the next look read the stop from Redis: this worker has
// just written one.
func (w *Worker) forgetAuthClear() {
	w.authCache.mu.Lock()
	w.authCache.clear = time.Time{}
	w.authCache.mu.Unlock()
}

// pauseQueues pauses the queues this worker serves, after the vendor refused the
// key: every worker stops taking chunks, instead of each chunk waking to find the
// stop. Each queue is recorded first, so that `bulkinvite resume` unpauses it even
// if this process dies in between, and only while the key's stop is still set. A
// resume may land between any two of these steps and unpause nothing yet paused,
// so the stop is read again after the pauses (recording each queue again while it
// holds): a queue whose stop was cleared meanwhile is unpaused. Failures are
// logged: the stop itself still holds every chunk that wakes.
func (w *Worker) pauseQueues(ctx context.Context, log *zap.Logger) {
	var paused []string
	for _, q := range w.queues {
		stopped, err := w.store.PausedForAuth(ctx, w.key.ID(), q)
		if err != nil {
			log.Warn("could not pause the queue for the auth stop", zap.String("queue", q), zap.Error(err))
			continue
		}
		if !stopped {
			break // resumed already: hand back what was paused
		}
		if err := w.pauser.PauseQueue(q); err != nil && !queueStateHolds(err) {
			log.Warn("could not pause the queue for the auth stop", zap.String("queue", q), zap.Error(err))
			continue
		}
		paused = append(paused, q)
	}
	for _, q := range paused {
		stopped, err := w.store.PausedForAuth(ctx, w.key.ID(), q)
		if err != nil {
			// Recorded above: a resume will unpause it.
			log.Warn("could not read the auth stop again after pausing the queue", zap.String("queue", q), zap.Error(err))
			continue
		}
		if stopped {
			continue
		}
		if err := w.pauser.UnpauseQueue(q); err != nil && !queueStateHolds(err) {
			log.Warn("could not unpause the queue after a resume cleared the auth stop", zap.String("queue", q), zap.Error(err))
		}
	}
}

// queueStateHolds reports whether err is asynq refusing to pause a queue that is
// already paused, or to unpause one that is not paused: the queue is already as
// asked, so there is nothing to do. asynq returns these two as plain formatted
// errors ("queue %q is already paused", "queue %q is not paused", from its
// internal rdb package), with no sentinel or code that errors.Is could test, so
// their text is all there is to tell them by. TestQueueStateHolds pins that text
// against a real asynq.Inspector: an asynq upgrade that changes it fails there.
func queueStateHolds(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "already paused") || strings.Contains(msg, "not paused")
}
