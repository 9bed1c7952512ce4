package ratelimit

import (
	"time"

	"go.uber.org/zap"
)

// adviseAfter is how many 429s in a minute, with a fixed rate, make the limiter
// say that the rate is set above what the API allows.
const adviseAfter = 5

// adviseIfStuck warns, at most every five minutes, when 429s keep coming with a
// fixed rate: the rate is above the vendor's limit, and every 429 stops all workers
// for the Retry-After, so fewer requests get through than the vendor allows.
func (l *Limiter) adviseIfStuck() {
	if l.cfg.Adaptive {
		return
	}
	now := l.now()
	l.mu.Lock()
	keep := l.throttles[:0]
	for _, t := range l.throttles {
		if now.Sub(t) < time.Minute {
			keep = append(keep, t)
		}
	}
	l.throttles = append(keep, now)
	advise := len(l.throttles) >= adviseAfter && !now.Before(l.nextAdvice)
	if advise {
		l.nextAdvice = now.Add(5 * time.Minute)
	}
	n := len(l.throttles)
	l.mu.Unlock()
	if advise {
		l.log.Warn("the API keeps answering 429: BULKINVITE_RATE is above what it allows, and each 429 stops every worker; lower BULKINVITE_RATE or set BULKINVITE_ADAPTIVE=true",
			zap.Int("429s_last_minute", n), zap.Float64("rate", l.cfg.Rate))
	}
}
