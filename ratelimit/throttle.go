package ratelimit

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Throttled records a 429 from the API. It sets the shared cool-down to
// retryAfter (DefaultRetryAfter if retryAfter <= 0, capped at
// Config.MaxCooldown): no worker's Acquire returns before it ends, and after it
// requests resume one at a time at the steady rate, without a burst. In adaptive
// mode it also lowers the effective rate of every worker. This process honours
// the cool-down even when Redis cannot be reached; the error then says that the
// other processes were not told.
func (l *Limiter) Throttled(ctx context.Context, retryAfter time.Duration) error {
	cd := l.cfg.cooldown(retryAfter)
	l.noteCooldown(cd)
	l.adviseIfStuck()
	ctx, cancel := context.WithTimeout(ctx, l.cfg.RedisTimeout)
	defer cancel()
	cdMillis := int64((cd + time.Millisecond - 1) / time.Millisecond)
	a := throttleArgs{limiterKeys: l.keys, cooldownMS: cdMillis, rate: l.cfg.Rate, burst: l.cfg.Burst,
		adaptive: l.adaptiveArg(), decrease: l.cfg.AdaptiveDecrease, minRate: l.cfg.AdaptiveMin,
		intervalMS: l.cfg.AdaptiveInterval.Milliseconds(), adaptiveTTLMS: adaptiveTTL.Milliseconds(),
		released: l.takeReleases()}
	vals, err := throttleScript.Run(ctx, l.rdb, a.keys(), a.argv()...).Slice()
	if err != nil {
		l.release(a.released...)
		return fmt.Errorf("ratelimit: share the cool-down of a 429 (this process honours it alone): %w", err)
	}
	if len(vals) != 3 {
		return fmt.Errorf("ratelimit: share the cool-down: unexpected reply %v", vals)
	}
	inForce, _ := vals[0].(int64)
	effStr, _ := vals[1].(string)
	lowered, _ := vals[2].(int64)
	l.followRate(effStr)
	l.noteCooldown(time.Duration(inForce) * time.Millisecond)
	if lowered == 1 {
		l.log.Info("API rate limited us; every worker lowers its rate",
			zap.Duration("cooldown", time.Duration(inForce)*time.Millisecond), zap.String("effective_rate", effStr))
	} else {
		l.log.Debug("API rate limited us; every worker cools down",
			zap.Duration("cooldown", time.Duration(inForce)*time.Millisecond))
	}
	return nil
}
