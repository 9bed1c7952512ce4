package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/bulkinvite/bulkinvite/internal/sleep"
)

// ErrTooManyCandidates is returned by Acquire for a request carrying more
// candidates than Config.CandidatesPerMinute: it could never be sent. Split it.
var ErrTooManyCandidates = errors.New("ratelimit: more candidates in one request than the candidates-per-minute cap")

const (
	// heartbeatEvery is how often a process registers itself in the procs key.
	heartbeatEvery = time.Second
	// procsWindow is how recently a process must have registered to be counted.
	procsWindow = 30 * time.Second
)

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Limiter holds one rate for every worker process that shares an API key, in
// Redis. It is safe for concurrent use. See the package documentation.
type Limiter struct {
	rdb      redis.Scripter
	keyID    string
	cfg      Config
	log      *zap.Logger
	keys     []string // in the order keyGCRA, keyCooldown, ...
	instance string
	now      func() time.Time
	seq      atomic.Uint64

	local *rate.Limiter // local stage: this process never asks faster than the effective rate
	asker chan struct{} // one goroutine of this process asks Redis at a time

	mu        sync.Mutex
	eff       float64   // effective rate, as last seen in Redis (adaptive.go)
	coolUntil time.Time // cool-down known to this process
	procs     int       // processes seen in Redis, 0 unknown
	nextBeat  time.Time

	nextSucceeded time.Time // adaptive.go: when Succeeded may ask Redis again

	degraded      bool          // degraded.go: the last Redis call failed; nothing is granted
	degradedSince time.Time     // degraded.go: when the last Redis call that succeeded was followed by one that failed
	retryWait     time.Duration // degraded.go: the pause before the next attempt
	nextTry       time.Time     // degraded.go: when the next attempt may go

	throttles  []time.Time // advice.go: this process's 429s in the last minute, without Adaptive
	nextAdvice time.Time   // advice.go: when the rate advice may be logged again

	released releases // release.go: leases released, not yet removed from Redis
}

// New returns a Limiter for the API key identified by keyID (flowmingo.APIKey.ID:
// a hash, never the key; letters, digits, '-' and '_', at most 64), on rdb, any
// go-redis client (*redis.Client, *redis.ClusterClient, redis.UniversalClient).
// It does not talk to Redis: a process that cannot reach Redis grants nothing
// until it can. A nil log logs nothing.
//
// RedisTimeout works through ctx deadlines, which go-redis applies to socket I/O
// only when the client has ContextTimeoutEnabled: true; build the client so (New
// logs a warning if not), or a grant whose reply is late is spent late, up to
// the client's ReadTimeout after the shared limiter charged it.
func New(rdb redis.Scripter, keyID string, cfg Config, log *zap.Logger) (*Limiter, error) {
	if rdb == nil {
		return nil, errors.New("ratelimit: New: nil Redis client")
	}
	if !keyIDPattern.MatchString(keyID) {
		return nil, fmt.Errorf("ratelimit: New: key id must be 1-64 letters, digits, '-' or '_'; got %d characters", len(keyID))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	base := cfg.Prefix + "ratelimit:{" + keyID + "}:"
	l := &Limiter{
		rdb:   rdb,
		keyID: keyID,
		cfg:   cfg,
		log:   log.With(zap.String("key_id", keyID)),
		keys: []string{
			base + "gcra", base + "cooldown", base + "inflight",
			base + "stats", base + "adaptive", base + "procs",
		},
		instance: newInstanceID(),
		now:      time.Now,
		local:    rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst),
		asker:    make(chan struct{}, 1),
		eff:      cfg.Rate,
		released: releases{after: releaseDelay},
	}
	if !honoursDeadlines(rdb) {
		l.log.Warn("the Redis client ignores context deadlines (ContextTimeoutEnabled is false): " +
			"a Redis that hangs holds the rate limiter up to the client's read timeout, not RedisTimeout")
	}
	return l, nil
}

// honoursDeadlines reports whether go-redis applies a ctx deadline to its socket
// I/O, which RedisTimeout relies on. Clients it does not know are assumed to.
func honoursDeadlines(rdb redis.Scripter) bool {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}

func newInstanceID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "/" + strconv.Itoa(os.Getpid()) + "/" + hex.EncodeToString(b[:])
}

