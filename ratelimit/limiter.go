package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
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
	// observedWindow is the span of State.ObservedRate, in whole seconds.
	observedWindow = 10
	// heartbeatEvery is how often a process registers itself in the procs key.
	heartbeatEvery = time.Second
	// procsWindow is how recently a process must have registered to be counted.
	procsWindow = 30 * time.Second
	// probeEvery is how often a process on its fallback tries Redis again.
	probeEvery = time.Second
	// adaptiveTTL is how long an adaptive rate survives without a 429 or a step.
	adaptiveTTL = time.Hour
)

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// State is the limiter as one process sees it, for `bulkinvite status`/`limits`.
type State struct {
	// KeyID names the API key (a hash of it, never the key).
	KeyID string `json:"key_id"`
	// Rate and Burst are as configured, in requests/s and requests.
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
	// EffectiveRate is the shared rate in force, in requests/s: Rate, or lower
	// while adaptive mode is backing off.
	EffectiveRate float64 `json:"effective_rate"`
	// ObservedRate is the requests/s granted to all workers over the last
	// ObservedWindow (whole seconds, the current one excluded).
	ObservedRate   float64       `json:"observed_rate"`
	ObservedWindow time.Duration `json:"observed_window"`
	// CandidatesPerMinute is the configured cap (0 none); CandidatesLastMinute the
	// candidates granted in the last 61 one-second buckets.
	CandidatesPerMinute  int `json:"candidates_per_minute"`
	CandidatesLastMinute int `json:"candidates_last_minute"`
	// Cooldown is the time left of the shared cool-down after a 429 (0 none).
	Cooldown time.Duration `json:"cooldown"`
	// InFlight counts requests sent and not yet released, of all workers;
	// MaxInFlight is the cap.
	InFlight    int `json:"in_flight"`
	MaxInFlight int `json:"max_in_flight"`
	// Processes counts the processes that used the key in the last 30 seconds
	// (0 when unknown).
	Processes int `json:"processes"`
	// Degraded reports that this process could not reach Redis and runs on its
	// local fallback at FallbackRate requests/s.
	Degraded     bool    `json:"degraded"`
	FallbackRate float64 `json:"fallback_rate"`
}

// Limiter holds one rate for every worker process that shares an API key, in
// Redis. It is safe for concurrent use. See the package documentation.
type Limiter struct {
	rdb      redis.Scripter
	keyID    string
	cfg      Config
	log      *zap.Logger
	keys     []string // gcra, cooldown, inflight, stats, adaptive, procs
	instance string
	now      func() time.Time
	seq      atomic.Uint64

	local *rate.Limiter // local stage: this process never asks faster than the effective rate
	asker chan struct{} // one goroutine of this process asks Redis at a time

	mu            sync.Mutex
	eff           float64   // effective rate, as last seen in Redis
	coolUntil     time.Time // cool-down known to this process
	procs         int       // processes seen in Redis, 0 unknown
	nextBeat      time.Time
	nextSucceeded time.Time
	degraded      bool
	nextProbe     time.Time
	fb            *fallback   // set while degraded
	throttles     []time.Time // this process's 429s in the last minute, without Adaptive
	nextAdvice    time.Time   // when the rate advice may be logged again
}

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

// fallback is the local limiter that stands in for Redis while it is unreachable.
type fallback struct {
	share float64
	rate  float64
	lim   *rate.Limiter
	sem   chan struct{}
	cap   int // candidates per minute, 0 none
	win   window
}

