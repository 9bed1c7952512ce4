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
	effStr, err := succeedScript.Run(ctx, l.rdb, l.keys[4:5],
		strconv.FormatFloat(l.cfg.Rate, 'g', -1, 64),
		strconv.FormatFloat(l.cfg.AdaptiveIncrease, 'g', -1, 64),
		l.cfg.AdaptiveInterval.Milliseconds(), adaptiveTTL.Milliseconds()).Text()
	if err != nil {
		l.log.Debug("adaptive rate not raised", zap.Error(err))
		return
	}
	l.followRate(effStr)
}

// adaptiveStep is the climb from rate r given the rate of the last 429 (0: none):
// the full increase, or a twentieth of it from 80% of that rate to 5% above it.
// succeedScript does the same in Redis.
func adaptiveStep(r, seen, increase float64) float64 {
	if seen > 0 && r >= 0.8*seen && r < 1.05*seen {
		return increase / 20
	}
	return increase
}

// adaptiveFactor is the decrease on a 429 and the streak it makes: the configured
// factor when the last decrease ended three adaptive intervals ago or more (streak
// 0); otherwise the rate is still well above the vendor's limit, and each 429 in a
// row squares the factor again (streak n: factor^(2^n)). throttleScript does the
// same in Redis.
func adaptiveFactor(now, holdEnd time.Time, streak int, cfg Config) (float64, int) {
	if holdEnd.IsZero() || !now.Before(holdEnd.Add(3*cfg.AdaptiveInterval)) {
		return cfg.AdaptiveDecrease, 0
	}
	streak++
	return math.Pow(cfg.AdaptiveDecrease, math.Pow(2, float64(min(streak, 8)))), streak
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
