package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/sleep"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// testAPIKey has a prefix and a secret that cannot appear in a hex id by chance.
const testAPIKey = "fl_live_PFXQQ.SECRETZZ"

type testBundle struct {
	srv     *redistest.Server  // a private redis-server, or
	cluster *redistest.Cluster // with -redis_cluster, the shared cluster
	keyID   string
	logs    *observer.ObservedLogs
	log     *zap.Logger
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	b := &testBundle{keyID: flowmingo.NewAPIKey(testAPIKey).ID(), logs: logs, log: zap.New(core)}
	if b.cluster = redistest.SharedCluster(t); b.cluster != nil {
		// The suite's tests share the cluster: each limits a key of its own.
		sum := sha256.Sum256([]byte(t.Name()))
		b.keyID = hex.EncodeToString(sum[:8])
	} else {
		b.srv = redistest.Start(t, redistest.Options{})
	}
	return b
}

// needSingle skips a test that kills or inspects one server on the shared cluster.
func (b *testBundle) needSingle(t *testing.T) {
	t.Helper()
	if b.srv == nil {
		t.Skip("kills or reads one redis-server; runs on a single node only")
	}
}

// client returns a client of its own, configured as the worker's should be.
func (b *testBundle) client(t *testing.T) redis.UniversalClient {
	t.Helper()
	var c redis.UniversalClient
	if b.cluster != nil {
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: b.cluster.Addrs(), ContextTimeoutEnabled: true})
	} else {
		c = redis.NewClient(&redis.Options{Addr: b.srv.Addr(), ContextTimeoutEnabled: true})
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// limiter returns a Limiter on a client of its own, as another process would have.
func (b *testBundle) limiter(t *testing.T, cfg Config) *Limiter {
	t.Helper()
	if cfg.RedisTimeout == 0 {
		// Not the default 500ms: on a loaded machine (a Cluster under -race) a
		// slow call would fall back to the local share, which only the tests of
		// the fallback, with a timeout of their own, are about.
		cfg.RedisTimeout = 5 * time.Second
	}
	l, err := New(b.client(t), b.keyID, cfg, b.log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l
}

// redisNow is the Redis server's clock, which the scripts use.
func (b *testBundle) redisNow(t *testing.T) time.Time {
	t.Helper()
	now, err := b.client(t).Time(context.Background()).Result()
	if err != nil {
		t.Fatalf("TIME: %v", err)
	}
	return now
}

func mustAcquire(t *testing.T, a interface {
	Acquire(context.Context, int) (func(), error)
}, candidates int) func() {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	release, err := a.Acquire(ctx, candidates)
	if err != nil {
		t.Fatalf("Acquire(%d): %v", candidates, err)
	}
	return release
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   Config
		field string // "" = valid
	}{
		{name: "zero is all defaults", cfg: Config{}},
		{name: "typical", cfg: Config{Rate: 20, Burst: 5, CandidatesPerMinute: 600, MaxInFlight: 16, Adaptive: true}},
		{name: "negative rate", cfg: Config{Rate: -1}, field: "Rate"},
		{name: "negative burst", cfg: Config{Burst: -1}, field: "Burst"},
		{name: "negative candidates", cfg: Config{CandidatesPerMinute: -5}, field: "CandidatesPerMinute"},
		{name: "negative in flight", cfg: Config{MaxInFlight: -1}, field: "MaxInFlight"},
		{name: "negative max cooldown", cfg: Config{MaxCooldown: -time.Second}, field: "MaxCooldown"},
		{name: "decrease of 1", cfg: Config{AdaptiveDecrease: 1}, field: "AdaptiveDecrease"},
		{name: "negative increase", cfg: Config{AdaptiveIncrease: -1}, field: "AdaptiveIncrease"},
		{name: "min above rate", cfg: Config{Rate: 10, AdaptiveMin: 11}, field: "AdaptiveMin"},
		{name: "negative interval", cfg: Config{AdaptiveInterval: -1}, field: "AdaptiveInterval"},
		{name: "prefix with hash tag", cfg: Config{Prefix: "x{y}:"}, field: "Prefix"},
		{name: "lease under a millisecond", cfg: Config{InFlightTTL: time.Microsecond}, field: "InFlightTTL"},
		{name: "negative redis timeout", cfg: Config{RedisTimeout: -1}, field: "RedisTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "Config."+tt.field+" ") {
				t.Fatalf("Validate = %v, want an error naming Config.%s", err, tt.field)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	got := Config{Rate: 20}.withDefaults()
	if got.Burst != DefaultBurst || got.MaxInFlight != 40 || got.MaxCooldown != 5*time.Minute ||
		got.Prefix != store.DefaultPrefix || got.InFlightTTL != time.Minute || got.AdaptiveMin != 2 ||
		got.AdaptiveIncrease != 0.5 || got.AdaptiveDecrease != DefaultAdaptiveDecrease {
		t.Fatalf("defaults for Rate 20: %+v", got)
	}
	if got := (Config{}).withDefaults(); got.Rate != 5 || got.MaxInFlight != 10 {
		t.Fatalf("defaults for the zero Config: %+v", got)
	}
	c := Config{MaxCooldown: 3 * time.Second}.withDefaults()
	for _, tt := range []struct{ in, want time.Duration }{
		{0, DefaultRetryAfter}, {-time.Second, DefaultRetryAfter}, {2 * time.Second, 2 * time.Second},
		{time.Hour, 3 * time.Second}, {time.Nanosecond, time.Millisecond},
	} {
		if got := c.cooldown(tt.in); got != tt.want {
			t.Errorf("cooldown(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestNewRejectsWhatIsNotAKeyID(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	t.Cleanup(func() { _ = rdb.Close() })
	for _, id := range []string{"", testAPIKey, "a{b}", strings.Repeat("a", 65)} {
		_, err := New(rdb, id, Config{}, nil)
		if err == nil {
			t.Fatalf("New accepted key id %q", id)
		}
		if id != "" && strings.Contains(err.Error(), id) {
			t.Fatalf("New's error repeats the key id: %v", err)
		}
	}
	if _, err := New(rdb, "abc", Config{Rate: -1}, nil); err == nil || !strings.Contains(err.Error(), "Config.Rate") {
		t.Fatalf("New with a bad Config = %v, want the Validate error", err)
	}
}

// The Lua step is exact under concurrent callers: goroutines on several clients
// hammer the step itself, with demand far above supply, until a fixed number
// of grants; the grants stay within Burst + Rate*elapsed (on Redis's clock)
// and come close to it.
func TestStepExactUnderConcurrentCallers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := Config{Rate: 100, Burst: 5, MaxInFlight: 1 << 20}
	var limiters []*Limiter
	for range 3 {
		limiters = append(limiters, b.limiter(t, cfg))
	}
	const want = 60 // about half a second at the rate
	var grants atomic.Int64
	var reached atomic.Int64 // local time the want-th grant came back, in ns
	start := b.redisNow(t)
	localStart := time.Now()
	var wg sync.WaitGroup
	for _, l := range limiters {
		for range 6 {
			wg.Go(func() {
				for grants.Load() < want {
					res, err := l.step(context.Background(), 0)
					if err != nil {
						t.Errorf("step: %v", err)
						return
					}
					if res.ok {
						if grants.Add(1) == want {
							reached.Store(time.Now().UnixNano())
						}
						continue
					}
					_ = sleep.For(context.Background(), min(res.wait, 5*time.Millisecond))
				}
			})
		}
	}
	wg.Wait()
	checkRate(t, cfg, grantRun{
		grants:  float64(grants.Load()),
		elapsed: b.redisNow(t).Sub(start).Seconds(),
		first:   want,
		reached: time.Unix(0, reached.Load()).Sub(localStart).Seconds(),
	}, 0.9)
}

// grantRun is what a run of concurrent callers got: grants in elapsed seconds
// from before the first call to after the last, and the first of them within
// reached seconds (from after the start to when the last of those came back).
// The ceiling is checked on the first pair, the floor on the second, so a
// slow tail after the goal (callers still in flight, the end's reading) can
// neither hide an excess nor fake a shortfall.
type grantRun struct {
	grants, elapsed float64
	first, reached  float64
}

// checkRate fails t unless run's grants stay within cfg.Burst + cfg.Rate*elapsed
// (one more for the window's edge) and its first grants came at least at
// least times cfg.Rate.
func checkRate(t *testing.T, cfg Config, run grantRun, least float64) {
	t.Helper()
	most := float64(cfg.Burst) + cfg.Rate*run.elapsed + 1
	t.Logf("%v grants in %.3fs (allowed at most %.1f); the first %v in %.3fs", run.grants, run.elapsed, most, run.first, run.reached)
	if run.grants > most {
		t.Fatalf("%v grants in %.3fs; want at most %.1f", run.grants, run.elapsed, most)
	}
	if floor := least * cfg.Rate * run.reached; run.first < floor {
		t.Fatalf("the first %v grants took %.3fs; want at least %.1f in that time", run.first, run.reached, floor)
	}
}

// Acquire, through the local stage, across limiters on separate clients (as
// separate processes): one rate for all.
func TestAcquireSharesOneRate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := Config{Rate: 100, Burst: 5}
	checkRate(t, cfg, timeGrants(t, 60, 4, b.limiter(t, cfg), b.limiter(t, cfg), b.limiter(t, cfg)), 0.8)
	// Another process sees the last releases within releaseDelay.
	var st State
	for deadline := time.Now().Add(time.Second); ; {
		var err error
		if st, err = b.limiter(t, cfg).State(context.Background()); err != nil {
			t.Fatalf("State: %v", err)
		}
		if st.InFlight == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(releaseDelay / 4)
	}
	if st.Processes != 3 || st.InFlight != 0 || st.Degraded {
		t.Fatalf("State after the run: %+v", st)
	}
}

// A worker that never saw the 429 honours the cool-down another one set.
func TestCooldownHonouredByAnotherWorker(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := Config{Rate: 100, Burst: 5}
	a, other := b.limiter(t, cfg), b.limiter(t, cfg)
	mustAcquire(t, other, 1)() // warm: connected, script loaded

	const cooldown = 1500 * time.Millisecond
	start := time.Now()
	if err := a.Throttled(context.Background(), cooldown); err != nil {
		t.Fatalf("Throttled: %v", err)
	}
	st, err := other.State(context.Background())
	if err != nil {
		t.Fatalf("State: %v", err)
	}
	if st.Cooldown <= 0 || st.Cooldown > cooldown {
		t.Fatalf("State.Cooldown = %v, want in (0, %v]", st.Cooldown, cooldown)
	}
	mustAcquire(t, other, 1)()
	if waited := time.Since(start); waited < cooldown-10*time.Millisecond || waited > cooldown+3*time.Second {
		t.Fatalf("the other worker's Acquire returned after %v, want about %v", waited, cooldown)
	}
}

// A Retry-After is capped, and after the cool-down the requests resume at the
// steady rate, without a burst.
func TestCooldownCappedAndNoBurstAfter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := Config{Rate: 10, Burst: 5, MaxCooldown: 200 * time.Millisecond}
	a, other := b.limiter(t, cfg), b.limiter(t, cfg)
	if err := a.Throttled(context.Background(), time.Hour); err != nil {
		t.Fatalf("Throttled: %v", err)
	}
	st, err := other.State(context.Background())
	if err != nil {
		t.Fatalf("State: %v", err)
	}
	if st.Cooldown <= 0 || st.Cooldown > cfg.MaxCooldown {
		t.Fatalf("State.Cooldown = %v, want capped at %v", st.Cooldown, cfg.MaxCooldown)
	}
	mustAcquire(t, other, 1)()
	res, err := other.step(context.Background(), 1)
	if err != nil {
		t.Fatalf("step: %v", err)
	}
	if res.ok || res.reason != "rate" {
		t.Fatalf("second request right after the cool-down: %+v, want denied by the rate (burst drained)", res)
	}
	if res.wait > 100*time.Millisecond {
		t.Fatalf("wait %v, want at most one emission interval", res.wait)
	}
}

// With Redis down, Acquire grants nothing (invariant 3: a grant is one the
// shared limiter charged), warns once, and is back on the shared limiter after
// a restart.
func TestRedisDownGrantsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.needSingle(t)
	cfg := Config{Rate: 20, Burst: 5, RedisTimeout: 200 * time.Millisecond}
	l := b.limiter(t, cfg)
	mustAcquire(t, l, 1)()

	b.srv.Kill()
	got, elapsed := countGrants(t, 1500*time.Millisecond, 6, l)
	if got != 0 {
		t.Fatalf("%v grants in %.3fs with Redis down, want none", got, elapsed)
	}
	st, err := l.State(context.Background())
	if err == nil || !st.Degraded || st.FallbackRate != 0 {
		t.Fatalf("State with Redis down = %+v, %v; want degraded, no fallback rate, and an error", st, err)
	}
	if n := b.logs.FilterMessageSnippet("ignores context deadlines").Len(); n != 0 {
		t.Fatalf("New warned about a client that honours deadlines")
	}
	if n := b.logs.FilterMessageSnippet("unreachable").Len(); n != 1 {
		t.Fatalf("%d warnings about the outage, want exactly 1", n)
	}

	b.srv.Restart()
	mustAcquire(t, l, 1)()
	if st, err := l.State(context.Background()); err != nil || st.Degraded {
		t.Fatalf("State after a grant once Redis is back = %+v, %v; want not degraded", st, err)
	}
	if n := b.logs.FilterMessageSnippet("this process sends again").Len(); n != 1 {
		t.Fatalf("%d lines about Redis being back, want exactly 1", n)
	}
	n, err := b.srv.Client().Exists(context.Background(), l.keys[0]).Result()
	if err != nil || n != 1 {
		t.Fatalf("after the restart the shared GCRA key exists = %d, %v; want the shared limiter in use", n, err)
	}
}

func TestInFlightCap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := b.limiter(t, Config{Rate: 1000, Burst: 10, MaxInFlight: 2})
	other := b.limiter(t, Config{Rate: 1000, Burst: 10, MaxInFlight: 2})
	r1 := mustAcquire(t, l, 1)
	mustAcquire(t, other, 1) // held

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third Acquire with two in flight = %v, want to block until the deadline", err)
	}
	if st, err := l.State(context.Background()); err != nil || st.InFlight != 2 {
		t.Fatalf("State = %+v, %v; want 2 in flight", st, err)
	}

	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		release, err := l.Acquire(ctx, 1)
		if err == nil {
			release()
		}
		got <- err
	}()
	r1()
	r1() // idempotent: must not free the other's slot
	if err := <-got; err != nil {
		t.Fatalf("Acquire after a release: %v", err)
	}
	if st, err := l.State(context.Background()); err != nil || st.InFlight != 1 {
		t.Fatalf("State = %+v, %v; want 1 in flight (the one never released)", st, err)
	}
}

