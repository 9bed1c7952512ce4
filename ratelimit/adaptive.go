package ratelimit

import (
	"context"
	"math"
	"strconv"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// adaptiveTTL is how long an adaptive rate survives without a 429 or a step.
const adaptiveTTL = time.Hour

// Succeeded reports a request the API accepted, so that adaptive mode can climb
// back. It is cheap: without Adaptive, or at the full rate, it does nothing; else
// it asks Redis at most once per Config.AdaptiveInterval per process. Errors are
// logged at debug level and otherwise ignored.
func (l *Limiter) Succeeded(ctx context.Context) {
	if !l.cfg.Adaptive {
		return
	}
	now := l.now()
	l.mu.Lock()
	if l.eff >= l.cfg.Rate || now.Before(l.nextSucceeded) || l.degraded {
		l.mu.Unlock()
		return
	}
	l.nextSucceeded = now.Add(l.cfg.AdaptiveInterval)
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, l.cfg.RedisTimeout)
	defer cancel()
	a := succeedArgs{limiterKeys: l.keys, rate: l.cfg.Rate, increase: l.cfg.AdaptiveIncrease,
		intervalMS: l.cfg.AdaptiveInterval.Milliseconds(), adaptiveTTLMS: adaptiveTTL.Milliseconds()}
	effStr, err := succeedScript.Run(ctx, l.rdb, a.keys(), a.argv()...).Text()
	if err != nil {
		l.log.Debug("adaptive rate not raised", zap.Error(err))
		return
	}
	l.followRate(effStr)
}

// adaptiveStep is the climb from rate r given seen, the vendor's limit as last
// estimated (0: none): the full increase far below it (under 80%); from there up
// to it, half the distance left (at least a twentieth of the increase, at most the
// whole), so the rate closes in on the limit quickly and then slowly; from it to 5%
// above it a fiftieth of the increase, so the rate crosses the limit rarely and
// gently; beyond that (the vendor's limit rose) the full increase again.
// succeedScript does the same in Redis.
func adaptiveStep(r, seen, increase float64) float64 {
	switch {
	case seen <= 0 || r < 0.8*seen || r >= 1.05*seen:
		return increase
	case r < seen:
		return min(increase, max(increase/20, (seen-r)/2))
	default:
		return increase / 50
	}
}

// adaptiveStreak is the streak a 429 at now makes: 0 when the last decrease ended
// three adaptive intervals ago or more (or there was none); else one more than
// the last (the rate is still well above the vendor's limit). throttleScript does
// the same in Redis.
func adaptiveStreak(now, holdEnd time.Time, streak int, cfg Config) int {
	if holdEnd.IsZero() || !now.Before(holdEnd.Add(3*cfg.AdaptiveInterval)) {
		return 0
	}
	return streak + 1
}

// adaptiveHold is how long after the end of its cool-down a decrease holds: 429s
// until then are of requests sent before it, and lower the rate no further.
func adaptiveHold(cfg Config) time.Duration { return cfg.AdaptiveInterval / 10 }

// adaptiveDecrease is the rate after a 429 that came at rate r, with streak (as
// adaptiveStreak), and what the vendor's limit is taken to be (seen) from now
// on. ok counts the requests the vendor accepted since sending resumed after the
// last cool-down, span how long ago that was. throttleScript does the same in
// Redis.
//
// After a cool-down the vendor's token bucket is full (its Burst, taken to be
// ours: cfg.Burst); the 429 says it is now empty. So ok = Burst + limit*span,
// less under a second's worth of token: the limit is in [lo, lo+1/span] with lo
// = (ok-Burst)/span. When the span is long enough to tell (a tenth of the
// adaptive interval) and ok > Burst:
//
//   - streak 0 (the rate crossed the limit after a long time under it): the rate
//     goes to lo, but by at least 1-(1-AdaptiveDecrease)/5 (2% by default) and at
//     most AdaptiveDecrease;
//   - streak > 0 (the rate is still well above the limit): to lo if that is lower
//     than the multiplicative decrease, but never below half of r unless the
//     multiplicative decrease is.
//
// Otherwise the multiplicative decrease: r times AdaptiveDecrease^(2^streak).
// seen is lo+1/span (at most r, at least the new rate) when lo was used, else r.
// The result is at least AdaptiveMin.
func adaptiveDecrease(r float64, streak, ok int, span time.Duration, cfg Config) (rate, seen float64) {
	mult := r * math.Pow(cfg.AdaptiveDecrease, math.Pow(2, float64(min(streak, 8))))
	rate, seen = mult, r
	if span >= adaptiveHold(cfg) && span > 0 && ok > cfg.Burst {
		lo := float64(ok-cfg.Burst) / span.Seconds()
		hi := float64(ok-cfg.Burst+1) / span.Seconds()
		if streak == 0 {
			rate = min(max(lo, mult), r*(1-(1-cfg.AdaptiveDecrease)/5))
		} else {
			rate = max(min(lo, mult), min(mult, r/2))
		}
		rate = max(rate, cfg.AdaptiveMin)
		return rate, max(rate, min(r, hi))
	}
	return max(rate, cfg.AdaptiveMin), seen
}

// adaptiveArg is Config.Adaptive as the scripts take it.
func (l *Limiter) adaptiveArg() string {
	if l.cfg.Adaptive {
		return "1"
	}
	return "0"
}

// parseRate reads an effective rate from a script's reply: ok only for a positive
// number.
func parseRate(s string) (eff float64, ok bool) {
	eff, err := strconv.ParseFloat(s, 64)
	return eff, err == nil && eff > 0
}

// followRate adopts effStr, the effective rate a script replied, as followRateLocked
// does. A reply that is not a positive number changes nothing.
func (l *Limiter) followRate(effStr string) {
	eff, ok := parseRate(effStr)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.followRateLocked(eff)
}

// followRateLocked makes eff, the shared effective rate as Redis last said, this
// process's: the local stage runs at it from now on. It is the one place the
// effective rate changes, whichever reply brought it (a grant, a 429, a success).
// Called with l.mu held.
func (l *Limiter) followRateLocked(eff float64) {
	if eff != l.eff {
		l.eff = eff
		l.local.SetLimitAt(l.now(), rate.Limit(eff))
	}
}
