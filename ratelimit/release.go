package ratelimit

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// releaseDelay bounds how long a released in-flight lease waits to reach Redis.
// A release is not a round trip of its own: the next step this process asks
// (acquireScript) removes the leases released since, before it counts what is
// in flight; a lease released with no step following within releaseDelay is
// removed by a call of its own (flushReleases). Other processes see a release
// at most releaseDelay late, shorter than their wait before they look again
// while the in-flight cap holds them (5 ms to 100 ms).
const releaseDelay = 20 * time.Millisecond

// releases holds the leases released and not yet removed from Redis.
type releases struct {
	after  time.Duration // releaseDelay; tests lengthen it
	mu     sync.Mutex
	leases []string
	timer  *time.Timer // flushes after the delay; nil when leases is empty
}

// releaseLease returns the idempotent release of lease.
func (l *Limiter) releaseLease(lease string) func() {
	var once sync.Once
	return func() { once.Do(func() { l.release(lease) }) }
}

// release queues leases for the next step, or for flushReleases.
func (l *Limiter) release(leases ...string) {
	r := &l.released
	r.mu.Lock()
	defer r.mu.Unlock()
	r.leases = append(r.leases, leases...)
	if r.timer == nil && len(r.leases) > 0 {
		r.timer = time.AfterFunc(r.after, func() { l.flushReleases(context.Background()) })
	}
}

// takeReleases returns the leases released since the last take, for a step to
// remove (it gives them back with release when the step fails).
func (l *Limiter) takeReleases() []string {
	r := &l.released
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.leases
	r.leases = nil
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	return out
}

// flushReleases removes the released leases from Redis now, in one call bounded
// by RedisTimeout. A lease it cannot remove frees itself after InFlightTTL.
func (l *Limiter) flushReleases(ctx context.Context) {
	leases := l.takeReleases()
	if len(leases) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.RedisTimeout)
	defer cancel()
	a := releaseArgs{limiterKeys: l.keys, leases: leases}
	if err := releaseScript.Run(ctx, l.rdb, a.keys(), a.argv()...).Err(); err != nil {
		l.log.Debug("in-flight slots not released; they expire with their leases",
			zap.Int("slots", len(leases)), zap.Error(err), zap.Duration("lease", l.cfg.InFlightTTL))
	}
}