// A crashed worker's slot frees itself after InFlightTTL.
func TestInFlightLeaseExpires(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := Config{Rate: 1000, Burst: 10, MaxInFlight: 1, InFlightTTL: 500 * time.Millisecond}
	crashed := b.limiter(t, cfg)
	mustAcquire(t, crashed, 1) // never released
	start := time.Now()
	mustAcquire(t, b.limiter(t, cfg), 1)()
	if waited := time.Since(start); waited < 450*time.Millisecond {
		t.Fatalf("Acquire got the crashed worker's slot after %v, before its lease of %v ended", waited, cfg.InFlightTTL)
	}
}

// Repeated 429s lower the effective rate of every worker; successes climb back.
func TestAdaptiveSharedAndClimbsBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := Config{Rate: 20, Adaptive: true, AdaptiveDecrease: 0.5, AdaptiveIncrease: 5, AdaptiveMin: 2,
		AdaptiveInterval: 50 * time.Millisecond}
	a, other := b.limiter(t, cfg), b.limiter(t, cfg)
	eff := func(l *Limiter) float64 {
		t.Helper()
		st, err := l.State(context.Background())
		if err != nil {
			t.Fatalf("State: %v", err)
		}
		return st.EffectiveRate
	}
	throttle := func(retryAfter time.Duration) {
		t.Helper()
		if err := a.Throttled(context.Background(), retryAfter); err != nil {
			t.Fatalf("Throttled: %v", err)
		}
	}
	// A decrease holds for the cool-down and a tenth of the interval: 300ms, long
	// enough for the second 429 to fall in it however slow this machine is.
	throttle(300 * time.Millisecond)
	if got := eff(other); got != 10 {
		t.Fatalf("after one 429 the other worker's effective rate = %v, want 10", got)
	}
	throttle(300 * time.Millisecond) // within the hold: the same episode
	if got := eff(other); got != 10 {
		t.Fatalf("after a second 429 in the same episode: %v, want still 10", got)
	}
	// Past the hold (the second cool-down, 305ms) and three intervals after it: a
	// decrease as usual.
	_ = sleep.For(context.Background(), 600*time.Millisecond)
	throttle(10 * time.Millisecond)
	if got := eff(other); got != 5 {
		t.Fatalf("after a later 429: %v, want 5", got)
	}
	mustAcquire(t, other, 1)() // learns the rate as a worker would
	if got := other.local.Limit(); got != 5 {
		t.Fatalf("the other worker's local stage runs at %v, want 5", got)
	}

	deadline := time.Now().Add(10 * time.Second)
	var seen []float64
	for eff(other) < cfg.Rate {
		if time.Now().After(deadline) {
			t.Fatalf("did not climb back to %v in 10s: %v", cfg.Rate, seen)
		}
		other.Succeeded(context.Background())
		seen = append(seen, eff(other))
		_ = sleep.For(context.Background(), 10*time.Millisecond)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i]-seen[i-1] > cfg.AdaptiveIncrease {
			t.Fatalf("climbed by more than one step at a time: %v", seen)
		}
	}
	mustAcquire(t, other, 1)()
	if got := other.local.Limit(); got != 20 {
		t.Fatalf("local stage after the climb runs at %v, want 20", got)
	}
}

