package worker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
)

// gateLimiter holds every request at Acquire until the test opens the gate, and
// says on arrived when one is waiting: so that two runs of one candidate can be
// granted at once.
type gateLimiter struct {
	fakeLimiter
	arrived chan struct{}
	gate    chan struct{}
}

func newGateLimiter() *gateLimiter {
	return &gateLimiter{arrived: make(chan struct{}, 16), gate: make(chan struct{})}
}

func (g *gateLimiter) Acquire(ctx context.Context, _ int) (func(), error) {
	g.arrived <- struct{}{}
	select {
	case <-g.gate:
		return func() {}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// inviteAll answers a 200 inviting every candidate of the request.
func inviteAll(req *payload.InviteRequest) ([]flowmingo.CandidateResult, error) {
	out := make([]flowmingo.CandidateResult, len(req.Candidates))
	for i := range out {
		out[i] = flowmingo.CandidateResult{Kind: flowmingo.Invited}
	}
	return out, nil
}

// TestOneSenderPerCandidate runs one chunk twice at once, as a re-run of an import
// during a split, an older producer's segment run twice or a task re-queued by a
// skewed recoverer do, with a limiter that grants both runs together: the vendor
// must get one request, and every candidate one outcome.
func TestOneSenderPerCandidate(t *testing.T) {
	t.Parallel()
	const n = 3
	for _, tt := range []struct {
		name string
		// between runs between the first run's arrival at the limiter and the
		// second run's start.
		between func(t *testing.T, b *testBundle)
	}{
		{name: "two live runs", between: func(*testing.T, *testBundle) {}},
		{
			// The claims are gone (run out while the first run was held, or lost in a
			// failover): the sent mark must still let only one run send.
			name: "claims gone",
			between: func(t *testing.T, b *testBundle) {
				for _, k := range b.mr.Keys() {
					if strings.HasSuffix(k, ":claims") {
						b.mr.Del(k)
					}
				}
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, mode := range []string{OnUnknownRetry, OnUnknownDeadLetter} {
				b := setup(t, Config{OnUnknown: mode}, nil)
				b.sender.invite = inviteAll
				lim := newGateLimiter()
				b.w.limiter = lim
				tk := b.chunk(t, n)
				ctx := context.Background()

				var wg sync.WaitGroup
				rets := make([]error, 2)
				returned := make(chan struct{}, 2)
				start := func(i int) {
					wg.Add(1)
					go func() {
						defer wg.Done()
						rets[i] = b.w.HandleChunk(ctx, tk)
						returned <- struct{}{}
					}()
				}
				start(0)
				<-lim.arrived
				tt.between(t, b)
				start(1)
				// The second run either reaches the limiter too or gives up before it.
				select {
				case <-lim.arrived:
				case <-returned:
					returned <- struct{}{}
				case <-time.After(10 * time.Second):
					t.Fatal("the second run neither reached the limiter nor returned")
				}
				close(lim.gate)
				wg.Wait()

				if b.sender.sent != 1 {
					t.Errorf("%s: the vendor got %d requests for one chunk run twice, want 1 (returned %v)", mode, b.sender.sent, rets)
				}
				wantStatesOf(t, b, n, store.Decided, store.Sending)
				bt, err := b.st.Batch(ctx, "b")
				if err != nil {
					t.Fatal(err)
				}
				if bt.Invited != n || bt.DeadLettered != 0 {
					t.Errorf("%s: invited %d, dead-lettered %d, want %d and 0", mode, bt.Invited, bt.DeadLettered, n)
				}
			}
		})
	}
}

// wantStatesOf fails unless each candidate is in state want (or, for a run that
// came back for its candidates, still may be).
func wantStatesOf(t *testing.T, b *testBundle, n int, want store.CandidateState, notWant store.CandidateState) {
	t.Helper()
	for i, s := range b.states(t, n) {
		if s != want || s == notWant {
			t.Errorf("seq %d state %d, want %d", i, s, want)
		}
	}
}

// TestLimiterWaitIsNoAttempt: a chunk that waits for the rate limiter until its
// time is nearly up hands itself back before asynq's deadline, as a wait, so that
// at a low or adaptive rate a chunk cannot spend its attempts without sending.
func TestLimiterWaitIsNoAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{}, nil)
	b.sender.invite = inviteAll
	lim := newGateLimiter() // never opened
	b.w.limiter = lim
	// Long enough that a loaded machine reaches the limiter well before half of it.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ret := b.w.HandleChunk(ctx, b.chunk(t, 3))
	if ctx.Err() != nil {
		t.Errorf("the handler returned after its deadline (asynq counts that as a failed attempt): %v", ret)
	}
	if ret == nil || IsFailure(ret) {
		t.Errorf("returned %v, want a wait that is no failure", ret)
	}
	if b.sender.sent != 0 {
		t.Errorf("sent %d requests", b.sender.sent)
	}
	wantStates(t, b, 3, store.Open)
}

