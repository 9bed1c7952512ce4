package activity

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bulkinvite/bulkinvite/internal/redistest"
)

const prefix = "bulkinvite:"

// testBundle is a private Redis and a fixed clock.
type testBundle struct {
	rdb redis.UniversalClient
	now time.Time
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	// 20 min 34 s into this hour, 4 s into a bucket: the keys' expiry, at the end
	// of the next hour, is ahead.
	now := time.Now().Truncate(time.Hour).Add(1234 * time.Second)
	return &testBundle{rdb: startRedis(t), now: now}
}

// startRedis starts a private redis-server for tb and returns a client of it.
func startRedis(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	return redistest.Start(tb, redistest.Options{}).Client()
}

func (tb *testBundle) recorder(at *time.Time) *Recorder {
	return NewRecorder(tb.rdb, prefix, Config{Now: func() time.Time { return *at }})
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		want   Kind
	}{
		{"ok", 200, Answered},
		{"another 2xx", 207, Answered},
		{"throttled", 429, Throttled},
		{"server error", 503, Failed},
		{"refused key", 401, Failed},
		{"bad request", 422, Failed},
		{"no answer", 0, Failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := KindOf(tc.status); got != tc.want {
				t.Errorf("KindOf(%d) = %v, want %v", tc.status, got, tc.want)
			}
		})
	}
}