// New returns a Limiter for the API key identified by keyID (flowmingo.APIKey.ID:
// a hash, never the key; letters, digits, '-' and '_', at most 64), on rdb, any
// go-redis client (*redis.Client, *redis.ClusterClient, redis.UniversalClient).
// It does not talk to Redis: a process that cannot reach Redis starts on its
// fallback. A nil log logs nothing.
//
// RedisTimeout works through ctx deadlines, which go-redis applies to socket I/O
// only when the client has ContextTimeoutEnabled: true; build the client so (New
// logs a warning if not), or a hung Redis holds callers up to the client's
// ReadTimeout before the fallback takes over.
func New(rdb redis.Scripter, keyID string, cfg Config, log *zap.Logger) (*Limiter, error) {
	if rdb == nil {
		return nil, errors.New("ratelimit: New: nil Redis client")
	}
	if !keyIDPattern.MatchString(keyID) {
		return nil, fmt.Errorf("ratelimit: New: key id must be 1-64 letters, digits, '-' or '_' (a hash of the API key, never the key itself); got %d characters", len(keyID))
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
// when the reply is in, or the request is abandoned; it is idempotent, makes one
// Redis call bounded by Config.RedisTimeout, and a slot never released frees
// itself after Config.InFlightTTL. Acquire returns ctx.Err() if ctx ends first, and
// ErrTooManyCandidates for a request that could never go. While Redis is
// unreachable it grants at the local fallback rate instead of failing.
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
	fallback, probe := l.route()
	if fallback {
		return l.acquireFallback(ctx, candidates)
	}
	if err := l.waitLocal(ctx); err != nil {
		return nil, err
	}
	select {
	case l.asker <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		if !probe && l.isDegraded() { // another goroutine found Redis unreachable meanwhile
			<-l.asker
			return l.acquireFallback(ctx, candidates)
		}
		res, err := l.step(ctx, candidates)
		if err != nil {
			<-l.asker
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			l.degrade(err)
			return l.acquireFallback(ctx, candidates)
		}
		probe = false
		if res.ok {
			<-l.asker
			return l.releaseLease(res.lease), nil
		}
		if res.reason == "too_many" {
			<-l.asker
			return nil, fmt.Errorf("%w (another process has a lower cap): %d candidates", ErrTooManyCandidates, candidates)
		}
		if res.reason == "cooldown" {
			l.noteCooldown(res.wait)
		}
		if err := sleepCtx(ctx, res.wait); err != nil {
			<-l.asker
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
	reason string // ok, cooldown, rate, candidates, inflight, too_many
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
	vals, err := acquireScript.Run(ctx, l.rdb, l.keys,
		strconv.FormatFloat(l.cfg.Rate, 'g', -1, 64), l.cfg.Burst, l.cfg.CandidatesPerMinute,
		candidates, l.cfg.MaxInFlight, lease, l.cfg.InFlightTTL.Milliseconds(),
		l.adaptiveArg(), beat, procsWindow.Milliseconds()).Slice()
	if err != nil {
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
	if err := sleepCtx(ctx, r.DelayFrom(t)); err != nil {
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
	return sleepCtx(ctx, d)
}

func (l *Limiter) releaseLease(lease string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), l.cfg.RedisTimeout)
			defer cancel()
			if err := releaseScript.Run(ctx, l.rdb, l.keys[2:3], lease).Err(); err != nil {
				l.log.Debug("in-flight slot not released; it expires with its lease",
					zap.Error(err), zap.Duration("lease", l.cfg.InFlightTTL))
			}
		})
	}
}

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
	vals, err := throttleScript.Run(ctx, l.rdb, []string{l.keys[0], l.keys[1], l.keys[4]},
		cdMillis, strconv.FormatFloat(l.cfg.Rate, 'g', -1, 64), l.cfg.Burst, l.adaptiveArg(),
		strconv.FormatFloat(l.cfg.AdaptiveDecrease, 'g', -1, 64),
		strconv.FormatFloat(l.cfg.AdaptiveMin, 'g', -1, 64),
		l.cfg.AdaptiveInterval.Milliseconds(), adaptiveTTL.Milliseconds()).Slice()
	if err != nil {
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

// State reads the shared state. When Redis cannot be reached it returns what this
// process knows (configuration, its fallback) together with the error.
func (l *Limiter) State(ctx context.Context) (State, error) {
	l.mu.Lock()
	st := State{
		KeyID:               l.keyID,
		Rate:                l.cfg.Rate,
		Burst:               l.cfg.Burst,
		EffectiveRate:       l.eff,
		ObservedWindow:      observedWindow * time.Second,
		CandidatesPerMinute: l.cfg.CandidatesPerMinute,
		MaxInFlight:         l.cfg.MaxInFlight,
		Processes:           l.procs,
		Degraded:            l.degraded,
		FallbackRate:        l.eff * l.fallbackShareLocked(),
	}
	if l.fb != nil {
		st.FallbackRate = l.fb.rate
	}
	if d := l.coolUntil.Sub(l.now()); d > 0 {
		st.Cooldown = d
	}
	l.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, l.cfg.RedisTimeout)
	defer cancel()
	vals, err := stateScript.Run(ctx, l.rdb, l.keys, observedWindow, procsWindow.Milliseconds()).Slice()
	if err != nil {
		return st, fmt.Errorf("ratelimit: read the shared state: %w", err)
	}
	if len(vals) != 6 {
		return st, fmt.Errorf("ratelimit: read the shared state: unexpected reply %v", vals)
	}
	cd, _ := vals[0].(int64)
	inflight, _ := vals[1].(int64)
	effStr, _ := vals[2].(string)
	procs, _ := vals[3].(int64)
	reqs, _ := vals[4].(int64)
	cands, _ := vals[5].(int64)
	st.Cooldown = time.Duration(cd) * time.Millisecond
	st.InFlight = int(inflight)
	st.EffectiveRate = l.cfg.Rate
	if eff, ok := parseRate(effStr); ok && l.cfg.Adaptive {
		st.EffectiveRate = math.Min(eff, l.cfg.Rate)
	}
	st.Processes = int(procs)
	st.ObservedRate = float64(reqs) / observedWindow
	st.CandidatesLastMinute = int(cands)
	return st, nil
}

// sleepCtx waits d or until ctx ends, whichever is first (sleep.For).
func sleepCtx(ctx context.Context, d time.Duration) error { return sleep.For(ctx, d) }
