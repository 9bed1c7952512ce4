package ratelimit

import (
	"context"
	"testing"
	"time"
)

// The scripts run by their SHA1 and are sent again when Redis has forgotten them
// (a restart without persistence, SCRIPT FLUSH): a flushed script cache neither
// fails a call nor puts the process on its fallback.
func TestScriptsSurviveAFlushedScriptCache(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := b.limiter(t, Config{Rate: 100, Burst: 5, Adaptive: true, AdaptiveInterval: time.Millisecond})
	ctx := context.Background()
	mustAcquire(t, l, 1)() // every script of Acquire and release loaded
	if err := l.Throttled(ctx, time.Millisecond); err != nil {
		t.Fatalf("Throttled: %v", err)
	}
	if err := b.client(t).ScriptFlush(ctx).Err(); err != nil {
		t.Fatalf("SCRIPT FLUSH: %v", err)
	}

	mustAcquire(t, l, 1)()
	if err := l.Throttled(ctx, time.Millisecond); err != nil {
		t.Fatalf("Throttled after SCRIPT FLUSH: %v", err)
	}
	l.mu.Lock()
	eff := l.eff
	l.mu.Unlock()
	if eff >= 100 {
		t.Fatalf("effective rate %v after a 429 in adaptive mode, want below 100", eff)
	}
	time.Sleep(10 * time.Millisecond) // past the adaptive hold, so Succeeded asks Redis
	l.Succeeded(ctx)
	st, err := l.State(ctx)
	if err != nil {
		t.Fatalf("State after SCRIPT FLUSH: %v", err)
	}
	if st.Degraded {
		t.Fatalf("State after SCRIPT FLUSH: %+v, want not degraded", st)
	}
	if n := b.logs.FilterMessage("adaptive rate not raised").Len(); n != 0 {
		t.Fatalf("Succeeded after SCRIPT FLUSH failed %d times", n)
	}
}

// TestAcquireReasons runs acquireScript in the situation that yields each of
// its reasons and checks the reason against the Go constant Acquire reads: a
// script that answers another word than Go expects fails here.
func TestAcquireReasons(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		cfg    Config
		before func(t *testing.T, l *Limiter) // brings the limiter to the situation
		cands  int
		want   string
	}{
		{name: "ok", cfg: Config{Rate: 100, Burst: 5}, cands: 1, want: reasonOK},
		{name: "cooldown", cfg: Config{Rate: 100, Burst: 5}, cands: 1, want: reasonCooldown,
			before: func(t *testing.T, l *Limiter) {
				if err := l.Throttled(ctx, time.Minute); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "rate", cfg: Config{Rate: 0.01, Burst: 1}, cands: 1, want: reasonRate,
			before: func(t *testing.T, l *Limiter) { mustStep(t, l, 1) }},
		{name: "candidates", cfg: Config{Rate: 100, Burst: 5, CandidatesPerMinute: 10}, cands: 5, want: reasonCandidates,
			before: func(t *testing.T, l *Limiter) { mustStep(t, l, 10) }},
		{name: "inflight", cfg: Config{Rate: 100, Burst: 5, MaxInFlight: 1}, cands: 1, want: reasonInflight,
			before: func(t *testing.T, l *Limiter) { mustStep(t, l, 1) }},
		{name: "too many", cfg: Config{Rate: 100, Burst: 5, CandidatesPerMinute: 10}, cands: 11, want: reasonTooMany},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := setup(t).limiter(t, tc.cfg)
			if tc.before != nil {
				tc.before(t, l)
			}
			res, err := l.step(ctx, tc.cands)
			if err != nil {
				t.Fatal(err)
			}
			if res.reason != tc.want || res.ok != (tc.want == reasonOK) {
				t.Errorf("step: ok %v, reason %q; want reason %q", res.ok, res.reason, tc.want)
			}
		})
	}
}

// mustStep takes one grant of the shared stage for a request of cands candidates.
func mustStep(t *testing.T, l *Limiter, cands int) {
	t.Helper()
	res, err := l.step(context.Background(), cands)
	if err != nil || !res.ok {
		t.Fatalf("step: %+v, %v; want a grant", res, err)
	}
}