// TestRecordersAddUp: two workers' recorders count into the same buckets, per
// batch and for the deployment, and the reader gives per-second rates; each key
// expires at the end of the next hour.
func TestRecordersAddUp(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	at := tb.now.Add(-30 * time.Second) // a complete bucket, 3 before the current one
	r1, r2 := tb.recorder(&at), tb.recorder(&at)
	for range 3 {
		r1.Request("nightly", 50, 200)
	}
	r1.Request("nightly", 50, 429)
	r2.Request("nightly", 20, 200)
	r2.Request("nightly", 50, 0)
	r2.Request("other", 7, 200)
	r2.Request("other", 7, 503)
	for _, r := range []*Recorder{r1, r2} {
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A second flush in the same bucket adds to it.
	r1.Request("nightly", 10, 200)
	if err := r1.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rd := NewReader(tb.rdb, prefix)
	for _, tc := range []struct {
		batch                string
		req, cand, thr, errs int64
	}{
		{"nightly", 7, 180, 1, 1},
		{"other", 2, 7, 0, 1},
		{"", 9, 187, 1, 2},
		{"unknown", 0, 0, 0, 0},
	} {
		s, err := rd.Read(ctx, tc.batch, tb.now)
		if err != nil {
			t.Fatal(err)
		}
		req, cand, thr, errs := s.Total()
		if req != tc.req || cand != tc.cand || thr != tc.thr || errs != tc.errs {
			t.Errorf("batch %q: totals %d requests, %d candidates, %d 429s, %d errors; want %d, %d, %d, %d",
				tc.batch, req, cand, thr, errs, tc.req, tc.cand, tc.thr, tc.errs)
		}
		if len(s.Requests) != Points || len(s.Candidates) != Points || len(s.Throttled) != Points || len(s.Errors) != Points {
			t.Fatalf("series of %d points, want %d", len(s.Requests), Points)
		}
		i := Points - 4
		if got, want := s.Candidates[i], float64(tc.cand)/10; got != want {
			t.Errorf("batch %q: %v candidates/s in their bucket, want %v", tc.batch, got, want)
		}
		if got, want := s.Requests[i], float64(tc.req)/10; got != want {
			t.Errorf("batch %q: %v requests/s in their bucket, want %v", tc.batch, got, want)
		}
	}
	hour := tb.now.Unix() / 3600
	for _, key := range []string{prefix + "{b:nightly}:act:" + itoa(hour), prefix + "activity:" + itoa(hour)} {
		exp, err := tb.rdb.ExpireTime(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Duration((hour + 2) * 3600 * int64(time.Second)); exp != want {
			t.Errorf("%s expires at %v, want the end of the next hour %v", key, exp, want)
		}
	}
	if n := tb.rdb.HLen(ctx, prefix+"{b:other}:act:"+itoa(hour)).Val(); n != 3 {
		t.Errorf("batch other's key has %d fields, want 3 (no 429 written)", n)
	}
}

// TestReadSpansTwoHours: the last hour is read from the keys of this hour and
// the one before; buckets older than an hour are left out.
func TestReadSpansTwoHours(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	var at time.Time
	r := tb.recorder(&at)
	for _, ago := range []time.Duration{0, 20 * time.Minute, 21 * time.Minute, 59*time.Minute + 50*time.Second, 61 * time.Minute} {
		at = tb.now.Add(-ago)
		r.Request("b", 1, 200)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := NewReader(tb.rdb, prefix).Read(ctx, "b", tb.now)
	if err != nil {
		t.Fatal(err)
	}
	if req, _, _, _ := s.Total(); req != 4 {
		t.Errorf("%d requests in the last hour, want 4 (one was 61 minutes ago)", req)
	}
	if s.Requests[0] == 0 || s.Requests[Points-1] == 0 {
		t.Errorf("first bucket %v/s, last %v/s: want both counted", s.Requests[0], s.Requests[Points-1])
	}
	// The bucket in progress is 4 s old: its one request is 0.25/s.
	if got := s.Candidates[Points-1]; got != 0.25 {
		t.Errorf("the bucket in progress: %v candidates/s, want 0.25", got)
	}
	if want := time.Unix(bucket(tb.now)*10, 0).Add(-time.Hour + Step); !s.Start.Equal(want) {
		t.Errorf("Start %v, want %v", s.Start, want)
	}
}

// TestRunFlushesOnStop: Run flushes every FlushEvery and once more when it
// stops, so that a worker's last requests are counted.
func TestRunFlushesOnStop(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	r := NewRecorder(tb.rdb, prefix, Config{FlushEvery: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	r.Request("b", 5, 200)
	cancel()
	<-done
	s, err := NewReader(tb.rdb, prefix).Read(context.Background(), "b", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, cand, _, _ := s.Total(); cand != 5 {
		t.Errorf("%d candidates after the last flush, want 5", cand)
	}
}

// TestFlushFailureIsLoggedAndDropped: with Redis gone a flush fails, is logged
// once, and its counts are not carried into the next flush.
func TestFlushFailureIsLoggedAndDropped(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.WarnLevel)
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	r := NewRecorder(client, prefix, Config{Log: zap.New(core), FlushTimeout: time.Second})
	r.Request("b", 1, 200)
	r.flushLogged(context.Background())
	r.Request("b", 1, 200)
	r.flushLogged(context.Background())
	if n := logs.Len(); n != 1 {
		t.Errorf("%d warnings for two failed flushes, want 1 (at most one a minute)", n)
	}
	if len(r.pending) != 0 {
		t.Errorf("%d buckets kept after failed flushes, want none", len(r.pending))
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Errorf("a flush with nothing to write: %v", err)
	}
	r.Request("b", 1, 200)
	if err := r.Flush(context.Background()); err == nil {
		t.Error("a flush without Redis succeeded")
	}
}

// TestMemory measures what the keys hold in Redis (the figures in the package
// doc): a batch of one candidate, and a batch that sends through a whole hour.
func TestMemory(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	hourStart := time.Unix(tb.now.Unix()/3600*3600, 0)
	at := hourStart
	r := tb.recorder(&at)
	r.Request("one", 1, 200)
	for i := range Points {
		at = hourStart.Add(time.Duration(i) * Step)
		r.Request("busy", 50, 200)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	hour := itoa(tb.now.Unix() / 3600)
	one := tb.rdb.MemoryUsage(ctx, prefix+"{b:one}:act:"+hour).Val()
	busy := tb.rdb.MemoryUsage(ctx, prefix+"{b:busy}:act:"+hour).Val()
	t.Logf("MEMORY USAGE: a one-candidate batch's key %d bytes; a batch sending for a whole hour %d bytes", one, busy)
	if one == 0 || one > 128 {
		t.Errorf("a one-candidate batch's key: %d bytes, want under 128", one)
	}
	if busy == 0 || busy > 64<<10 {
		t.Errorf("an hour's key: %d bytes, want under 64 KiB", busy)
	}
}

func TestCandidatesPerSecond(t *testing.T) {
	t.Parallel()
	start := time.Unix(1_000_000_000, 0)
	end := start.Add(time.Duration(Points) * Step)
	for _, tc := range []struct {
		name    string
		buckets map[int]counts // by buckets before the last
		pending int64
		rate    float64
		left    time.Duration
		ok      bool
	}{
		{"nothing sent", nil, 100, 0, 0, false},
		// 2/s for longer than the window: the buckets that end within it.
		{"steady for a while", steady(20), 240, 2, 2 * time.Minute, true},
		// 2/s for 25 s: not averaged with the quiet before.
		{"started 25 s ago", steady(2), 100, 2, 50 * time.Second, true},
		{"stopped long ago", map[int]counts{100: {requests: 5, candidates: 100}}, 100, 0, 0, false},
		{"throttled only", map[int]counts{0: {requests: 2, throttled: 2}, 1: {requests: 2, throttled: 2}}, 100, 0, 0, false},
		{"nothing pending", steady(2), 0, 2, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw := make([]counts, Points)
			for ago, c := range tc.buckets {
				raw[Points-1-ago] = c
			}
			// 5 s into the bucket in progress.
			s := newSeries(start, end.Add(-Step+5*time.Second), raw)
			if got := s.CandidatesPerSecond(Recent); got != tc.rate {
				t.Errorf("CandidatesPerSecond = %v, want %v", got, tc.rate)
			}
			left, ok := s.Left(tc.pending)
			if ok != tc.ok || left != tc.left {
				t.Errorf("Left(%d) = %v, %v; want %v, %v", tc.pending, left, ok, tc.left, tc.ok)
			}
		})
	}
}

// steady is 2 candidates/s for n complete buckets and the 5 s gone of the
// bucket in progress.
func steady(n int) map[int]counts {
	out := map[int]counts{0: {requests: 1, candidates: 10}}
	for i := 1; i <= n; i++ {
		out[i] = counts{requests: 2, candidates: 20}
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestConcurrentRequestsAndFlushes: requests counted while flushes run are
// each counted once (and -race sees no race).
func TestConcurrentRequestsAndFlushes(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	r := NewRecorder(tb.rdb, prefix, Config{})
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				r.Request("b", 2, 200)
			}
		}()
	}
	flushing := make(chan struct{})
	go func() {
		defer close(flushing)
		for range 50 {
			if err := r.Flush(ctx); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	<-flushing
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := NewReader(tb.rdb, prefix).Read(ctx, "b", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if req, cand, _, _ := s.Total(); req != 2000 || cand != 4000 {
		t.Errorf("%d requests, %d candidates; want 2000, 4000", req, cand)
	}
}
