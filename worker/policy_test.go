package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// The fakes of the interfaces a Worker talks to, as structs of function fields and
// call records (no generated mocks).

type fakeSender struct {
	invite func(*payload.InviteRequest) ([]flowmingo.CandidateResult, error)
	mu     sync.Mutex
	sent   int
}

var _ Sender = (*fakeSender)(nil)

func (f *fakeSender) Invite(_ context.Context, req *payload.InviteRequest) ([]flowmingo.CandidateResult, error) {
	f.mu.Lock()
	f.sent++
	f.mu.Unlock()
	return f.invite(req)
}

type fakeLimiter struct {
	mu        sync.Mutex
	throttled []time.Duration
}

var _ Limiter = (*fakeLimiter)(nil)

func (f *fakeLimiter) Acquire(context.Context, int) (func(), error) { return func() {}, nil }
func (f *fakeLimiter) Succeeded(context.Context)                    {}
func (f *fakeLimiter) Throttled(_ context.Context, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttled = append(f.throttled, d)
	return nil
}

type fakeQueue struct {
	mu    sync.Mutex
	tasks []*task.Chunk
}

var _ Enqueuer = (*fakeQueue)(nil)

func (f *fakeQueue) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	c, err := task.DecodeChunk(t.Payload())
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tasks = append(f.tasks, c)
	return &asynq.TaskInfo{}, nil
}

// fakeObserver counts what the worker reports.
type fakeObserver struct {
	mu       sync.Mutex
	outcomes map[payload.Outcome]int
	reasons  map[payload.Reason]int
	requests map[int]int
	waits    int
	inFlight int
}

var _ Observer = (*fakeObserver)(nil)

func newFakeObserver() *fakeObserver {
	return &fakeObserver{outcomes: map[payload.Outcome]int{}, reasons: map[payload.Reason]int{}, requests: map[int]int{}}
}

func (f *fakeObserver) Outcomes(o payload.Outcome, n int) {
	f.mu.Lock()
	f.outcomes[o] += n
	f.mu.Unlock()
}
func (f *fakeObserver) DeadLettered(r payload.Reason, n int) {
	f.mu.Lock()
	f.reasons[r] += n
	f.mu.Unlock()
}
func (f *fakeObserver) APIRequest(status int)       { f.mu.Lock(); f.requests[status]++; f.mu.Unlock() }
func (f *fakeObserver) RateLimitWait(time.Duration) { f.mu.Lock(); f.waits++; f.mu.Unlock() }
func (f *fakeObserver) InFlight(d int)              { f.mu.Lock(); f.inFlight += d; f.mu.Unlock() }

type fakePauser struct{ paused []string }

func (f *fakePauser) PauseQueue(q string) error { f.paused = append(f.paused, q); return nil }

func (f *fakePauser) UnpauseQueue(string) error { return nil }

// testBundle is a worker over an in-memory Redis and the fakes.
type testBundle struct {
	mr     *miniredis.Miniredis
	rdb    *redis.Client
	w      *Worker
	st     *store.Store
	sender *fakeSender
	lim    *fakeLimiter
	queue  *fakeQueue
	pauser *fakePauser
	obs    *fakeObserver
}

var policyTarget = payload.Target{InterviewSetID: "019c5ea9-a792-7f0d-b671-4c3c1602094e"}