// Acquire waits until this process may send one request carrying candidates
// candidates: it honours the shared cool-down, the local stage, the shared GCRA
// (and the candidates-per-minute cap), and takes an in-flight slot. Call release
// when the reply is in, or the request is abandoned; it is idempotent and makes
// no Redis call of its own (the slot goes back with this process's next step,
// or within 20 ms: see releaseDelay), and a slot never released frees
// itself after Config.InFlightTTL. Acquire returns ctx.Err() if ctx ends first, and
// ErrTooManyCandidates for a request that could never go. While Redis cannot be
// reached (a call fails or takes longer than Config.RedisTimeout) it grants
// nothing and keeps trying: every grant is one the shared limiter charged.
func (l *Limiter) Acquire(ctx context.Context, candidates int) (release func(), err error) {
	if err := checkCandidates(candidates, l.cfg.CandidatesPerMinute); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := l.waitCooldown(ctx); err != nil {
		return nil, err
	}
	if err := l.waitLocal(ctx); err != nil {
		return nil, err
	}
	select {
	case l.asker <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return l.ask(ctx, candidates)
}

// ask is Acquire's shared stage: it runs acquireScript until the request is
// granted, can never be, or ctx ends. The caller holds l.asker (one goroutine of
// this process asks Redis at a time); ask gives it back however it returns.
func (l *Limiter) ask(ctx context.Context, candidates int) (release func(), err error) {
	defer func() { <-l.asker }()
	for {
		if err := l.waitRetry(ctx); err != nil {
			return nil, err
		}
		res, err := l.step(ctx, candidates)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			l.degrade(err)
			continue
		}
		if res.ok {
			return l.releaseLease(res.lease), nil
		}
		if res.reason == reasonTooMany {
			return nil, fmt.Errorf("%w (another process has a lower cap): %d candidates", ErrTooManyCandidates, candidates)
		}
		if res.reason == reasonCooldown {
			l.noteCooldown(res.wait)
		}
		if err := sleep.For(ctx, res.wait); err != nil {
			return nil, err
		}
	}
}

func checkCandidates(n, perMinute int) error {
	if n < 0 {
		return fmt.Errorf("ratelimit: Acquire: candidates = %d, must be >= 0", n)
	}
	if perMinute > 0 && n > perMinute {
		return fmt.Errorf("%w: %d candidates, cap %d per minute", ErrTooManyCandidates, n, perMinute)
	}
	return nil
}

type stepResult struct {
	ok     bool
	wait   time.Duration
	reason string // reasonOK, reasonCooldown, ...
	lease  string
}

// step runs acquireScript once and updates what this process knows from it.
func (l *Limiter) step(ctx context.Context, candidates int) (stepResult, error) {
	now := l.now()
	beat := ""
	l.mu.Lock()
	if !now.Before(l.nextBeat) {
		beat = l.instance
		l.nextBeat = now.Add(heartbeatEvery)
	}
	l.mu.Unlock()
	lease := l.instance + "#" + strconv.FormatUint(l.seq.Add(1), 10)
	ctx, cancel := context.WithTimeout(ctx, l.cfg.RedisTimeout)
	defer cancel()
	released := l.takeReleases()
	a := acquireArgs{rate: l.cfg.Rate, burst: l.cfg.Burst, candidatesPerMinute: l.cfg.CandidatesPerMinute,
		candidates: candidates, maxInFlight: l.cfg.MaxInFlight, lease: lease, leaseTTLMS: l.cfg.InFlightTTL.Milliseconds(),
		adaptive: l.adaptiveArg(), instance: beat, beatWindowMS: procsWindow.Milliseconds(), adaptiveTTLMS: adaptiveTTL.Milliseconds(),
		released: released}
	vals, err := acquireScript.Run(ctx, l.rdb, l.keys, a.argv()...).Slice()
	if err != nil {
		l.release(released...)
		if beat != "" {
			l.mu.Lock()
			l.nextBeat = time.Time{}
			l.mu.Unlock()
		}
		return stepResult{}, fmt.Errorf("ratelimit: shared step: %w", err)
	}
	if len(vals) != 5 {
		return stepResult{}, fmt.Errorf("ratelimit: shared step: unexpected reply %v", vals)
	}
	ok, _ := vals[0].(int64)
	waitUS, _ := vals[1].(int64)
	reason, _ := vals[2].(string)
	effStr, _ := vals[3].(string)
	procs, _ := vals[4].(int64)
	eff, valid := parseRate(effStr)
	if !valid {
		return stepResult{}, fmt.Errorf("ratelimit: shared step: bad effective rate %q", effStr)
	}
	l.healthy(eff, int(procs))
	return stepResult{ok: ok == 1, wait: time.Duration(waitUS) * time.Microsecond, reason: reason, lease: lease}, nil
}

// takeSlot takes one of the in-flight slots of sem, waiting until one is free or
// ctx ends, and returns its idempotent release.
func takeSlot(ctx context.Context, sem chan struct{}) (release func(), err error) {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() { once.Do(func() { <-sem }) }, nil
}

// waitLocal is the local stage: this process takes a token of its own x/time/rate
// limiter, at the effective rate and burst, before it asks Redis.
func (l *Limiter) waitLocal(ctx context.Context) error {
	return reserve(ctx, l.local, l.now)
}

func reserve(ctx context.Context, lim *rate.Limiter, now func() time.Time) error {
	t := now()
	r := lim.ReserveN(t, 1)
	if !r.OK() {
		return fmt.Errorf("ratelimit: local limiter refused a reservation (limit %v, burst %d)", lim.Limit(), lim.Burst())
	}
	if err := sleep.For(ctx, r.DelayFrom(t)); err != nil {
		r.CancelAt(now())
		return err
	}
	return nil
}

func (l *Limiter) noteCooldown(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until := l.now().Add(d); until.After(l.coolUntil) {
		l.coolUntil = until
	}
}

func (l *Limiter) waitCooldown(ctx context.Context) error {
	l.mu.Lock()
	d := l.coolUntil.Sub(l.now())
	l.mu.Unlock()
	return sleep.For(ctx, d)
}
