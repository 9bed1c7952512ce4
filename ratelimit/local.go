package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/sleep"
	"golang.org/x/time/rate"
)

// Local is a per-process limiter with the Limiter's methods and no Redis: an
// x/time/rate limiter at Config.Rate and Config.Burst, a cool-down, an in-flight
// cap, the candidates-per-minute cap and adaptive mode, all in this process's
// memory. N processes with a Local each send N times the rate: it is the
// measurement's baseline (asynq's wiki example) and the worker's limiter in
// tests and single-process runs without a shared Redis. It is safe for
// concurrent use.
type Local struct {
	cfg Config
	now func() time.Time
	lim *rate.Limiter
	sem chan struct{}

	mu        sync.Mutex
	eff       float64
	coolUntil time.Time
	hold      time.Time // adaptive: no decrease before
	nextIncr  time.Time // adaptive: no increase before
	seen      float64   // adaptive: the vendor's limit as last estimated, 0 before a 429
	streak    int       // adaptive: 429s in a row soon after a decrease
	since     time.Time // adaptive: when sending resumed after the last cool-down (or first began)
	granted   int       // adaptive: requests granted since then
	win       window
}

// NewLocal returns a Local. Zero fields take their defaults; fields that fail
// Config.Validate are treated as zero, so call Validate first to report them.
// Prefix, InFlightTTL and RedisTimeout do not apply.
func NewLocal(cfg Config) *Local {
	cfg = cfg.withDefaults()
	return &Local{
		cfg: cfg,
		now: time.Now,
		lim: rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst),
		sem: make(chan struct{}, cfg.MaxInFlight),
		eff: cfg.Rate,
	}
}

// Acquire waits until this process may send one request carrying candidates
// candidates, as Limiter.Acquire does but for this process alone. release is
// idempotent.
func (l *Local) Acquire(ctx context.Context, candidates int) (release func(), err error) {
	if err := checkCandidates(candidates, l.cfg.CandidatesPerMinute); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	haveToken := false
	for {
		l.mu.Lock()
		now := l.now()
		wait := l.coolUntil.Sub(now)
		if wait <= 0 && haveToken {
			wait = l.win.wait(now, candidates, l.cfg.CandidatesPerMinute)
			if wait <= 0 {
				l.win.add(now, candidates)
				if l.cfg.Adaptive {
					if l.since.IsZero() {
						l.since = now
					}
					l.granted++
				}
				l.mu.Unlock()
				break
			}
		}
		l.mu.Unlock()
		if wait <= 0 && !haveToken {
			if err := reserve(ctx, l.lim, l.now); err != nil {
				return nil, err
			}
			haveToken = true
			continue
		}
		if err := sleep.For(ctx, wait); err != nil {
			return nil, err
		}
	}
	return takeSlot(ctx, l.sem)
}

// Throttled records a 429 for this process: a cool-down of retryAfter
// (DefaultRetryAfter if <= 0, capped at Config.MaxCooldown) and, in adaptive
// mode, a lower rate. It never fails.
func (l *Local) Throttled(_ context.Context, retryAfter time.Duration) error {
	cd := l.cfg.cooldown(retryAfter)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if until := now.Add(cd); until.After(l.coolUntil) {
		l.coolUntil = until
	}
	if !l.cfg.Adaptive {
		return nil
	}
	if !now.Before(l.hold) {
		// ok: the granted requests, less those still in flight and the refused one.
		ok := l.granted - len(l.sem) - 1
		var span time.Duration
		if !l.since.IsZero() {
			span = now.Sub(l.since)
		}
		l.streak = adaptiveStreak(now, l.hold, l.streak, l.cfg)
		l.eff, l.seen = adaptiveDecrease(l.eff, l.streak, ok, span, l.cfg)
		l.lim.SetLimitAt(now, rate.Limit(l.eff))
		l.hold = l.coolUntil.Add(adaptiveHold(l.cfg))
		l.nextIncr = l.hold
	}
	l.since, l.granted = l.coolUntil, 0
	return nil
}

// Succeeded lets adaptive mode climb back by a step of Config.AdaptiveIncrease
// (adaptiveStep: smaller near the vendor's limit as last estimated), at most once
// per Config.AdaptiveInterval, as the shared limiter does.
func (l *Local) Succeeded(context.Context) {
	if !l.cfg.Adaptive {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.eff >= l.cfg.Rate || now.Before(l.nextIncr) {
		return
	}
	l.eff = min(l.cfg.Rate, l.eff+adaptiveStep(l.eff, l.seen, l.cfg.AdaptiveIncrease))
	l.lim.SetLimitAt(now, rate.Limit(l.eff))
	l.nextIncr = now.Add(l.cfg.AdaptiveInterval)
}

// State reports this process's limiter. KeyID is empty and Processes is 1.
func (l *Local) State(context.Context) (State, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	observed, cands := l.win.observed(now, observedWindow)
	st := State{
		Rate:                 l.cfg.Rate,
		Burst:                l.cfg.Burst,
		EffectiveRate:        l.eff,
		ObservedRate:         observed,
		ObservedWindow:       observedWindow * time.Second,
		CandidatesPerMinute:  l.cfg.CandidatesPerMinute,
		CandidatesLastMinute: cands,
		InFlight:             len(l.sem),
		MaxInFlight:          l.cfg.MaxInFlight,
		Processes:            1,
	}
	if d := l.coolUntil.Sub(now); d > 0 {
		st.Cooldown = d
	}
	return st, nil
}