func setup(t *testing.T, cfg Config, sendErr error) *testBundle {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	b := &testBundle{
		mr:     mr,
		rdb:    rdb,
		st:     store.New(rdb, store.Config{}),
		sender: &fakeSender{invite: func(*payload.InviteRequest) ([]flowmingo.CandidateResult, error) { return nil, sendErr }},
		lim:    &fakeLimiter{},
		queue:  &fakeQueue{},
		pauser: &fakePauser{},
		obs:    newFakeObserver(),
	}
	w, err := New(Deps{Store: b.st, Queue: b.queue, Sender: b.sender, Limiter: b.lim, Pauser: b.pauser, Observer: b.obs,
		Key: flowmingo.NewAPIKey("fl_live_unit.secret"), Log: zap.NewNop()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.queues = []string{task.QueueDefault}
	b.w = w
	return b
}

// chunk imports n candidates as batch "b" and returns its one chunk task.
func (b *testBundle) chunk(t *testing.T, n int) *asynq.Task {
	t.Helper()
	ctx := context.Background()
	cands := make([]task.Candidate, n)
	for i := range cands {
		cands[i] = task.Candidate{Seq: int64(i), Candidate: payload.Candidate{Email: fmt.Sprintf("p%d@example.com", i)}}
	}
	job := task.Job{Target: policyTarget}
	if _, _, err := b.st.CreateBatch(ctx, store.Meta{ID: "b", Job: job, SegmentSize: n}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.st.AdmitSegment(ctx, "b", 0, cands, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := b.st.Seal(ctx, "b", 1, ""); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(task.Chunk{V: task.VersionInline, BatchID: "b", Job: job, Candidates: cands})
	if err != nil {
		t.Fatal(err)
	}
	return asynq.NewTask(task.TypeChunk, body)
}

func (b *testBundle) states(t *testing.T, n int) []store.CandidateState {
	t.Helper()
	cands := make([]task.Candidate, n)
	for i := range cands {
		cands[i].Seq = int64(i)
	}
	s, err := b.st.States(context.Background(), "b", cands)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (b *testBundle) reasons(t *testing.T) map[payload.Reason]int {
	t.Helper()
	out := map[payload.Reason]int{}
	err := b.st.DeadLetters(context.Background(), store.Filter{}, func(d *store.DeadLetter) error { out[d.Reason]++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHandleSendError drives every branch of the worker's rule for a failed
// request (docs/vendor-api.md) through a fake vendor, and checks what is recorded,
// what is handed back to asynq, and what the sent marks say afterwards.
func TestHandleSendError(t *testing.T) {
	t.Parallel()
	const n = 3
	tests := []struct {
		name   string
		cfg    Config
		err    error
		cancel bool // the handler's context ends while the request is out
		check  func(t *testing.T, b *testBundle, ret error)
	}{
		{
			name: "429 shares the cool-down and waits without an attempt",
			err:  &flowmingo.RateLimitError{RetryAfter: 7 * time.Second},
			check: func(t *testing.T, b *testBundle, ret error) {
				var p *PauseError
				if !errors.As(ret, &p) || p.After != 7*time.Second || IsFailure(ret) {
					t.Errorf("returned %v, want a 7s pause that is no failure", ret)
				}
				if fmt.Sprint(b.lim.throttled) != "[7s]" {
					t.Errorf("throttled %v, want [7s]", b.lim.throttled)
				}
				wantStates(t, b, n, store.Open)
			},
		},
		{
			name: "401/403 stops every worker and pauses the queues",
			err:  &flowmingo.AuthError{StatusCode: 403, Message: "scope missing"},
			check: func(t *testing.T, b *testBundle, ret error) {
				var p *PauseError
				if !errors.As(ret, &p) {
					t.Errorf("returned %v, want a pause", ret)
				}
				stop, _ := b.st.AuthStopped(context.Background(), b.w.key.ID())
				if stop == nil || stop.Status != 403 || stop.Key != "fl_live_unit.****" {
					t.Errorf("auth stop %+v", stop)
				}
				if fmt.Sprint(b.pauser.paused) != "[default]" {
					t.Errorf("paused %v", b.pauser.paused)
				}
				wantStates(t, b, n, store.Open)
				wantReasons(t, b, map[payload.Reason]int{})
			},
		},
		{
			name: "404 dead-letters the chunk as target_not_found",
			err:  &flowmingo.NotFoundError{Message: "no such interview set"},
			check: func(t *testing.T, b *testBundle, ret error) {
				if ret != nil {
					t.Errorf("returned %v", ret)
				}
				wantStates(t, b, n, store.Decided)
				wantReasons(t, b, map[payload.Reason]int{payload.ReasonTargetNotFound: n})
			},
		},
		{
			name: "413 splits the chunk in two",
			err:  &flowmingo.TooLargeError{},
			check: func(t *testing.T, b *testBundle, ret error) {
				if ret != nil || len(b.queue.tasks) != 2 || len(b.queue.tasks[0].Candidates)+len(b.queue.tasks[1].Candidates) != n {
					t.Errorf("returned %v, enqueued %d tasks", ret, len(b.queue.tasks))
				}
				wantStates(t, b, n, store.Open)
			},
		},
		{
			name: "422 naming a candidate dead-letters it and sends the rest",
			err: &flowmingo.ValidationError{StatusCode: 422, Message: "bad email",
				Fields: []flowmingo.FieldError{{Field: "candidates[1].email", Candidate: 1, Message: "bad email"}}},
			check: func(t *testing.T, b *testBundle, ret error) {
				if ret != nil || len(b.queue.tasks) != 1 || len(b.queue.tasks[0].Candidates) != n-1 {
					t.Errorf("returned %v, enqueued %+v", ret, b.queue.tasks)
				}
				wantReasons(t, b, map[payload.Reason]int{payload.ReasonValidation: 1})
			},
		},
		{
			name: "a refused connection is retried, the marks taken back",
			err:  &flowmingo.TransientError{Err: errors.New("connection refused")},
			check: func(t *testing.T, b *testBundle, ret error) {
				if ret == nil || !IsFailure(ret) {
					t.Errorf("returned %v, want a failure to retry", ret)
				}
				wantStates(t, b, n, store.Open)
			},
		},
		{
			name: "a 5xx is retried at least once, the marks kept",
			err:  &flowmingo.TransientError{StatusCode: 503, Ambiguous: true},
			check: func(t *testing.T, b *testBundle, ret error) {
				if ret == nil || !IsFailure(ret) {
					t.Errorf("returned %v, want a failure to retry", ret)
				}
				wantStates(t, b, n, store.Sending)
			},
		},
		{
			name: "a 5xx at most once dead-letters as unknown_outcome",
			cfg:  Config{OnUnknown: OnUnknownDeadLetter},
			err:  &flowmingo.TransientError{StatusCode: 504, Ambiguous: true},
			check: func(t *testing.T, b *testBundle, ret error) {
				if ret != nil {
					t.Errorf("returned %v", ret)
				}
				wantReasons(t, b, map[payload.Reason]int{payload.ReasonUnknownOutcome: n})
			},
		},
		{
			name: "a 5xx at most once that the operator calls retry-safe is retried, the marks taken back",
			cfg:  Config{OnUnknown: OnUnknownDeadLetter, RetrySafeStatuses: []int{503}},
			err:  &flowmingo.TransientError{StatusCode: 503, Ambiguous: true},
			check: func(t *testing.T, b *testBundle, ret error) {
				if ret == nil || !IsFailure(ret) {
					t.Errorf("returned %v, want a failure to retry", ret)
				}
				wantStates(t, b, n, store.Open)
				wantReasons(t, b, map[payload.Reason]int{})
			},
		},
		{
			name: "a 5xx at most once not called retry-safe stays unknown_outcome",
			cfg:  Config{OnUnknown: OnUnknownDeadLetter, RetrySafeStatuses: []int{503}},
			err:  &flowmingo.TransientError{StatusCode: 502, Ambiguous: true},
			check: func(t *testing.T, b *testBundle, ret error) {
				if ret != nil {
					t.Errorf("returned %v", ret)
				}
				wantReasons(t, b, map[payload.Reason]int{payload.ReasonUnknownOutcome: n})
			},
		},
		{
			name: "the last attempt dead-letters as retries_exhausted",
			cfg:  Config{MaxAttempts: 1},
			err:  &flowmingo.TransientError{StatusCode: 500, Ambiguous: true},
			check: func(t *testing.T, b *testBundle, ret error) {
				if ret != nil {
					t.Errorf("returned %v", ret)
				}
				wantReasons(t, b, map[payload.Reason]int{payload.ReasonRetriesExhausted: n})
			},
		},
		{
			name:   "interrupted mid-request at most once: unknown_outcome at once",
			cfg:    Config{OnUnknown: OnUnknownDeadLetter},
			cancel: true,
			check: func(t *testing.T, b *testBundle, ret error) {
				if ret != nil {
					t.Errorf("returned %v", ret)
				}
				wantReasons(t, b, map[payload.Reason]int{payload.ReasonUnknownOutcome: n})
			},
		},
		{
			name:   "interrupted mid-request at least once: back to the queue, marks kept",
			cancel: true,
			check: func(t *testing.T, b *testBundle, ret error) {
				if ret == nil || !errors.Is(ret, context.Canceled) || IsFailure(ret) {
					t.Errorf("returned %v, want an interruption that is no failure", ret)
				}
				wantStates(t, b, n, store.Sending)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.cfg, tt.err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				// The vendor took the request; then a shutdown's timeout, or the
				// task's lease, ran out before the answer: the outcome is unknown.
				b.sender.invite = func(*payload.InviteRequest) ([]flowmingo.CandidateResult, error) {
					cancel()
					return nil, &flowmingo.TransientError{Ambiguous: true, Err: context.Canceled}
				}
			}
			ret := b.w.HandleChunk(ctx, b.chunk(t, n))
			tt.check(t, b, ret)
		})
	}
}

func wantStates(t *testing.T, b *testBundle, n int, want store.CandidateState) {
	t.Helper()
	for i, s := range b.states(t, n) {
		if s != want {
			t.Errorf("seq %d state %d, want %d", i, s, want)
		}
	}
}

func wantReasons(t *testing.T, b *testBundle, want map[payload.Reason]int) {
	t.Helper()
	if got := b.reasons(t); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("dead letters by reason %v, want %v", got, want)
	}
}

// TestObserver: the Observer hears of every request with its status (0 for no
// answer), every wait, and each new outcome once, however often a chunk runs.
func TestObserver(t *testing.T) {
	t.Parallel()
	const n = 3
	mixed := func(*payload.InviteRequest) ([]flowmingo.CandidateResult, error) {
		return []flowmingo.CandidateResult{{Kind: flowmingo.Invited}, {Kind: flowmingo.CVQueued},
			{Kind: flowmingo.Failed, Reason: payload.ReasonInvitationError}}, nil
	}
	tests := []struct {
		name     string
		err      error
		invite   func(*payload.InviteRequest) ([]flowmingo.CandidateResult, error)
		requests string
		outcomes string
		reasons  string
	}{
		{name: "a 200 with a result each", invite: mixed, requests: "map[200:1]",
			outcomes: "map[cv_queued:1 dead_lettered:1 invited:1]", reasons: "map[invitation_error:1]"},
		{name: "a 404", err: &flowmingo.NotFoundError{}, requests: "map[404:1]",
			outcomes: "map[dead_lettered:3]", reasons: "map[target_not_found:3]"},
		{name: "no answer, twice", err: &flowmingo.TransientError{Err: errors.New("connection refused")}, requests: "map[0:2]",
			outcomes: "map[]", reasons: "map[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{}, tt.err)
			if tt.invite != nil {
				b.sender.invite = tt.invite
			}
			chunk := b.chunk(t, n)
			for range 2 { // the second run finds decided candidates: nothing new
				_ = b.w.HandleChunk(context.Background(), chunk)
			}
			o := b.obs
			if got := fmt.Sprint(o.requests); got != tt.requests {
				t.Errorf("requests %s, want %s", got, tt.requests)
			}
			if got := fmt.Sprint(o.outcomes); got != tt.outcomes {
				t.Errorf("outcomes %s, want %s", got, tt.outcomes)
			}
			if got := fmt.Sprint(o.reasons); got != tt.reasons {
				t.Errorf("dead letters %s, want %s", got, tt.reasons)
			}
			if o.waits != b.sender.sent || o.inFlight != 0 {
				t.Errorf("%d waits for %d requests, %d still in flight", o.waits, b.sender.sent, o.inFlight)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	const lo, hi = 2 * time.Second, 5 * time.Minute
	tests := []struct {
		name   string
		n      int
		jitter float64
		want   time.Duration
	}{
		{"first retry, no jitter: half the floor, raised to the floor", 0, 0, lo},
		{"first retry, most jitter: still the floor", 0, 0.999, lo},
		{"third retry, no jitter: half of 8s", 2, 0, 4 * time.Second},
		{"third retry, half jitter", 2, 0.5, 6 * time.Second},
		{"past the ceiling: half of it at least", 20, 0, hi / 2},
		{"past the ceiling, most jitter: just under it", 20, 0.999999, hi - 150*time.Microsecond},
		{"huge n does not overflow", 1 << 20, 0.5, hi / 2 * 3 / 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Backoff(tt.n, lo, hi, tt.jitter)
			if got < lo || got > hi {
				t.Fatalf("Backoff(%d, jitter %v) = %v, outside [%v, %v]", tt.n, tt.jitter, got, lo, hi)
			}
			if d := got - tt.want; d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("Backoff(%d, jitter %v) = %v, want %v", tt.n, tt.jitter, got, tt.want)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	cfg := Config{RetryMin: time.Second, RetryMax: time.Minute}
	tests := []struct {
		name     string
		err      error
		min, max time.Duration
	}{
		{"a pause waits what it says", &PauseError{After: 42 * time.Second}, 42 * time.Second, 42 * time.Second},
		{"a pause waits at least a second", &PauseError{After: time.Millisecond}, time.Second, time.Second},
		{"a failure backs off within the bounds", errors.New("boom"), time.Second, time.Minute},
		{"a Retry-After longer than the backoff is honoured", &flowmingo.TransientError{StatusCode: 503, RetryAfter: 50 * time.Second}, 50 * time.Second, 50 * time.Second},
		{"a Retry-After is capped at RetryMax", &flowmingo.TransientError{StatusCode: 503, RetryAfter: time.Hour}, time.Minute, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for range 20 { // the backoff is jittered
				if got := cfg.RetryDelay(0, tt.err, nil); got < tt.min || got > tt.max {
					t.Fatalf("RetryDelay(%v) = %v, want within [%v, %v]", tt.err, got, tt.min, tt.max)
				}
			}
		})
	}
}

func TestIsFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{&PauseError{After: time.Second}, false},
		{fmt.Errorf("wrapped: %w", &PauseError{}), false},
		{fmt.Errorf("chunk interrupted: %w", context.Canceled), false},
		{errors.New("HTTP 500"), true},
		{fmt.Errorf("chunk timed out: %w", context.DeadlineExceeded), true},
	}
	for _, tt := range tests {
		if got := IsFailure(tt.err); got != tt.want {
			t.Errorf("IsFailure(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
