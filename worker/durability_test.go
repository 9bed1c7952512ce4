package worker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/worker"
)

// idleSender and idleLimiter stand in for the vendor and the limiter of a worker
// that is given no work.
type idleSender struct{}

func (idleSender) Invite(context.Context, *payload.InviteRequest) ([]flowmingo.CandidateResult, error) {
	return nil, nil
}

type idleLimiter struct{}

func (idleLimiter) Acquire(context.Context, int) (func(), error)   { return func() {}, nil }
func (idleLimiter) Throttled(context.Context, time.Duration) error { return nil }
func (idleLimiter) Succeeded(context.Context)                      {}

// TestAtMostOnceDurabilityWarning (invariant 2 under at-most-once): a worker
// started with BULKINVITE_ON_UNKNOWN=deadletter says once, at start, whether
// Redis keeps the sent marks at-most-once rests on, against real redis-server
// setups: a warning without AOF, with appendfsync everysec, and when CONFIG is
// refused (it cannot tell); none with appendfsync always, with a replica and
// WAIT 1, or under at-least-once.
func TestAtMostOnceDurabilityWarning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		onUnknown string
		// setup returns the client the worker uses and its store's WaitReplicas.
		setup func(t *testing.T) (redis.UniversalClient, int)
		// warn is what the one warning about at-most-once holds; "" for none.
		warn []string
	}{
		{"AOF off", worker.OnUnknownDeadLetter, func(t *testing.T) (redis.UniversalClient, int) {
			return redistest.Start(t, redistest.Options{}).Client(), 0
		}, []string{"NOT kept", "appendonly no"}},
		{"AOF everysec", worker.OnUnknownDeadLetter, func(t *testing.T) (redis.UniversalClient, int) {
			rdb := redistest.Start(t, redistest.Options{AppendOnly: true}).Client()
			if err := rdb.ConfigSet(context.Background(), "appendfsync", "everysec").Err(); err != nil {
				t.Fatal(err)
			}
			return rdb, 0
		}, []string{"NOT kept", "appendfsync everysec"}},
		{"AOF always", worker.OnUnknownDeadLetter, func(t *testing.T) (redis.UniversalClient, int) {
			return redistest.Start(t, redistest.Options{AppendOnly: true}).Client(), 0
		}, nil},
		{"a replica and WAIT 1", worker.OnUnknownDeadLetter, func(t *testing.T) (redis.UniversalClient, int) {
			master := redistest.Start(t, redistest.Options{})
			master.StartReplica()
			return master.Client(), 1
		}, nil},
		{"CONFIG refused by the ACL", worker.OnUnknownDeadLetter, func(t *testing.T) (redis.UniversalClient, int) {
			opt, err := redis.ParseURL(redistest.Start(t, redistest.Options{}).ACLUser("bulk", "bulk-password", "-config"))
			if err != nil {
				t.Fatal(err)
			}
			rdb := redis.NewClient(opt)
			t.Cleanup(func() { _ = rdb.Close() })
			return rdb, 0
		}, []string{"could not check", "NOPERM"}},
		{"at-least-once, AOF off", worker.OnUnknownRetry, func(t *testing.T) (redis.UniversalClient, int) {
			return redistest.Start(t, redistest.Options{}).Client(), 0
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rdb, waitReplicas := tt.setup(t)
			logs := startLogs(t, rdb, store.Config{WaitReplicas: waitReplicas}, worker.Config{OnUnknown: tt.onUnknown})
			var said []observer.LoggedEntry
			for _, e := range logs.All() {
				if strings.Contains(e.Message, "at-most-once") {
					said = append(said, e)
				}
			}
			if tt.onUnknown == worker.OnUnknownRetry {
				if len(said) > 0 {
					t.Errorf("at-least-once: %d lines about at-most-once: %v", len(said), said[0].Message)
				}
				return
			}
			if len(said) != 1 {
				t.Fatalf("%d lines about at-most-once at start, want 1: %v", len(said), said)
			}
			e := said[0]
			text := fmt.Sprint(e.Message, " ", e.ContextMap())
			t.Logf("%s: %s", e.Level, text)
			if tt.warn == nil {
				if e.Level != zapcore.InfoLevel {
					t.Errorf("a %s where at-most-once holds: %s", e.Level, text)
				}
				return
			}
			if e.Level != zapcore.WarnLevel {
				t.Errorf("level %s, want warn: %s", e.Level, text)
			}
			for _, w := range append(tt.warn, "BULKINVITE_REDIS_WAIT_REPLICAS", "appendfsync always") {
				if !strings.Contains(text, w) {
					t.Errorf("the warning does not say %q: %s", w, text)
				}
			}
		})
	}
}

// startLogs starts a worker over rdb, stops it once it has logged that it
// started, and returns what it logged.
func startLogs(t *testing.T, rdb redis.UniversalClient, sc store.Config, wc worker.Config) *observer.ObservedLogs {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	q := asynq.NewClientFromRedisClient(rdb)
	w, err := worker.New(worker.Deps{Store: store.New(rdb, sc), Queue: q, Sender: idleSender{}, Limiter: idleLimiter{}, Log: zap.New(core)}, wc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx, rdb, worker.ServeConfig{Concurrency: 1}) }()
	deadline := time.Now().Add(30 * time.Second)
	for logs.FilterMessage("worker started").Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if logs.FilterMessage("worker started").Len() == 0 {
		t.Fatal("the worker did not start within 30s")
	}
	return logs
}
