package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/faultproxy"
)

// degradedTimeout is the RedisTimeout of the limiters these tests degrade: the
// default, as the workers run.
const degradedTimeout = DefaultRedisTimeout

// proxied returns a client whose link to the test's redis-server goes through a
// fault proxy of its own, configured as the worker's client is, and the proxy.
func (b *testBundle) proxied(t *testing.T) (redis.UniversalClient, *faultproxy.Proxy) {
	t.Helper()
	p, err := faultproxy.Listen("127.0.0.1:0", b.srv.Addr())
	if err != nil {
		t.Fatalf("fault proxy: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return b.clientAt(t, p.Addr()), p
}

// clientAt returns a client of Redis at addr, configured as the worker's is.
func (b *testBundle) clientAt(t *testing.T, addr string) redis.UniversalClient {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1,
		DialTimeout: degradedTimeout})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// limiterOn returns a Limiter on rdb with the test's key and log.
func (b *testBundle) limiterOn(t *testing.T, rdb redis.UniversalClient, cfg Config) *Limiter {
	t.Helper()
	l, err := New(rdb, b.keyID, cfg, b.log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l
}

// TestDegradedProcessKeepsTheSharedRate is invariant 3 ("one rate for all")
// with one process's Redis slow or broken (issue #16, item 3): rate 10, burst
// 1, for 5 s, one healthy process and one whose Redis calls fail or take
// longer than RedisTimeout. All grants together stay within Burst +
// Rate*elapsed: the degraded process spends nothing the shared limiter did
// not charge, and the healthy one keeps the whole rate.
func TestDegradedProcessKeepsTheSharedRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// degrade breaks the degraded process's link after it reached Redis
		// once; nil for a process that never reaches Redis.
		degrade func(p *faultproxy.Proxy)
	}{
		{name: "calls slower than the timeout", degrade: func(p *faultproxy.Proxy) { p.SetLatency(degradedTimeout + 200*time.Millisecond) }},
		{name: "calls refused", degrade: func(p *faultproxy.Proxy) { _ = p.Close() }},
		{name: "calls hanging", degrade: func(p *faultproxy.Proxy) { p.Cut() }},
		{name: "never reached Redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.needSingle(t)
			cfg := Config{Rate: 10, Burst: 1}
			healthy := b.limiter(t, cfg)
			dcfg := cfg
			dcfg.RedisTimeout = degradedTimeout
			var degraded *Limiter
			if tt.degrade != nil {
				rdb, p := b.proxied(t)
				degraded = b.limiterOn(t, rdb, dcfg)
				mustAcquire(t, healthy, 1)()
				mustAcquire(t, degraded, 1)() // registered: two processes share the key
				tt.degrade(p)
			} else {
				degraded = b.limiterOn(t, b.clientAt(t, hungRedis(t)), dcfg)
			}

			got, elapsed := countGrants(t, 5*time.Second, 4, healthy, degraded)
			most := float64(cfg.Burst) + cfg.Rate*elapsed + 1 // one more for the window's edge
			t.Logf("%v grants in %.3fs, one process degraded (allowed at most %.1f)", got, elapsed, most)
			if got > most {
				t.Fatalf("%v grants in %.3fs with one process degraded; the shared limit allows at most %.1f", got, elapsed, most)
			}
			if least := 0.8 * cfg.Rate * elapsed; got < least {
				t.Fatalf("%v grants in %.3fs; the healthy process alone should get about %.0f", got, elapsed, cfg.Rate*elapsed)
			}
			if st, _ := degraded.State(context.Background()); !st.Degraded {
				t.Fatalf("the degraded process's State = %+v, want Degraded", st)
			}
		})
	}
}

// TestProcessesStartedDuringAnOutage is invariant 3 for processes that start
// while they cannot reach Redis (issue #16, item 3): however many there are,
// together with the processes that can they stay within the shared rate; once
// Redis is back they share it.
func TestProcessesStartedDuringAnOutage(t *testing.T) {
	t.Parallel()
	cfg := Config{Rate: 10, Burst: 1}
	dcfg := cfg
	dcfg.RedisTimeout = 200 * time.Millisecond

	t.Run("beside a healthy process", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.needSingle(t)
		as := []acquirer{b.limiter(t, cfg)}
		for range 3 {
			rdb, p := b.proxied(t)
			p.Cut()
			as = append(as, b.limiterOn(t, rdb, dcfg))
		}
		got, elapsed := countGrants(t, 3*time.Second, 2, as...)
		most := float64(cfg.Burst) + cfg.Rate*elapsed + 1
		t.Logf("%v grants in %.3fs, one healthy process and three started cut off (allowed at most %.1f)", got, elapsed, most)
		if got > most {
			t.Fatalf("%v grants in %.3fs; the shared limit allows at most %.1f", got, elapsed, most)
		}
	})

	t.Run("Redis down for all", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.needSingle(t)
		b.srv.Kill()
		var as []acquirer
		for range 6 {
			as = append(as, b.limiterOn(t, b.clientAt(t, b.srv.Addr()), dcfg))
		}
		got, elapsed := countGrants(t, 2*time.Second, 2, as...)
		t.Logf("%v grants in %.3fs, six processes started with Redis down", got, elapsed)
		if most := float64(cfg.Burst) + cfg.Rate*elapsed + 1; got > most {
			t.Fatalf("%v grants in %.3fs with Redis down; the shared limit allows at most %.1f", got, elapsed, most)
		}

		b.srv.Restart()
		got, elapsed = countGrants(t, 3*time.Second, 2, as...)
		most := float64(cfg.Burst) + cfg.Rate*elapsed + 1
		t.Logf("%v grants in %.3fs once Redis is back (allowed at most %.1f)", got, elapsed, most)
		if got > most || got < 5 {
			t.Fatalf("%v grants in %.3fs once Redis is back; want some, and at most %.1f", got, elapsed, most)
		}
	})
}