func TestCandidatesPerMinuteCap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := Config{Rate: 1000, Burst: 10, CandidatesPerMinute: 100}
	l := b.limiter(t, cfg)
	mustAcquire(t, l, 40)()
	mustAcquire(t, b.limiter(t, cfg), 40)()

	res, err := l.step(context.Background(), 40)
	if err != nil {
		t.Fatalf("step: %v", err)
	}
	if res.ok || res.reason != "candidates" || res.wait < 59*time.Second || res.wait > 61*time.Second {
		t.Fatalf("a request that would make 120 candidates in a minute: %+v, want denied for about 60s", res)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(ctx, 40); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire(40) over the cap = %v, want to block", err)
	}
	if _, err := l.Acquire(context.Background(), 101); !errors.Is(err, ErrTooManyCandidates) {
		t.Fatalf("Acquire(101) with a cap of 100 = %v, want ErrTooManyCandidates", err)
	}
	mustAcquire(t, l, 20)() // exactly the cap
	if st, err := l.State(context.Background()); err != nil || st.CandidatesLastMinute != 100 {
		t.Fatalf("State = %+v, %v; want 100 candidates in the last minute", st, err)
	}
}

// Every key the limiter writes carries the prefix and the key id, and nothing
// else of the API key.
func TestRedisKeysNameOnlyTheKeyID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.needSingle(t)
	cfg := Config{Rate: 100, Burst: 5, CandidatesPerMinute: 1000, Adaptive: true, Prefix: "itest:"}
	l := b.limiter(t, cfg)
	mustAcquire(t, l, 3) // keep a lease in flight
	if err := l.Throttled(context.Background(), 50*time.Millisecond); err != nil {
		t.Fatalf("Throttled: %v", err)
	}
	mustAcquire(t, l, 3)()
	l.Succeeded(context.Background())
	if _, err := l.State(context.Background()); err != nil {
		t.Fatalf("State: %v", err)
	}
	keys, err := b.srv.Client().Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	if len(keys) < 4 {
		t.Fatalf("only %d keys written: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "itest:ratelimit:{"+b.keyID+"}:") {
			t.Errorf("key %q is not under the prefix and the key id", k)
		}
		for _, part := range []string{"PFXQQ", "SECRETZZ", "fl_live", testAPIKey} {
			if strings.Contains(k, part) {
				t.Errorf("key %q contains %q of the API key", k, part)
			}
		}
	}
}

