package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable time for the parts that read Local.now or Limiter.now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestLocalRate(t *testing.T) {
	t.Parallel()
	cfg := Config{Rate: 200, Burst: 5}
	checkRate(t, cfg, timeGrants(t, 60, 4, NewLocal(cfg)), 0.8)
}

func TestLocalCooldown(t *testing.T) {
	t.Parallel()
	l := NewLocal(Config{Rate: 100, Burst: 5})
	start := time.Now()
	if err := l.Throttled(context.Background(), 200*time.Millisecond); err != nil {
		t.Fatalf("Throttled: %v", err)
	}
	mustAcquire(t, l, 1)()
	if waited := time.Since(start); waited < 190*time.Millisecond {
		t.Fatalf("Acquire returned %v after a 200ms cool-down", waited)
	}
}

func TestLocalInFlightCap(t *testing.T) {
	t.Parallel()
	l := NewLocal(Config{Rate: 1000, Burst: 10, MaxInFlight: 1})
	release := mustAcquire(t, l, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Acquire with one in flight = %v, want to block", err)
	}
	release()
	release()
	mustAcquire(t, l, 1)()
}

func TestLocalAdaptive(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l := NewLocal(Config{Rate: 20, Adaptive: true, AdaptiveDecrease: 0.5, AdaptiveIncrease: 5})
	l.now = clock.now
	eff := func() float64 {
		st, _ := l.State(context.Background())
		return st.EffectiveRate
	}
	_ = l.Throttled(context.Background(), time.Second)
	_ = l.Throttled(context.Background(), time.Second) // same episode
	if got := eff(); got != 10 {
		t.Fatalf("after one episode of 429s: %v, want 10", got)
	}
	if st, _ := l.State(context.Background()); st.Cooldown != time.Second {
		t.Fatalf("cool-down %v, want 1s", st.Cooldown)
	}
	l.Succeeded(context.Background()) // still holding
	if got := eff(); got != 10 {
		t.Fatalf("climbed during the hold: %v", got)
	}
	for _, want := range []float64{15, 20, 20} {
		clock.add(2 * time.Second)
		l.Succeeded(context.Background())
		l.Succeeded(context.Background()) // once per interval
		if got := eff(); got != want {
			t.Fatalf("climb: %v, want %v", got, want)
		}
	}
	if got := l.lim.Limit(); got != 20 {
		t.Fatalf("local limiter at %v, want 20", got)
	}
}

// TestLocalAdaptiveStreak: 429s each soon after the previous decrease square the
// factor again (0.9, 0.81, 0.6561); one three intervals after the hold is back to
// 0.9. The shared limiter does the same (TestAdaptiveSlowsNearTheLimitSeen).
func TestLocalAdaptiveStreak(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l := NewLocal(Config{Rate: 100, Adaptive: true, AdaptiveMin: 1})
	l.now = clock.now
	want := 100.0
	for i, f := range []float64{0.9, 0.81, 0.81 * 0.81, 0.9} {
		if i == 3 {
			clock.add(3 * time.Second) // past the hold and three intervals
		}
		_ = l.Throttled(context.Background(), time.Second)
		want *= f
		if st, _ := l.State(context.Background()); math.Abs(st.EffectiveRate-want) > 1e-9 {
			t.Fatalf("429 #%d: rate %v, want %v", i+1, st.EffectiveRate, want)
		}
		clock.add(2*time.Second + time.Millisecond) // past the hold of 1s + 1s
	}
}

func TestLocalCandidatesPerMinute(t *testing.T) {
	t.Parallel()
	l := NewLocal(Config{Rate: 1000, Burst: 10, CandidatesPerMinute: 100})
	mustAcquire(t, l, 60)()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(ctx, 60); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire over the cap = %v, want to block", err)
	}
	if _, err := l.Acquire(context.Background(), 101); !errors.Is(err, ErrTooManyCandidates) {
		t.Fatalf("Acquire(101) = %v, want ErrTooManyCandidates", err)
	}
	if st, _ := l.State(context.Background()); st.CandidatesLastMinute != 60 {
		t.Fatalf("State.CandidatesLastMinute = %d, want 60", st.CandidatesLastMinute)
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	base := time.Unix(1_800_000_000, 0)
	at := func(sec float64) time.Time { return base.Add(time.Duration(sec * float64(time.Second))) }
	tests := []struct {
		name  string
		adds  map[float64]int // time -> candidates
		now   float64
		n     int
		want  time.Duration
		limit int
	}{
		{name: "empty", now: 0, n: 100, limit: 100, want: 0},
		{name: "fits", adds: map[float64]int{0: 50}, now: 1, n: 50, limit: 100, want: 0},
		{name: "one over waits for the bucket to leave", adds: map[float64]int{0: 50}, now: 1, n: 51, limit: 100, want: 60 * time.Second},
		{name: "oldest bucket enough", adds: map[float64]int{0: 30, 10: 30}, now: 20.5, n: 50, limit: 100, want: 40500 * time.Millisecond},
		{name: "needs two buckets", adds: map[float64]int{0: 30, 10: 30}, now: 20.5, n: 80, limit: 100, want: 50500 * time.Millisecond},
		{name: "61 seconds later the window is empty", adds: map[float64]int{0: 100}, now: 61, n: 100, limit: 100, want: 0},
		{name: "60 seconds later it is not", adds: map[float64]int{0: 100}, now: 60.9, n: 1, limit: 100, want: 100 * time.Millisecond},
		{name: "larger than the cap goes alone", now: 5, n: 500, limit: 100, want: 0},
		{name: "no cap", adds: map[float64]int{0: 1000}, now: 1, n: 1000, limit: 0, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var w window
			for _, sec := range []float64{0, 10} {
				if n, ok := tt.adds[sec]; ok {
					w.add(at(sec), n)
				}
			}
			if got := w.wait(at(tt.now), tt.n, tt.limit); got != tt.want {
				t.Fatalf("wait = %v, want %v", got, tt.want)
			}
		})
	}
	var w window
	for s := range 20 {
		w.add(at(float64(s)), 2)
	}
	if rate, cands := w.observed(at(20), 10); rate != 1 || cands != 40 {
		t.Fatalf("observed = %v/s, %d candidates; want 1/s, 40", rate, cands)
	}
	if rate, cands := w.observed(at(200), 10); rate != 0 || cands != 0 {
		t.Fatalf("observed long after = %v/s, %d; want 0, 0", rate, cands)
	}
}

