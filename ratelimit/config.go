package ratelimit

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/store"
)

// Defaults for the zero values of Config.
const (
	// DefaultRate is the shared rate, in requests per second, when Config.Rate is 0.
	DefaultRate = 5.0
	// DefaultBurst is the burst when Config.Burst is 0: after an idle spell, this
	// many requests of all workers together may go at once.
	DefaultBurst = 5
	// DefaultMaxCooldown caps a Retry-After when Config.MaxCooldown is 0.
	DefaultMaxCooldown = 5 * time.Minute
	// DefaultRetryAfter is the cool-down of a 429 that carried no usable Retry-After.
	DefaultRetryAfter = time.Second
	// DefaultPrefix starts every Redis key when Config.Prefix is "": the prefix
	// of all our keys.
	DefaultPrefix = store.DefaultPrefix
	// DefaultInFlightTTL is the lease of an in-flight slot when Config.InFlightTTL is 0.
	DefaultInFlightTTL = 60 * time.Second
	// DefaultRedisTimeout bounds one Redis call when Config.RedisTimeout is 0.
	DefaultRedisTimeout = 500 * time.Millisecond
	// DefaultAdaptiveDecrease multiplies the effective rate on a 429 in adaptive mode.
	DefaultAdaptiveDecrease = 0.9
	// DefaultAdaptiveInterval is the adaptive mode's clock when Config.AdaptiveInterval is 0.
	DefaultAdaptiveInterval = time.Second
)

// Config tunes a Limiter or a Local. Every field's zero value means its default;
// Validate rejects values that are out of range, naming the field. Every process
// that shares an API key must use the same Rate, Burst and CandidatesPerMinute:
// the shared state is kept in the units of whoever writes it.
type Config struct {
	// Rate is the number of requests per second to the API for all workers that
	// share the key, together (BULKINVITE_RATE). Default DefaultRate (5).
	Rate float64

	// Burst is how many requests may go back to back, above the steady Rate, after
	// an idle spell (BULKINVITE_BURST). In any window of W seconds all workers
	// together send at most Burst + Rate*W requests. Default 1: requests are evenly
	// spaced, which is the safe choice while the vendor's own burst is unknown.
	Burst int

	// CandidatesPerMinute caps the candidates sent in any 60-second window, for a
	// vendor limit on candidates rather than requests. 0 means no cap. A request
	// with more candidates than the cap is refused with ErrTooManyCandidates.
	CandidatesPerMinute int

	// MaxInFlight caps requests that all workers sharing the key have sent and
	// not yet had a reply to, so slow replies cannot pile up. Default
	// max(4, 2*ceil(Rate)): at full rate a reply may take two seconds before the
	// cap starts to bite.
	MaxInFlight int

	// MaxCooldown caps the cool-down a Retry-After can impose. Default 5m.
	MaxCooldown time.Duration

	// Adaptive turns on the adaptive rate: a 429 lowers the effective rate of
	// every worker (to the vendor's limit as learnt from the requests it accepted
	// since the last cool-down, or by AdaptiveDecrease when there is too little
	// to learn from), down to AdaptiveMin; successes climb back per
	// AdaptiveInterval, up to Rate, in steps of AdaptiveIncrease far below the
	// limit seen last and smaller near it, so that the rate settles just under
	// it and crosses it rarely. The package doc has the rules. For a vendor whose
	// real limit is unknown.
	Adaptive bool

	// AdaptiveDecrease is the factor in (0, 1) applied on a 429 with nothing to
	// learn from (squared for each 429 in a row that follows a decrease closely),
	// and the largest decrease of a 429 after a while under the limit. Default 0.9.
	AdaptiveDecrease float64

	// AdaptiveIncrease is the rate, in requests/s, added back per
	// AdaptiveInterval of successes far below the limit seen last (less near it).
	// Default Rate/40.
	AdaptiveIncrease float64

	// AdaptiveMin is the floor of the effective rate, in requests/s. Default Rate/10.
	AdaptiveMin float64

	// AdaptiveInterval is the adaptive clock: at most one increase per interval
	// (for all workers), and a decrease holds for the cool-down plus a tenth of it.
	// Default 1s.
	AdaptiveInterval time.Duration

	// Prefix starts every Redis key this package writes. Default "bulkinvite:".
	Prefix string

	// InFlightTTL is the lease of an in-flight slot: a slot whose release never
	// came (the worker crashed) frees itself after this long. It must exceed the
	// API client's request timeout, or a slow request loses its slot. Default 60s.
	InFlightTTL time.Duration

	// RedisTimeout bounds each Redis call of the limiter; while calls fail or
	// take longer, this process grants nothing (it keeps trying), and a grant
	// whose reply came is spent at most this long after the shared limiter
	// charged it. Default 500ms.
	RedisTimeout time.Duration
}

