// Package pipelinetest wires the whole pipeline for tests: a private Redis (a single
// server, a Cluster or a Sentinel setup, reached as the commands reach them), the
// sandbox API, a store, a producer, a replayer and in-process workers, with helpers
// to import candidates, wait for a batch to finish and check its accounting. Tests
// of several packages (worker, deadletter, cli) share it so that none of them
// repeats the wiring.
package pipelinetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/activity"
	"github.com/bulkinvite/bulkinvite/internal/deadletter"
	"github.com/bulkinvite/bulkinvite/internal/redisconn"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
	"github.com/bulkinvite/bulkinvite/ratelimit"
	"github.com/bulkinvite/bulkinvite/worker"
)

// Prefix is the key prefix the bundle's store uses.
const Prefix = store.DefaultPrefix

// Target is the sandbox's demo interview set.
var Target = payload.Target{InterviewSetID: sandbox.DemoInterviewSetID}

// Topologies of the bundle's Redis.
const (
	Single   = ""         // one redis-server
	Cluster  = "cluster"  // a 3-master Redis Cluster
	Sentinel = "sentinel" // a master and a replica behind one sentinel, with a password
)

// Options tune a Bundle.
type Options struct {
	Sandbox sandbox.Config
	// Topology is Single (the default), Cluster or Sentinel. The bundle reaches
	// the last two through REDIS_URL as the commands do (redisconn.Open).
	Topology string
	// Redis tunes the single server.
	Redis redistest.Options
	// ACLRules, when set, makes the bundle log in to the single server as an ACL
	// user with these rules on top of "on ~* &* +@all" (see redistest.ACLUser).
	ACLRules    []string
	SegmentSize int // default 100
	// Key is the API key the workers use; default sandbox.DefaultKey.
	Key string
	// Store tunes the store (its prefix is always Prefix).
	Store store.Config
	// Tracer is the producer's (producer.Config.Tracer); default none.
	Tracer trace.TracerProvider
}

// Bundle is a running pipeline minus its workers.
type Bundle struct {
	TB testing.TB
	// Redis is the single server, Cluster or Sentinel the others, by Topology.
	Redis    *redistest.Server
	Cluster  *redistest.Cluster
	Sentinel *redistest.Sentinel
	RDB      redis.UniversalClient
	Store    *store.Store
	Queue    *asynq.Client
	API      *sandbox.Running
	Producer *producer.Producer
	Replayer *deadletter.Replayer
	Key      flowmingo.APIKey
}

// New starts a private redis-server and a sandbox, stopped at the end of the test.
func New(tb testing.TB, opts Options) *Bundle {
	tb.Helper()
	if opts.SegmentSize == 0 {
		opts.SegmentSize = 100
	}
	if opts.Key == "" {
		opts.Key = sandbox.DefaultKey
	}
	b := &Bundle{TB: tb, Key: flowmingo.NewAPIKey(opts.Key)}
	switch opts.Topology {
	case Single:
		b.Redis = redistest.Start(tb, opts.Redis)
		if opts.ACLRules != nil {
			b.RDB = open(tb, b.Redis.ACLUser("bulkinvite", "acl-pw", opts.ACLRules...))
			break
		}
		b.RDB = redis.NewClient(&redis.Options{Addr: b.Redis.Addr(), ContextTimeoutEnabled: true})
	case Cluster:
		b.Cluster = redistest.StartCluster(tb, redistest.ClusterOptions{})
		b.RDB = open(tb, b.Cluster.URL())
	case Sentinel:
		b.Sentinel = redistest.StartSentinel(tb, redistest.SentinelOptions{Password: "s3cret-pw"})
		b.RDB = open(tb, b.Sentinel.URL())
	default:
		tb.Fatalf("pipelinetest: unknown topology %q", opts.Topology)
	}
	tb.Cleanup(func() { _ = b.RDB.Close() })
	var err error
	if b.API, err = sandbox.Start(opts.Sandbox); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = b.API.Close() })
	opts.Store.Prefix = Prefix
	b.Store = store.New(b.RDB, opts.Store)
	b.Queue = asynq.NewClientFromRedisClient(b.RDB)
	b.Producer = producer.New(b.Store, b.Queue, producer.Config{SegmentSize: opts.SegmentSize, Tracer: opts.Tracer})
	b.Replayer = deadletter.NewReplayer(b.Store, b.Producer, deadletter.Config{})
	return b
}

