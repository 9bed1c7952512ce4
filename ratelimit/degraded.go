package ratelimit

import (
	"context"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/sleep"
	"go.uber.org/zap"
)

// While a process cannot reach Redis it grants nothing: a grant is a request
// the shared limiter charged, and nothing else is. The process goes on asking,
// one caller at a time as always, with a pause between attempts that doubles
// from retryMin up to retryMax, so that a Redis that refuses is not hammered
// and a passing slow call costs little.
const (
	retryMin = 50 * time.Millisecond
	retryMax = time.Second
)

// healthy records a successful Redis reply: the process is no longer degraded,
// follows the effective rate and remembers how many processes share the key.
func (l *Limiter) healthy(eff float64, procs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.degraded {
		l.degraded = false
		l.retryWait = 0
		l.log.Info("shared rate limit reachable again; this process sends again",
			zap.Duration("unreachable_for", l.now().Sub(l.degradedSince)))
	}
	if procs > 0 {
		l.procs = procs
	}
	l.followRateLocked(eff)
}

// degrade records a Redis call that failed or took longer than RedisTimeout:
// the process sends nothing until a call succeeds, and the next attempt waits
// the pause in force, doubled.
func (l *Limiter) degrade(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.retryWait = min(max(2*l.retryWait, retryMin), retryMax)
	l.nextTry = now.Add(l.retryWait)
	if l.degraded {
		return
	}
	l.degraded = true
	l.degradedSince = now
	l.log.Warn("shared rate limit unreachable; this process sends nothing until it is reachable again, so that all workers together stay within the rate",
		zap.Error(err), zap.Duration("redis_timeout", l.cfg.RedisTimeout))
}

// waitRetry waits, while the process is degraded, until its next attempt to
// reach Redis is due, or until ctx ends.
func (l *Limiter) waitRetry(ctx context.Context) error {
	l.mu.Lock()
	var d time.Duration
	if l.degraded {
		d = l.nextTry.Sub(l.now())
	}
	l.mu.Unlock()
	return sleep.For(ctx, d)
}