// Local and Limiter offer the worker the same methods.
var _ interface {
	Acquire(context.Context, int) (func(), error)
	Throttled(context.Context, time.Duration) error
	Succeeded(context.Context)
	State(context.Context) (State, error)
} = (*Local)(nil)

var _ interface {
	Acquire(context.Context, int) (func(), error)
	Throttled(context.Context, time.Duration) error
	Succeeded(context.Context)
	State(context.Context) (State, error)
} = (*Limiter)(nil)

func ExampleNewLocal() {
	l := NewLocal(Config{Rate: 20, Burst: 5, MaxInFlight: 8})
	ctx := context.Background()
	release, err := l.Acquire(ctx, 50) // one request carrying 50 candidates
	if err != nil {
		fmt.Println("no slot:", err)
		return
	}
	// ... send the request; on a 429: l.Throttled(ctx, retryAfter); on success: l.Succeeded(ctx)
	release()
	st, _ := l.State(ctx)
	fmt.Printf("rate %v/s, burst %d, in flight %d of %d\n", st.Rate, st.Burst, st.InFlight, st.MaxInFlight)
	// Output: rate 20/s, burst 5, in flight 0 of 8
}

// TestLocalAdaptiveLearnsTheLimit: as the shared limiter, a 429 soon after the
// last lowers the rate to the vendor's accepted requests since the cool-down
// ended, less the burst, over the time since (not by the squared factor).
func TestLocalAdaptiveLearnsTheLimit(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l := NewLocal(Config{Rate: 40, Burst: 5, Adaptive: true})
	l.now = clock.now
	_ = l.Throttled(context.Background(), time.Second)
	if l.eff != 36 {
		t.Fatalf("after the first 429: %v, want 36", l.eff)
	}
	clock.add(time.Second) // the cool-down ends: the vendor's bucket is full again
	for range 12 {
		clock.add(26 * time.Millisecond)
		mustAcquire(t, l, 1)()
	}
	_ = l.Throttled(context.Background(), time.Second) // the 12th refused
	if want := 6 / 0.312; math.Abs(l.eff-want) > 1e-9 {
		t.Fatalf("after a 429 with 11 accepted in 312ms: %v, want (11-5)/0.312 = %v, not 36*0.81", l.eff, want)
	}
}

func TestAdaptiveDecrease(t *testing.T) {
	t.Parallel()
	cfg := Config{Rate: 40, Burst: 5, Adaptive: true}.withDefaults()
	ms := time.Millisecond
	tests := []struct {
		name       string
		r          float64
		streak, ok int
		span       time.Duration
		rate, seen float64
	}{
		{"start-up: learnt from 11 accepted in 310ms", 36, 1, 11, 310 * ms, 6 / 0.31, 7 / 0.31},
		{"start-up: no more than the burst accepted: squared factor", 36, 1, 5, 300 * ms, 36 * 0.81, 36},
		{"start-up: too soon to tell (under a tenth of the interval)", 36, 1, 11, 90 * ms, 36 * 0.81, 36},
		{"start-up: never below half at once", 36, 1, 8, time.Second, 18, 18},
		{"deep streak: the factor when it is below half", 36, 3, 8, time.Second, 36 * math.Pow(0.9, 8), 36 * math.Pow(0.9, 8)},
		{"settled: just under the limit the grants show", 20.7, 0, 600, 30 * time.Second, 595.0 / 30, 596.0 / 30},
		{"settled: at least 2% off", 20, 0, 605, 30 * time.Second, 19.6, 20},
		{"settled: at most the factor", 20, 0, 300, 30 * time.Second, 18, 18},
		{"settled: nothing to learn", 20, 0, 0, 0, 18, 20},
		{"floor", 4.2, 1, 0, 0, 4, 4.2},
	}
	for _, tt := range tests {
		rate, seen := adaptiveDecrease(tt.r, tt.streak, tt.ok, tt.span, cfg)
		if math.Abs(rate-tt.rate) > 1e-9 || math.Abs(seen-tt.seen) > 1e-9 {
			t.Errorf("%s: adaptiveDecrease(%v, %d, %d, %v) = %v, %v; want %v, %v",
				tt.name, tt.r, tt.streak, tt.ok, tt.span, rate, seen, tt.rate, tt.seen)
		}
	}
}

func TestAdaptiveStep(t *testing.T) {
	t.Parallel()
	tests := []struct{ r, seen, want float64 }{
		{10, 0, 1},        // no limit seen
		{15.9, 20, 1},     // far below it
		{16, 20, 1},       // half the distance, at most the whole step
		{19, 20, 0.5},     // half the distance
		{19.95, 20, 0.05}, // at least a twentieth
		{20, 20, 0.02},    // over it: a fiftieth
		{20.99, 20, 0.02},
		{21, 20, 1}, // 5% over: the limit rose
	}
	for _, tt := range tests {
		if got := adaptiveStep(tt.r, tt.seen, 1); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("adaptiveStep(%v, %v, 1) = %v, want %v", tt.r, tt.seen, got, tt.want)
		}
	}
}