// open connects to a Redis URL as the commands do.
func open(tb testing.TB, url string) redis.UniversalClient {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rdb, err := redisconn.Open(ctx, url, redisconn.Config{})
	if err != nil {
		tb.Fatalf("connect to %s: %v", url, err)
	}
	return rdb
}

// WorkerOptions tune StartWorker.
type WorkerOptions struct {
	Worker      worker.Config
	Limiter     ratelimit.Config
	Concurrency int           // default 4
	Timeout     time.Duration // per request, default 2s
	// ShutdownTimeout is how long stop waits for in-flight chunks; default 5s.
	ShutdownTimeout time.Duration
	// Sender replaces the API client talking to the sandbox, e.g. with a fake
	// vendor that answers what a test needs.
	Sender worker.Sender
	// Notifier delivers batch callbacks; nil: none.
	Notifier worker.Notifier
	// Observer is told what the worker does (worker.Deps.Observer); default none.
	Observer worker.Observer
	// Tracer starts the worker's spans (worker.Deps.Tracer); default none.
	Tracer trace.TracerProvider
	Log    *zap.Logger // default: the test's log, warnings and up
}

// StartWorker runs a worker in this process until the returned stop is called (or
// the test ends), recording its activity for the dashboard's chart as serve's
// workers do (an activity.Recorder, flushed once more when it stops).
func (b *Bundle) StartWorker(opts WorkerOptions) (stop func()) {
	tb := b.TB
	tb.Helper()
	if opts.Concurrency == 0 {
		opts.Concurrency = 4
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 5 * time.Second
	}
	if opts.Limiter.Rate == 0 {
		opts.Limiter.Rate = 1000
		opts.Limiter.Burst = 100
	}
	opts.Limiter.Prefix = Prefix
	if opts.Worker.RetryMin == 0 {
		opts.Worker.RetryMin = 50 * time.Millisecond
		opts.Worker.RetryMax = 200 * time.Millisecond
	}
	if opts.Worker.PausePoll == 0 {
		opts.Worker.PausePoll = 200 * time.Millisecond
	}
	log := opts.Log
	if log == nil {
		log = zaptest.NewLogger(tb, zaptest.Level(zap.WarnLevel))
	}
	client, err := flowmingo.New(flowmingo.Config{BaseURL: b.API.URL, Key: b.Key, Timeout: opts.Timeout, MaxIdleConns: opts.Concurrency})
	if err != nil {
		tb.Fatal(err)
	}
	lim, err := ratelimit.New(b.RDB, b.Key.ID(), opts.Limiter, log)
	if err != nil {
		tb.Fatal(err)
	}
	var sender worker.Sender = client
	if opts.Sender != nil {
		sender = opts.Sender
	}
	rec := activity.NewRecorder(b.RDB, Prefix, activity.Config{Log: log})
	w, err := worker.New(worker.Deps{Store: b.Store, Queue: b.Queue, Sender: sender, Limiter: lim, Key: b.Key,
		Notifier: opts.Notifier, Observer: opts.Observer, Activity: rec, Tracer: opts.Tracer, Log: log}, opts.Worker)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- w.Serve(ctx, b.RDB, worker.ServeConfig{Concurrency: opts.Concurrency, ShutdownTimeout: opts.ShutdownTimeout})
	}()
	stopRec := rec.Start()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("worker: %v", err)
		}
		stopRec()
		client.Close()
	}
	tb.Cleanup(stop)
	return stop
}

// Steering pauses, resumes and cancels the bundle's batches.
func (b *Bundle) Steering() *worker.Steering {
	return &worker.Steering{Store: b.Store, Tasks: asynq.NewInspectorFromRedisClient(b.RDB)}
}