// failOnce makes the first command for which match is true fail after Redis ran
// it: a reply lost, or a WAIT that timed out, after the write was made.
type failOnce struct {
	mu    sync.Mutex
	match func(redis.Cmder) bool
	done  bool
}

func (f *failOnce) DialHook(next redis.DialHook) redis.DialHook { return next }
func (f *failOnce) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (f *failOnce) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		f.mu.Lock()
		defer f.mu.Unlock()
		if err == nil && !f.done && f.match(cmd) {
			f.done = true
			cmd.SetErr(errors.New("i/o timeout (injected after the write)"))
			return cmd.Err()
		}
		return err
	}
}

// scriptOn matches a script run one of whose keys ends in suffix.
func scriptOn(suffix string) func(redis.Cmder) bool {
	return func(cmd redis.Cmder) bool {
		a := cmd.Args()
		name := strings.ToLower(cmd.Name())
		if (name != "evalsha" && name != "eval") || len(a) < 4 {
			return false
		}
		n, _ := a[2].(int)
		for _, k := range a[3:min(3+n, len(a))] {
			if k, _ := k.(string); strings.HasSuffix(k, suffix) {
				return true
			}
		}
		return false
	}
}

// TestFailedWriteLeavesNoSentMark: when the write of the sent marks, or of the
// auth stop after a 401/403, fails after Redis made it, the marks of candidates
// never sent are taken back, so that the next attempt at most once sends them
// instead of dead-lettering them as unknown_outcome.
func TestFailedWriteLeavesNoSentMark(t *testing.T) {
	t.Parallel()
	const n = 3
	for _, tt := range []struct {
		name   string
		match  func(redis.Cmder) bool
		first  error // the vendor's first answer
		sent   int   // requests at the vendor in the first attempt
		states store.CandidateState
	}{
		{name: "sent mark", match: scriptOn("}:st"), sent: 0},
		{name: "auth stop", match: scriptOn("{authstop}"), first: &flowmingo.AuthError{StatusCode: 401, Message: "bad key"}, sent: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{OnUnknown: OnUnknownDeadLetter}, nil)
			answers := []error{tt.first}
			b.sender.invite = func(req *payload.InviteRequest) ([]flowmingo.CandidateResult, error) {
				if len(answers) > 0 && answers[0] != nil {
					err := answers[0]
					answers = answers[1:]
					return nil, err
				}
				return inviteAll(req)
			}
			tk := b.chunk(t, n)
			b.rdb.AddHook(&failOnce{match: tt.match})
			ctx := context.Background()
			if ret := b.w.HandleChunk(ctx, tk); ret == nil {
				t.Fatal("the first attempt returned nil, want the write's error")
			}
			if b.sender.sent != tt.sent {
				t.Fatalf("first attempt: %d requests, want %d", b.sender.sent, tt.sent)
			}
			wantStates(t, b, n, store.Open)
			if _, err := b.st.ResumeAuth(ctx); err != nil {
				t.Fatal(err)
			}
			b.w.forgetAuthClear()
			if ret := b.w.HandleChunk(ctx, tk); ret != nil {
				t.Fatalf("second attempt: %v", ret)
			}
			wantReasons(t, b, map[payload.Reason]int{})
			bt, err := b.st.Batch(ctx, "b")
			if err != nil {
				t.Fatal(err)
			}
			if bt.Invited != n {
				t.Errorf("invited %d, want %d", bt.Invited, n)
			}
		})
	}
}