func TestAcquireHonoursContext(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := b.limiter(t, Config{Rate: 1, Burst: 1})
	mustAcquire(t, l, 1)()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Acquire(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire with a cancelled ctx = %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire that must wait 1s with a 50ms ctx = %v", err)
	}
	if _, err := l.Acquire(context.Background(), -1); err == nil {
		t.Fatalf("Acquire(-1) succeeded")
	}
}

// hungRedis accepts connections and never answers, like a Redis behind a
// partition.
func hungRedis(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// A Redis that hangs instead of refusing: each call gives up after
// RedisTimeout, nothing is granted, Acquire returns when its ctx ends, and a
// 429 is still honoured locally.
func TestRedisHangingGrantsNothing(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: hungRedis(t), MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	l, err := New(rdb, "hungkey", Config{Rate: 20, Burst: 5, RedisTimeout: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	got, elapsed := countGrants(t, 1500*time.Millisecond, 4, l)
	if got != 0 {
		t.Fatalf("%v grants in %.3fs with Redis hanging, want none", got, elapsed)
	}

	if err := l.Throttled(context.Background(), time.Minute); err == nil {
		t.Fatalf("Throttled with Redis hanging reported no error")
	}
	st, err := l.State(context.Background())
	if err == nil || !st.Degraded || st.Cooldown < 59*time.Second {
		t.Fatalf("State with Redis hanging after a 429 = %+v, %v; want degraded, the cool-down, an error", st, err)
	}
}

// TestAdviceOnRepeated429s: with a fixed rate, a run of 429s makes the limiter say
// the rate is too high, once; with adaptive mode it does not.
func TestAdviceOnRepeated429s(t *testing.T) {
	t.Parallel()
	for _, adaptive := range []bool{false, true} {
		b := setup(t)
		l := b.limiter(t, Config{Rate: 40, Burst: 5, Adaptive: adaptive, MaxCooldown: time.Millisecond})
		for range 2 * adviseAfter {
			if err := l.Throttled(context.Background(), time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
		got := b.logs.FilterMessageSnippet("BULKINVITE_RATE is above").Len()
		want := 1
		if adaptive {
			want = 0
		}
		if got != want {
			t.Errorf("adaptive=%v: %d advice lines, want %d", adaptive, got, want)
		}
	}
}

type acquirer interface {
	Acquire(ctx context.Context, candidates int) (release func(), err error)
}

// timeGrants runs each goroutines per acquirer, every one acquiring and releasing
// one request after another until k have been granted in all, and returns the
// run: how many were granted (k, or a few more already under way), the seconds
// all took and the seconds the first k took: a rate measured by counting
// grants, not by waiting out a window. It
// fails the test when the k grants take longer than a minute.
func timeGrants(t *testing.T, k int64, each int, as ...acquirer) grantRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var n, reached atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for _, a := range as {
		for range each {
			wg.Go(func() {
				for n.Load() < k {
					release, err := a.Acquire(ctx, 1)
					if err != nil {
						t.Errorf("Acquire: %v (%d of %d granted)", err, n.Load(), k)
						return
					}
					if n.Add(1) == k {
						reached.Store(time.Now().UnixNano())
					}
					release()
				}
			})
		}
	}
	wg.Wait()
	return grantRun{
		grants:  float64(n.Load()),
		elapsed: time.Since(start).Seconds(),
		first:   float64(k),
		reached: time.Unix(0, reached.Load()).Sub(start).Seconds(),
	}
}

// countGrants runs each goroutines per acquirer, every one acquiring and releasing
// one request after another until d has passed, and returns how many were granted
// and the seconds that took. An error other than the deadline fails the test.
func countGrants(t *testing.T, d time.Duration, each int, as ...acquirer) (grants, seconds float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for _, a := range as {
		for range each {
			wg.Go(func() {
				for {
					release, err := a.Acquire(ctx, 1)
					if err != nil {
						if !errors.Is(err, context.DeadlineExceeded) {
							t.Errorf("Acquire: %v", err)
						}
						return
					}
					n.Add(1)
					release()
				}
			})
		}
	}
	wg.Wait()
	return float64(n.Load()), time.Since(start).Seconds()
}

// TestAdaptiveSlowsNearTheLimitSeen: a 429 soon after a decrease decreases twice
// as hard; the climb back is the full step far below the vendor's limit as last
// seen (here the rate the vendor refused: no grants to estimate it from), half the
// distance left from 80% of it up to it, a fiftieth of the step from it to 5%
// above it (so the rate settles just under the limit and crosses it gently), and
// the full step again past that.
func TestAdaptiveSlowsNearTheLimitSeen(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := Config{Rate: 40, Adaptive: true, AdaptiveDecrease: 0.5, AdaptiveIncrease: 1, AdaptiveMin: 2,
		AdaptiveInterval: 20 * time.Millisecond}
	l := b.limiter(t, cfg)
	eff := func() float64 {
		st, err := l.State(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return st.EffectiveRate
	}
	// A 429 at 40 halves the rate; the next one, 30ms later (after the hold of
	// 3ms, within three intervals of it), quarters it: the limit seen last is
	// 20, the rate 5.
	for _, want := range []float64{20, 5} {
		if err := l.Throttled(context.Background(), time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if got := eff(); got != want {
			t.Fatalf("after a 429: %v, want %v", got, want)
		}
		_ = sleep.For(context.Background(), 30*time.Millisecond)
	}
	got := []float64{5}
	deadline := time.Now().Add(30 * time.Second)
	for got[len(got)-1] < cfg.Rate {
		if time.Now().After(deadline) {
			t.Fatalf("did not climb back in 30s: %v", got)
		}
		_ = sleep.For(context.Background(), 25*time.Millisecond)
		l.Succeeded(context.Background())
		if r := eff(); r != got[len(got)-1] {
			got = append(got, r)
		}
	}
	approach, probe := 0, 0
	for i := 1; i < len(got); i++ {
		step, from := got[i]-got[i-1], got[i-1]
		want := 1.0
		switch {
		case from >= 16 && from < 20:
			want = min(1, max(0.05, (20-from)/2))
			if want < 1 {
				approach++
			}
		case from >= 20 && from < 21:
			want, probe = 0.02, probe+1
		}
		if from+want > cfg.Rate {
			want = cfg.Rate - from
		}
		if math.Abs(step-want) > 1e-9 {
			t.Fatalf("climb %v: step %v from %v, want %v", got, step, from, want)
		}
	}
	// 19, 19.5, 19.75, 19.875, 19.9375, 19.9875: then over 20 by 0.02 a step.
	if approach != 6 || probe < 45 || probe > 55 {
		t.Fatalf("climb %v: %d steps closing in on 20 and %d from 20 to 21, want 6 and about 50", got, approach, probe)
	}
}

// TestAdaptiveLearnsTheLimitFromTheGrants: a 429 lowers the rate to what the
// vendor accepted since the last cool-down ended, less its burst, over the time
// since: soon after the last 429 (here 25 grants after a 429 at 36/s) rather than
// by the squared factor (36*0.81 = 29.16), so the vendor's limit is learnt in one
// step; long after it (the limit crossed after a while under it) rather than by
// the factor (0.9), so a rate just over the limit comes down just under it.
func TestAdaptiveLearnsTheLimitFromTheGrants(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := Config{Rate: 40, Burst: 5, Adaptive: true, AdaptiveMin: 1}
	l := b.limiter(t, cfg)
	ctx := context.Background()
	// episode sends n requests from the end of the cool-down of the 429 just
	// recorded (cd long, between Redis times before and after), then records a
	// 429 of the last one (between before2 and after2, with a cool-down of 1ms),
	// and returns the bounds of (n-1-Burst)/span, span being the time from the
	// end of that cool-down to the new 429 as Redis saw it.
	var before2, after2 time.Time
	episode := func(n int, cd time.Duration, before, after time.Time) (lo, hi float64) {
		t.Helper()
		for range n {
			mustAcquire(t, l, 1)()
		}
		before2 = b.redisNow(t)
		if err := l.Throttled(ctx, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		after2 = b.redisNow(t)
		maxSpan, minSpan := after2.Sub(before.Add(cd)), before2.Sub(after.Add(cd))
		return float64(n-1-cfg.Burst) / maxSpan.Seconds(), float64(n-1-cfg.Burst) / minSpan.Seconds()
	}

	before := b.redisNow(t)
	if err := l.Throttled(ctx, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	after := b.redisNow(t)
	if l.eff != 36 {
		t.Fatalf("after the first 429 (nothing to learn from): %v, want 36", l.eff)
	}
	// 25 grants at 36/s: the next 429 comes after the hold (10ms + 100ms) and
	// within three intervals of it.
	lo, hi := episode(25, 10*time.Millisecond, before, after)
	if l.eff < lo || l.eff > hi || l.eff >= 29 {
		t.Fatalf("after a 429 soon after the last with 25 grants: %v, want in [%.2f, %.2f], below 36*0.81", l.eff, lo, hi)
	}

	// Requests all along for 4.5s, then a 429: past three intervals after the
	// hold, streak 0. The grants show the limit just under the rate: -2% (the
	// least decrease) to -10% (the most).
	r := l.eff
	lo, hi = episode(int(4.5*r), time.Millisecond, before2, after2)
	clamp := func(x float64) float64 { return min(max(x, 0.9*r), 0.98*r) }
	if l.eff < clamp(lo)-1e-9 || l.eff > clamp(hi)+1e-9 || l.eff <= 0.9*r+0.2 {
		t.Fatalf("after a 429 long after the last (from %v): %v, want in [%.2f, %.2f] within -2%%..-10%%, well above -10%%", r, l.eff, lo, hi)
	}
}

// A release makes no Redis call of its own: the process's next step removes
// the lease first (one script call a grant), and a lease with no step after it
// goes within the delay, in one call for all.
func TestReleaseGoesWithTheNextStep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var calls atomic.Int64
	c := b.client(t)
	c.AddHook(countHook{&calls})
	l, err := New(c, b.keyID, Config{Rate: 1000, Burst: 10, RedisTimeout: 5 * time.Second}, b.log)
	if err != nil {
		t.Fatal(err)
	}
	l.released.after = time.Hour // only a step or State takes them
	inflight := func() int64 { return b.client(t).ZCard(ctx, l.keys[keyInflight]).Val() }
	mustAcquire(t, l, 1)() // loads the script
	calls.Store(0)
	for range 5 {
		mustAcquire(t, l, 1)()
	}
	if n := calls.Load(); n != 5 {
		t.Errorf("5 grants and releases made %d script calls, want 5", n)
	}
	if n := inflight(); n != 1 {
		t.Errorf("%d leases in flight after 6 grants and releases, want the last one", n)
	}
	st, err := l.State(ctx)
	if err != nil || st.InFlight != 0 {
		t.Errorf("State: %d in flight (%v), want 0: State counts this process's releases", st.InFlight, err)
	}

	l.released.after = 10 * time.Millisecond
	release := mustAcquire(t, l, 1)
	release()
	release() // idempotent
	deadline := time.Now().Add(5 * time.Second)
	for inflight() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a lease released with no step after is still in flight after 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// countHook counts the scripts a client runs.
type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name == "evalsha" || name == "eval" {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
