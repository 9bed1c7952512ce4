package worker

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// TestAuthStopRecheck: a worker reads the auth stop at most once every
// AuthStopRecheck while there is none, sees a stop written elsewhere within that
// time, sees its own stop and a resume at once, and never trusts a stop.
func TestAuthStopRecheck(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	st := store.New(rdb, store.Config{})
	key := flowmingo.NewAPIKey("fl_live_unit.secret")
	at := time.Unix(1_800_000_000, 0)
	w := &Worker{store: st, key: key, now: func() time.Time { return at }}
	ctx := context.Background()
	stopped := func(when string, want bool) {
		t.Helper()
		stop, err := w.authStop(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if (stop != nil) != want {
			t.Errorf("%s: stopped = %v, want %v", when, stop != nil, want)
		}
	}
	stopped("at start", false)
	// Another worker stops the key: this one trusts its last read a little longer.
	if err := st.StopAuth(ctx, key.ID(), key.Masked(), 401, "expired"); err != nil {
		t.Fatal(err)
	}
	stopped("just after another worker's stop", false)
	at = at.Add(AuthStopRecheck)
	stopped("AuthStopRecheck later", true)
	// A stop is read again at every look: a resume is seen at once.
	if _, err := w.store.ResumeAuth(ctx); err != nil {
		t.Fatal(err)
	}
	stopped("just after resume", false)
	// This worker's own stop is seen at once.
	if err := st.StopAuth(ctx, key.ID(), key.Masked(), 403, "no scope"); err != nil {
		t.Fatal(err)
	}
	w.forgetAuthClear()
	stopped("just after its own stop", true)
}

// racePauser pauses queues through asynq's inspector; before its first pause it
// runs hook, standing for a `bulkinvite resume` that lands between two steps of
// the worker's auth stop.
type racePauser struct {
	*asynq.Inspector
	hook func()
}

func (p *racePauser) PauseQueue(q string) error {
	if h := p.hook; h != nil {
		p.hook = nil
		h()
	}
	return p.Inspector.PauseQueue(q)
}

// TestResumeRacingAuthStop (invariant 1: an auth stop keeps the work queued,
// not stranded): a `bulkinvite resume` that lands while a worker is
// stopping for a 401 (after the stop is recorded, before or while the queues are
// paused) never leaves a queue paused with no stop recorded, which nothing would
// ever unpause. Whatever the order, either the stop stands and resume will
// unpause the queue, or the queue is not paused.
func TestResumeRacingAuthStop(t *testing.T) {
	t.Parallel()
	queues := []string{"bulk", "default"}
	for name, resumeAt := range map[string]string{
		"resume before the queues are recorded": "before",
		"resume between recording and pausing":  "between",
		"resume after the pause":                "after",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, redistest.Options{})
			rdb := srv.Client()
			insp := asynq.NewInspectorFromRedisClient(rdb)
			st := store.New(rdb, store.Config{})
			key := flowmingo.NewAPIKey("fl_live_race.secret")
			ctx := context.Background()
			resume := func() {
				if _, err := Resume(ctx, st, insp, "cli@test"); err != nil {
					t.Errorf("resume: %v", err)
				}
			}
			p := &racePauser{Inspector: insp}
			if resumeAt == "between" {
				p.hook = resume
			}
			w := &Worker{store: st, key: key, pauser: p, log: zap.NewNop(), now: time.Now, queues: queues}
			if err := st.StopAuth(ctx, key.ID(), key.Masked(), 401, "key deleted"); err != nil {
				t.Fatal(err)
			}
			if resumeAt == "before" {
				resume()
			}
			w.pauseQueues(ctx, w.log)
			if resumeAt == "after" {
				resume()
			}
			stop, err := st.AuthStopped(ctx, key.ID())
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range queues {
				paused, err := rdb.Exists(ctx, "asynq:{"+q+"}:paused").Result() // asynq's pause flag
				if err != nil {
					t.Fatal(err)
				}
				if paused == 1 && stop == nil {
					t.Errorf("queue %s is paused and no auth stop is recorded: nothing would unpause it", q)
				}
			}
			if stop != nil {
				// The stop stands: a resume now must hand every queue back.
				resume()
				for _, q := range queues {
					if n, _ := rdb.Exists(ctx, "asynq:{"+q+"}:paused").Result(); n != 0 {
						t.Errorf("queue %s still paused after a resume", q)
					}
				}
			}
		})
	}
}

// TestQueueStateHolds pins the text of asynq's errors for pausing a paused queue
// and unpausing one not paused, which queueStateHolds matches: an asynq upgrade
// that rewords them fails here rather than turning each pause into a warning.
func TestQueueStateHolds(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	insp := asynq.NewInspectorFromRedisClient(rdb)
	const q = "bulk"

	if err := insp.UnpauseQueue(q); !queueStateHolds(err) {
		t.Errorf("unpause a queue not paused: %v; queueStateHolds = false", err)
	}
	if err := insp.PauseQueue(q); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if err := insp.PauseQueue(q); !queueStateHolds(err) {
		t.Errorf("pause a paused queue: %v; queueStateHolds = false", err)
	}
	if err := insp.UnpauseQueue(q); err != nil {
		t.Fatalf("unpause: %v", err)
	}
	mr.Close()
	if err := insp.PauseQueue(q); err == nil || queueStateHolds(err) {
		t.Errorf("pause with Redis gone: %v; want an error queueStateHolds does not pass", err)
	}
	if queueStateHolds(nil) {
		t.Error("queueStateHolds(nil) = true")
	}
}
