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
