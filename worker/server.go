package worker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
)

// IsFailure tells asynq which errors spend an attempt: not a pause (429 cool-down,
// auth stop) and not an interruption by shutdown.
func IsFailure(err error) bool {
	var p *PauseError
	if errors.As(err, &p) || errors.Is(err, context.Canceled) {
		return false
	}
	return true
}

// RetryDelay is the asynq RetryDelayFunc for Config: a pause waits as long as it
// says; a failure backs off exponentially from RetryMin to RetryMax with jitter, and
// no less than a Retry-After the vendor sent (capped at RetryMax).
func (c Config) RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	c = c.withDefaults()
	var (
		p  *PauseError
		cb *callbackError
	)
	switch {
	case errors.As(err, &p):
		return max(p.After, time.Second)
	case errors.As(err, &cb):
		return Backoff(n, c.CallbackRetryMin, c.CallbackRetryMax, rand.Float64())
	}
	d := Backoff(n, c.RetryMin, c.RetryMax, rand.Float64())
	var tr *flowmingo.TransientError
	if errors.As(err, &tr) && tr.RetryAfter > d {
		d = min(tr.RetryAfter, c.RetryMax)
	}
	return d
}

// Backoff is the delay before retry n (0-based): min*2^n capped at max, then
// jittered into its upper half, never below min. jitter is in [0, 1).
func Backoff(n int, lo, hi time.Duration, jitter float64) time.Duration {
	base := lo
	for i := 0; i < n && base < hi; i++ {
		base *= 2
	}
	base = min(base, hi)
	d := base/2 + time.Duration(jitter*float64(base/2))
	return max(d, lo)
}

// ServeConfig tunes the asynq server.
type ServeConfig struct {
	// Concurrency is chunk handlers run at once by this process. Default 8.
	Concurrency int
	// Queues maps queue names (task.Queues) to weights. Default DefaultQueues().
	// On a Redis Cluster Serve serves every shard of each (task.Sharded), with
	// its queue's weight.
	Queues map[string]int
	// ShutdownTimeout is how long a stopping server waits for in-flight chunks before
	// handing them back to the queue. Default 30s.
	ShutdownTimeout time.Duration
	// TaskCheckInterval is how often an idle server looks for new tasks. Default
	// DefaultTaskCheckInterval (100ms).
	TaskCheckInterval time.Duration
	// DelayedTaskCheckInterval is how often the server moves tasks whose wait is
	// over back to their queue. Default DefaultDelayedTaskCheckInterval (1s).
	DelayedTaskCheckInterval time.Duration
}

// Serve runs the worker's handlers until ctx is done, then stops taking work and
// shuts down gracefully: in-flight chunks finish within ShutdownTimeout or go back to
// the queue.
func (w *Worker) Serve(ctx context.Context, rdb redis.UniversalClient, sc ServeConfig) error {
	if sc.Concurrency <= 0 {
		sc.Concurrency = DefaultConcurrency
	}
	if len(sc.Queues) == 0 {
		sc.Queues = DefaultQueues()
	}
	if sc.ShutdownTimeout <= 0 {
		sc.ShutdownTimeout = DefaultShutdownTimeout
	}
	if sc.TaskCheckInterval <= 0 {
		sc.TaskCheckInterval = DefaultTaskCheckInterval
	}
	if sc.DelayedTaskCheckInterval <= 0 {
		sc.DelayedTaskCheckInterval = DefaultDelayedTaskCheckInterval
	}
	queues := task.ShardWeights(w.sharded, sc.Queues)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              sc.Concurrency,
		Queues:                   queues,
		RetryDelayFunc:           w.cfg.RetryDelay,
		IsFailure:                IsFailure,
		ShutdownTimeout:          sc.ShutdownTimeout,
		TaskCheckInterval:        sc.TaskCheckInterval,
		DelayedTaskCheckInterval: sc.DelayedTaskCheckInterval,
		Logger:                   asynqLogger{w.log.Named("asynq").Sugar()},
		LogLevel:                 asynq.WarnLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			var p *PauseError
			if errors.As(err, &p) {
				return // already logged where it happened
			}
			id, _ := asynq.GetTaskID(ctx)
			w.log.Debug("task error", zap.String("task_id", id), zap.String("type", t.Type()), zap.Error(err))
		}),
	})
	w.queues = slices.Sorted(maps.Keys(queues))
	if err := srv.Start(w.Handler()); err != nil {
		return err
	}
	w.warnAuthStops(ctx)
	w.checkAtMostOnce(ctx)
	w.log.Info("worker started", zap.Int("concurrency", sc.Concurrency), zap.Any("queues", sc.Queues))
	<-ctx.Done()
	w.log.Info("worker stopping: no new work; in-flight chunks finish or go back to the queue", zap.Duration("timeout", sc.ShutdownTimeout))
	srv.Stop()
	srv.Shutdown()
	w.endLife() // handlers asynq gave up on stop retrying their writes
	return nil
}

// QueueUnpauser resumes paused asynq queues; *asynq.Inspector is one.
type QueueUnpauser interface {
	UnpauseQueue(queue string) error
}

// Resume lets every worker send again after an auth stop was fixed: it clears every
// key's stop, unpauses the queues paused for them and writes auth_resumed, by
// by (a token's name, "cli@<host>"), in the log of each batch that recorded
// the stop. It returns the stops it cleared (none when sending was not stopped).
func Resume(ctx context.Context, st *store.Store, u QueueUnpauser, by string) ([]store.AuthStop, error) {
	res, err := st.ResumeAuth(ctx)
	if err != nil {
		return nil, err
	}
	errs := []error{st.RecordAuthResumed(ctx, res.Batches, by)}
	for _, q := range res.Queues {
		if err := u.UnpauseQueue(q); err != nil && !queueStateHolds(err) {
			errs = append(errs, fmt.Errorf("unpause queue %s: %w", q, err))
			break
		}
	}
	return res.Stops, errors.Join(errs...)
}

// warnAuthStops says at start that sending is stopped, for this key or another.
func (w *Worker) warnAuthStops(ctx context.Context) {
	stops, err := w.store.AuthStops(ctx)
	if err != nil {
		w.log.Warn("could not read the auth stops", zap.Error(err))
		return
	}
	for _, s := range stops {
		w.log.Error("SENDING IS STOPPED: the vendor refused an API key and the queues are paused. Fix the key, then run `bulkinvite resume`",
			zap.String("stopped_key", s.Key), zap.Stringer("this_key", w.key), zap.Int("status", s.Status),
			zap.String("message", s.Message), zap.Time("since", s.Since))
	}
}

// asynqLogger adapts zap to asynq's logger.
type asynqLogger struct{ s *zap.SugaredLogger }

func (l asynqLogger) Debug(args ...any) { l.s.Debug(args...) }
func (l asynqLogger) Info(args ...any)  { l.s.Info(args...) }
func (l asynqLogger) Warn(args ...any)  { l.s.Warn(args...) }
func (l asynqLogger) Error(args ...any) { l.s.Error(args...) }
func (l asynqLogger) Fatal(args ...any) { l.s.Fatal(args...) }