// Validate reports the first field that is out of range, by name. Zero values are
// valid: they mean the field's default.
func (c Config) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("ratelimit: Config.%s = %v: %s", field, v, want)
	}
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	switch {
	case !finite(c.Rate) || c.Rate < 0:
		return bad("Rate", c.Rate, "must be a finite number of requests/s >= 0 (0 means the default)")
	case c.Burst < 0:
		return bad("Burst", c.Burst, "must be >= 0 (0 means the default)")
	case c.CandidatesPerMinute < 0:
		return bad("CandidatesPerMinute", c.CandidatesPerMinute, "must be >= 0 (0 means no cap)")
	case c.MaxInFlight < 0:
		return bad("MaxInFlight", c.MaxInFlight, "must be >= 0 (0 means the default)")
	case c.MaxCooldown < 0:
		return bad("MaxCooldown", c.MaxCooldown, "must be >= 0 (0 means the default)")
	case !finite(c.AdaptiveDecrease) || c.AdaptiveDecrease < 0 || c.AdaptiveDecrease >= 1:
		return bad("AdaptiveDecrease", c.AdaptiveDecrease, "must be in (0, 1) (0 means the default)")
	case !finite(c.AdaptiveIncrease) || c.AdaptiveIncrease < 0:
		return bad("AdaptiveIncrease", c.AdaptiveIncrease, "must be >= 0 requests/s (0 means the default)")
	case !finite(c.AdaptiveMin) || c.AdaptiveMin < 0:
		return bad("AdaptiveMin", c.AdaptiveMin, "must be >= 0 requests/s (0 means the default)")
	case c.AdaptiveMin > c.withDefaults().Rate:
		return bad("AdaptiveMin", c.AdaptiveMin, "must not exceed Rate")
	case c.AdaptiveInterval < 0:
		return bad("AdaptiveInterval", c.AdaptiveInterval, "must be >= 0 (0 means the default)")
	case strings.ContainsAny(c.Prefix, "{}"):
		return bad("Prefix", c.Prefix, "must not contain { or }, which this package uses as a Redis Cluster hash tag")
	case c.InFlightTTL < 0 || (c.InFlightTTL > 0 && c.InFlightTTL < time.Millisecond):
		return bad("InFlightTTL", c.InFlightTTL, "must be 0 (the default) or at least 1ms")
	case c.RedisTimeout < 0:
		return bad("RedisTimeout", c.RedisTimeout, "must be >= 0 (0 means the default)")
	}
	return nil
}

// withDefaults fills every zero field with its default. Fields that fail Validate
// are treated as zero.
func (c Config) withDefaults() Config {
	if !(c.Rate > 0) || math.IsInf(c.Rate, 0) {
		c.Rate = DefaultRate
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	if c.CandidatesPerMinute < 0 {
		c.CandidatesPerMinute = 0
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = max(4, 2*int(math.Ceil(c.Rate)))
	}
	if c.MaxCooldown <= 0 {
		c.MaxCooldown = DefaultMaxCooldown
	}
	if !(c.AdaptiveDecrease > 0 && c.AdaptiveDecrease < 1) {
		c.AdaptiveDecrease = DefaultAdaptiveDecrease
	}
	if !(c.AdaptiveIncrease > 0) || math.IsInf(c.AdaptiveIncrease, 0) {
		c.AdaptiveIncrease = c.Rate / 40
	}
	if !(c.AdaptiveMin > 0) || c.AdaptiveMin > c.Rate {
		c.AdaptiveMin = c.Rate / 10
	}
	if c.AdaptiveInterval <= 0 {
		c.AdaptiveInterval = DefaultAdaptiveInterval
	}
	if c.Prefix == "" || strings.ContainsAny(c.Prefix, "{}") {
		c.Prefix = DefaultPrefix
	}
	if c.InFlightTTL < time.Millisecond {
		c.InFlightTTL = DefaultInFlightTTL
	}
	if c.RedisTimeout <= 0 {
		c.RedisTimeout = DefaultRedisTimeout
	}
	return c
}

// cooldown turns a Retry-After into the cool-down to impose: DefaultRetryAfter
// when there was none, capped at MaxCooldown, at least a millisecond.
func (c Config) cooldown(retryAfter time.Duration) time.Duration {
	if retryAfter <= 0 {
		retryAfter = DefaultRetryAfter
	}
	retryAfter = min(retryAfter, c.MaxCooldown)
	return max(retryAfter, time.Millisecond)
}
