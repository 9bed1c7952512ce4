package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/worker"
)

// TestSkewedHostTakesALiveTask runs a real asynq server whose handler holds its
// task, and checks that the skewed host does what asynq's recoverer and
// forwarder do on a host whose clock runs ahead: at no skew it leaves the live
// task alone; a minute ahead it takes it from its lease into the retry set, with
// the message annotated as rdb.Retry does (asynq's own inspector decodes it),
// and its forwarder hands it back to the queue at once, so that the server runs
// it a second time while the first run still holds it.
func TestSkewedHostTakesALiveTask(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	rdb := srv.Client()

	var runs atomic.Int32
	release := make(chan struct{})
	server := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: 2, Queues: map[string]int{"q": 1}, TaskCheckInterval: 50 * time.Millisecond,
		LogLevel: asynq.FatalLevel, ShutdownTimeout: time.Second,
	})
	if err := server.Start(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		runs.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	defer server.Shutdown()
	defer close(release)
	client := asynq.NewClientFromRedisClient(rdb)
	defer client.Close()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	defer insp.Close()
	if _, err := client.Enqueue(asynq.NewTask("t", []byte("payload")), asynq.Queue("q"), asynq.TaskID("live"), asynq.MaxRetry(5)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task running", func() bool { return runs.Load() == 1 })

	ctx := context.Background()
	host := func(skew time.Duration) *skewedHost {
		return &skewedHost{rdb: rdb, skew: skew, queues: []string{"q"},
			retryDelay: worker.Config{RetryMin: time.Second, RetryMax: time.Second}.RetryDelay, isFailure: worker.IsFailure}
	}
	if take, err := host(0).wouldTake(ctx); err != nil || take {
		t.Fatalf("wouldTake at no skew = %t, %v; want false", take, err)
	}
	if rq, err := host(0).recoverPass(ctx); err != nil || len(rq) != 0 {
		t.Fatalf("recoverPass at no skew = %+v, %v; want nothing taken", rq, err)
	}

	ahead := host(61 * time.Second)
	if take, err := ahead.wouldTake(ctx); err != nil || !take {
		t.Fatalf("wouldTake a minute ahead = %t, %v; want true", take, err)
	}
	rq, err := ahead.recoverPass(ctx)
	if err != nil || len(rq) != 1 || rq[0].ID != "live" || rq[0].LeaseLeft <= 0 || rq[0].Archived {
		t.Fatalf("recoverPass a minute ahead = %+v, %v; want the live task taken with its lease still running", rq, err)
	}
	info, err := insp.GetTaskInfo("q", "live")
	if err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(61 * time.Second)
	if info.State != asynq.TaskStateRetry || info.Retried != 1 || info.LastErr != asynq.ErrLeaseExpired.Error() ||
		info.LastFailedAt.Before(soon.Add(-2*time.Second)) || info.NextProcessAt.Before(soon) || string(info.Payload) != "payload" || info.MaxRetry != 5 {
		t.Fatalf("after the pass: %+v; want it in retry, retried once for an expired lease, failed and due by the skewed clock", info)
	}

	if n, err := host(0).forwardPass(ctx); err != nil || n != 0 {
		t.Fatalf("forwardPass at no skew = %d, %v; want nothing moved before its time", n, err)
	}
	// The retry delay (1 s) later by the skewed clock.
	if n, err := host(63 * time.Second).forwardPass(ctx); err != nil || n != 1 {
		t.Fatalf("forwardPass a minute ahead = %d, %v; want the task back in its queue", n, err)
	}
	waitFor(t, "the task running a second time while the first run holds it", func() bool { return runs.Load() == 2 })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