// Import enqueues candidates as a batch for Target and returns the result.
func (b *Bundle) Import(batchID string, cands []payload.Candidate, job *task.Job) *producer.Result {
	b.TB.Helper()
	j := task.Job{Target: Target}
	if job != nil {
		j = *job
	}
	res, err := b.Producer.Import(context.Background(), producer.NewSliceSource(cands), producer.Options{BatchID: batchID, Job: j})
	if err != nil {
		b.TB.Fatalf("import: %v", err)
	}
	return res
}

// WaitDone waits until the batch is done and returns it; it fails the test after
// timeout, showing the batch as it stands.
func (b *Bundle) WaitDone(batchID string, timeout time.Duration) *store.Batch {
	b.TB.Helper()
	return b.WaitFor(batchID, timeout, "done", func(bt *store.Batch) bool { return bt.Done() })
}

// WaitFor polls the batch until cond holds.
func (b *Bundle) WaitFor(batchID string, timeout time.Duration, what string, cond func(*store.Batch) bool) *store.Batch {
	b.TB.Helper()
	deadline := time.Now().Add(timeout)
	var (
		last    *store.Batch
		lastErr error
	)
	for time.Now().Before(deadline) {
		// A read may fail for a while after a fault test restarted Redis: poll on.
		bt, err := b.Store.Batch(context.Background(), batchID)
		if err == nil {
			last = bt
			if cond(bt) {
				return bt
			}
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	if last == nil {
		b.TB.Fatalf("batch %s not %s within %s: read batch: %v", batchID, what, timeout, lastErr)
	}
	b.TB.Fatalf("batch %s not %s within %s: %+v (last read error: %v)", batchID, what, timeout, last.Status(), lastErr)
	return nil
}

// DeadLetters returns the dead letters of a batch, keyed by candidate email (or
// CV link for a CV-only candidate).
func (b *Bundle) DeadLetters(batchID string) map[string]*store.DeadLetter {
	b.TB.Helper()
	out := map[string]*store.DeadLetter{}
	err := b.Store.DeadLetters(context.Background(), store.Filter{BatchID: batchID}, func(d *store.DeadLetter) error {
		k := d.Candidate.Email
		if k == "" {
			k = d.Candidate.CVLink
		}
		out[k] = d
		return nil
	})
	if err != nil {
		b.TB.Fatal(err)
	}
	return out
}

// CheckAccounting fails the test unless the batch's counters equal its recorded
// per-candidate outcomes and add up as the status contract says (docs/cli.md, "status").
func (b *Bundle) CheckAccounting(batchID string) *store.Batch {
	b.TB.Helper()
	ctx := context.Background()
	bt, err := b.Store.Batch(ctx, batchID)
	if err != nil {
		b.TB.Fatal(err)
	}
	outs, err := b.Store.Outcomes(ctx, batchID)
	if err != nil {
		b.TB.Fatal(err)
	}
	count := map[payload.Outcome]int64{}
	for _, o := range outs {
		count[o]++
	}
	s := bt.Status()
	if count[payload.OutcomeInvited] != s.Invited || count[payload.OutcomeCVQueued] != s.CVQueued ||
		count[payload.OutcomeDeadLettered] != s.DeadLettered || count[payload.OutcomeSkippedDuplicate] != s.SkippedDuplicate ||
		count[payload.OutcomeCancelled] != s.Cancelled {
		b.TB.Errorf("counters %+v disagree with recorded outcomes %v", s, count)
	}
	if s.Accepted != s.Invited+s.CVQueued+s.DeadLettered+s.SkippedDuplicate+s.Cancelled+s.Pending || s.Total != s.Accepted+s.Rejected {
		b.TB.Errorf("counters do not add up: %+v", s)
	}
	if int64(len(outs)) != s.Accepted-s.Pending {
		b.TB.Errorf("%d outcomes recorded, want accepted-pending = %d", len(outs), s.Accepted-s.Pending)
	}
	return bt
}

// Candidates makes n good candidates with distinct emails at example.com.
func Candidates(prefix string, n int) []payload.Candidate {
	out := make([]payload.Candidate, n)
	for i := range out {
		out[i] = payload.Candidate{Email: fmt.Sprintf("%s-%d@example.com", prefix, i), Name: fmt.Sprintf("%s %d", prefix, i)}
	}
	return out
}
