package ratelimit

import (
	"context"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// probeEvery is how often a process on its fallback tries Redis again.
const probeEvery = time.Second

// fallback is the local limiter that stands in for Redis while it is unreachable.
type fallback struct {
	share float64
	rate  float64
	lim   *rate.Limiter
	sem   chan struct{}
	cap   int // candidates per minute, 0 none
	win   window
}

// healthy records a successful Redis reply: leaves the fallback, follows the
// effective rate, remembers how many processes share the key.
func (l *Limiter) healthy(eff float64, procs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.degraded {
		l.degraded = false
		l.fb = nil
		l.log.Info("shared rate limit reachable again; leaving the local fallback")
	}
	if procs > 0 {
		l.procs = procs
	}
	l.followRateLocked(eff)
}

// degrade puts this process on its local fallback after a failed Redis call.
func (l *Limiter) degrade(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.nextProbe = now.Add(probeEvery)
	if l.degraded {
		return
	}
	l.degraded = true
	share := l.fallbackShareLocked()
	fb := &fallback{
		share: share,
		rate:  l.eff * share,
		sem:   make(chan struct{}, max(1, int(float64(l.cfg.MaxInFlight)*share))),
	}
	fb.lim = rate.NewLimiter(rate.Limit(fb.rate), 1)
	if l.cfg.CandidatesPerMinute > 0 {
		fb.cap = max(1, int(float64(l.cfg.CandidatesPerMinute)*share))
	}
	l.fb = fb
	l.log.Warn("shared rate limit unreachable; this process falls back to a local share of the rate",
		zap.Error(err), zap.Float64("fallback_rate", fb.rate), zap.Float64("share", share),
		zap.Int("fallback_max_in_flight", cap(fb.sem)))
}

func (l *Limiter) fallbackShareLocked() float64 {
	switch {
	case l.cfg.FallbackShare > 0:
		return l.cfg.FallbackShare
	case l.procs > 0:
		return 1 / float64(l.procs)
	default:
		return 1.0 / DefaultFallbackProcesses
	}
}

// route says whether Acquire should use the fallback: yes while degraded, except
// for one caller per probeEvery, which probes Redis (the others stay on the
// fallback meanwhile, so a Redis that hangs rather than refuses slows nobody).
func (l *Limiter) route() (fallback, probe bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.degraded {
		return false, false
	}
	now := l.now()
	if now.Before(l.nextProbe) {
		return true, false
	}
	l.nextProbe = now.Add(probeEvery)
	return false, true
}

func (l *Limiter) isDegraded() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.degraded
}

func (l *Limiter) acquireFallback(ctx context.Context, candidates int) (func(), error) {
	l.mu.Lock()
	fb := l.fb
	l.mu.Unlock()
	if fb == nil { // Redis came back in between
		return l.Acquire(ctx, candidates)
	}
	if err := l.waitCooldown(ctx); err != nil {
		return nil, err
	}
	if err := reserve(ctx, fb.lim, l.now); err != nil {
		return nil, err
	}
	for {
		l.mu.Lock()
		now := l.now()
		w := fb.win.wait(now, candidates, fb.cap)
		if w == 0 {
			fb.win.add(now, candidates)
		}
		l.mu.Unlock()
		if w == 0 {
			break
		}
		if err := sleepCtx(ctx, w); err != nil {
			return nil, err
		}
	}
	return takeSlot(ctx, fb.sem)
}
