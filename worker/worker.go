package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// Sender sends one chunk to the vendor; *flowmingo.Client is one.
type Sender interface {
	Invite(ctx context.Context, req *payload.InviteRequest) ([]flowmingo.CandidateResult, error)
}

// Limiter holds the rate of requests to the vendor; *ratelimit.Limiter is one.
type Limiter interface {
	// Acquire waits until one request carrying n candidates may go; release is
	// called when its reply is in.
	Acquire(ctx context.Context, n int) (release func(), err error)
	// Throttled reports a 429 with the vendor's Retry-After.
	Throttled(ctx context.Context, retryAfter time.Duration) error
	// Succeeded reports a request that was not throttled.
	Succeeded(ctx context.Context)
}

// QueuePauser pauses asynq queues for every worker, and unpauses one paused for
// an auth stop that a resume cleared meanwhile; *asynq.Inspector is one.
type QueuePauser interface {
	PauseQueue(queue string) error
	UnpauseQueue(queue string) error
}

// Enqueuer is the part of asynq.Client the worker uses to fan out tasks.
type Enqueuer = task.Enqueuer

// Observer is told what the worker does, for metrics; *metrics.Metrics is one.
// The handlers call it concurrently; it must not block.
type Observer interface {
	// Outcomes reports n candidates whose outcome o this worker recorded, each
	// counted once: a candidate already decided is not reported again.
	Outcomes(o payload.Outcome, n int)
	// DeadLettered reports n of those dead-lettered for reason r.
	DeadLettered(r payload.Reason, n int)
	// APIRequest reports a request to the vendor that ended with the HTTP status
	// status, or 0 when no HTTP answer came (a connection error, a timeout, a lost
	// reply, a shutdown).
	APIRequest(status int)
	// RateLimitWait reports how long the rate limiter held a request before
	// granting it.
	RateLimitWait(d time.Duration)
	// InFlight reports a change of the requests to the vendor in flight: +1 when
	// one goes, -1 when it ended.
	InFlight(delta int)
}

// NopObserver observes nothing: the Observer of a worker whose Deps have none.
type NopObserver struct{}

func (NopObserver) Outcomes(payload.Outcome, int)    {}
func (NopObserver) DeadLettered(payload.Reason, int) {}
func (NopObserver) APIRequest(int)                   {}
func (NopObserver) RateLimitWait(time.Duration)      {}
func (NopObserver) InFlight(int)                     {}

// Activity is told of each request to the vendor by batch, for the dashboard's
// picture of the sending; *activity.Recorder is one. The handlers call it
// concurrently; it must not block.
type Activity interface {
	// Request reports a request for batchID that carried candidates and ended
	// with the HTTP status status, or 0 when no HTTP answer came (as
	// Observer.APIRequest).
	Request(batchID string, candidates, status int)
}

// nopActivity records nothing: the Activity of a worker whose Deps have none.
type nopActivity struct{}

func (nopActivity) Request(string, int, int) {}

// OnUnknown values.
const (
	OnUnknownRetry      = "retry"
	OnUnknownDeadLetter = "deadletter"
)

// Defaults of Config and ServeConfig.
const (
	DefaultChunkSize       = task.DefaultChunkSize
	DefaultMaxAttempts     = 10
	DefaultRetryMin        = 2 * time.Second
	DefaultRetryMax        = 5 * time.Minute
	DefaultOnUnknown       = OnUnknownRetry
	DefaultPausePoll       = 5 * time.Second
	DefaultChunkTimeout    = task.DefaultChunkTimeout
	DefaultClaimTTL        = 30 * time.Second
	DefaultConcurrency     = 8
	DefaultShutdownTimeout = 30 * time.Second
	// DefaultTaskCheckInterval is asynq's TaskCheckInterval here (asynq's own is
	// 1s): a push to idle workers waits at most this long for one to look. An idle
	// worker's looks cost Redis one dequeue script per asynq queue each time: 3
	// queues, about 30 scripts/s; on a Redis Cluster 24, every shard (task.Sharded):
	// about 240 scripts/s (docs/architecture.md, "Redis keys").
	DefaultTaskCheckInterval = 100 * time.Millisecond
	// DefaultDelayedTaskCheckInterval is asynq's DelayedTaskCheckInterval here
	// (asynq's own is 5s): how late a retry or a pause may be moved back to its
	// queue.
	DefaultDelayedTaskCheckInterval = time.Second
	DefaultCallbackPoll             = 5 * time.Second
	DefaultCallbackWindow           = 24 * time.Hour
	DefaultCallbackRetryMin         = 10 * time.Second
	DefaultCallbackRetryMax         = 30 * time.Minute
)

// DefaultQueues are ServeConfig.Queues' default weights: of ten pickups, six from
// task.QueueDefault (other services' small pushes), three replays, one from
// the tail of a large import. They weigh the logical queues; on a Redis
// Cluster Serve gives each of a queue's shards its weight (task.ShardWeights).
func DefaultQueues() map[string]int {
	return map[string]int{task.QueueDefault: 6, task.QueueReplay: 3, task.QueueBulk: 1}
}

// Config tunes the handlers. Zero fields take the documented defaults.
type Config struct {
	// ChunkSize is the most candidates in one request. Default 50.
	ChunkSize int
	// MaxAttempts is how many times a chunk is sent before its open candidates are
	// dead-lettered as retries_exhausted. 429s and auth stops do not count. Default 10.
	MaxAttempts int
	// RetryMin and RetryMax bound the exponential backoff between attempts.
	// Defaults 2s and 5m.
	RetryMin, RetryMax time.Duration
	// OnUnknown is OnUnknownRetry (default) or OnUnknownDeadLetter.
	OnUnknown string
	// PausePoll is how often a chunk held back checks again: by an auth stop, a
	// paused batch (ResumeBatch brings its chunks back at once), or because
	// another chunk is sending some of its candidates to the same target at
	// that moment. Waiting spends no attempt. Default 5s.
	PausePoll time.Duration
	// ChunkTimeout bounds one chunk handler run (limiter wait + request). The
	// limiter wait takes at most half of it; a longer one hands the chunk back
	// as a wait, not an attempt. Default 10m.
	ChunkTimeout time.Duration
	// ClaimTTL is how long a run's claim on its candidates lasts unless renewed
	// (every ClaimTTL/3 while the run goes on), and so how long a crashed
	// worker's claims hold other runs back. Default 30s.
	ClaimTTL time.Duration
	// RetrySafeStatuses are HTTP statuses of the vendor's that prove it did
	// nothing with the request (say 503 from a load balancer that never passes
	// a request on): under OnUnknownDeadLetter such an answer is retried rather
	// than dead-lettered as unknown_outcome. Only 5xx statuses; default none.
	RetrySafeStatuses []int
	// CallbackPoll is how often a batch's callback looks whether the batch is done.
	// Default 5s.
	CallbackPoll time.Duration
	// CallbackWindow is how long after a batch finished its callback is retried
	// before it is given up on. Default 24h.
	CallbackWindow time.Duration
	// CallbackRetryMin and CallbackRetryMax bound the backoff between two
	// deliveries of a callback. Defaults 10s and 30m.
	CallbackRetryMin, CallbackRetryMax time.Duration
	// ScheduleClock is the clock the schedule gate reads (a batch's not-before
	// time and send window). Default time.Now; tests move it.
	ScheduleClock func() time.Time
}

func (c Config) withDefaults() Config {
	if c.ChunkSize <= 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.RetryMin <= 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = c.RetryMin
	}
	if c.OnUnknown == "" {
		c.OnUnknown = DefaultOnUnknown
	}
	if c.PausePoll <= 0 {
		c.PausePoll = DefaultPausePoll
	}
	if c.ChunkTimeout <= 0 {
		c.ChunkTimeout = DefaultChunkTimeout
	}
	if c.ClaimTTL <= 0 {
		c.ClaimTTL = DefaultClaimTTL
	}
	if c.CallbackPoll <= 0 {
		c.CallbackPoll = DefaultCallbackPoll
	}
	if c.CallbackWindow <= 0 {
		c.CallbackWindow = DefaultCallbackWindow
	}
	if c.CallbackRetryMin <= 0 {
		c.CallbackRetryMin = DefaultCallbackRetryMin
	}
	if c.CallbackRetryMax < c.CallbackRetryMin {
		c.CallbackRetryMax = max(DefaultCallbackRetryMax, c.CallbackRetryMin)
	}
	if c.ScheduleClock == nil {
		c.ScheduleClock = time.Now
	}
	return c
}

// Validate names the first bad field.
func (c Config) Validate() error {
	if c.OnUnknown != "" && c.OnUnknown != OnUnknownRetry && c.OnUnknown != OnUnknownDeadLetter {
		return fmt.Errorf("worker: OnUnknown must be %q or %q, got %q", OnUnknownRetry, OnUnknownDeadLetter, c.OnUnknown)
	}
	for _, st := range c.RetrySafeStatuses {
		if st < 500 || st > 599 {
			return fmt.Errorf("worker: RetrySafeStatuses: %d is not a 5xx status", st)
		}
	}
	return nil
}

// Deps are what a Worker talks to, given once to New.
type Deps struct {
	Store   *store.Store
	Queue   Enqueuer
	Sender  Sender
	Limiter Limiter
	// Key identifies the API key for the auth stop (its ID and masked form only).
	Key flowmingo.APIKey
	// Pauser pauses the queues Serve serves when the vendor refuses the key, so that
	// no worker takes work until `bulkinvite resume`. Default: an asynq.Inspector
	// on the Store's Redis client.
	Pauser QueuePauser
	// Notifier delivers batch callbacks; nil records every callback as not
	// delivered (the worker has no key to sign it with).
	Notifier Notifier
	// Observer is told the outcomes, requests and waits, for metrics. Default
	// NopObserver.
	Observer Observer
	// Activity is told each request by batch, for the dashboard's chart.
	// Default: none.
	Activity Activity
	// Tracer starts the spans of each chunk and its request (SpanChunk,
	// SpanInvite). Default: a no-op one.
	Tracer trace.TracerProvider
	Log    *zap.Logger
}

// Worker handles segment and chunk tasks. Its dependencies are fixed by New.
type Worker struct {
	store    *store.Store
	queue    Enqueuer
	sender   Sender
	limiter  Limiter
	key      flowmingo.APIKey
	pauser   QueuePauser
	notifier Notifier
	obs      Observer
	activity Activity
	log      *zap.Logger
	tracer   trace.Tracer

	cfg Config
	now func() time.Time
	// life ends when Serve returns; it bounds the writes persist retries past a
	// handler's context.
	life    context.Context
	endLife context.CancelFunc
	// queues are the asynq queues Serve serves (on a Redis Cluster every shard
	// of its logical queues), paused on an auth stop. Serve sets them once,
	// before its server takes the first task.
	queues []string
	// sharded: Serve serves the queues' shards and HandleSegment puts chunks on
	// them, on a Redis Cluster only (task.Sharded of the store's client).
	sharded bool
	// authCache spares a Redis read of the auth stop per look (see AuthStopRecheck).
	authCache authStopCache
	// newerTaskLog keeps the warning about tasks from a newer version to one a
	// minute, however many such tasks wake.
	newerTaskLog *rate.Limiter
	// by names this worker in the batches' event logs: "worker@<host>".
	by string
	// jobs caches the jobs of version 2 chunks' batches.
	jobs jobCache
}

// New returns a Worker.
func New(d Deps, cfg Config) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Store == nil || d.Queue == nil || d.Sender == nil || d.Limiter == nil {
		return nil, errors.New("worker: Store, Queue, Sender and Limiter are required")
	}
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	if d.Observer == nil {
		d.Observer = NopObserver{}
	}
	if d.Activity == nil {
		d.Activity = nopActivity{}
	}
	if d.Pauser == nil {
		d.Pauser = asynq.NewInspectorFromRedisClient(d.Store.Redis())
	}
	if d.Tracer == nil {
		d.Tracer = noop.NewTracerProvider()
	}
	life, endLife := context.WithCancel(context.Background())
	return &Worker{
		store: d.Store, queue: d.Queue, sender: d.Sender, limiter: d.Limiter, key: d.Key,
		pauser: d.Pauser, notifier: d.Notifier, obs: d.Observer, activity: d.Activity, log: d.Log, tracer: d.Tracer.Tracer(tracerName),
		cfg: cfg.withDefaults(), now: time.Now, life: life, endLife: endLife, sharded: task.Sharded(d.Store.Redis()),
		newerTaskLog: rate.NewLimiter(rate.Every(time.Minute), 1), by: auth.AtHost(auth.WorkerName),
	}, nil
}

// Handler returns the mux serving the task types: chunks, callbacks, and the
// segments of older producers.
func (w *Worker) Handler() asynq.Handler {
	mux := asynq.NewServeMux()
	//lint:ignore SA1019 workers take segment tasks until no older producer writes them
	mux.HandleFunc(task.TypeSegment, w.HandleSegment)
	mux.HandleFunc(task.TypeChunk, w.HandleChunk)
	mux.HandleFunc(task.TypeCallback, w.HandleCallback)
	return mux
}

// HandleSegment splits a segment into chunk tasks with deterministic ids, on the
// segment's queue (on a Redis Cluster its shards, task.ChunkQueue), leaving out candidates whose
// outcome is already recorded. Producers of this version enqueue
// chunk tasks themselves; segment tasks come from older ones (a rolling upgrade, a
// queue written before it).
//
// Deprecated: kept only for segment tasks of older producers (see
// task.TypeSegment); the first release after the one whose producers stopped
// writing segment tasks may drop it, once no queue holds them.
func (w *Worker) HandleSegment(ctx context.Context, t *asynq.Task) error {
	seg, err := task.DecodeSegment(t.Payload())
	if err != nil {
		return w.undecodable(ctx, t, err)
	}
	open, err := w.undecided(ctx, seg.BatchID, seg.Candidates)
	if err != nil {
		return err
	}
	queue, _ := asynq.GetQueueName(ctx)
	for _, chunk := range task.Split(seg, w.cfg.ChunkSize, func(c task.Candidate) bool { return open[c.Seq] }) {
		q := task.ChunkQueue(w.sharded, queue, seg.BatchID, seg.Segment, chunk.Chunk, task.SegmentChunks(len(seg.Candidates), w.cfg.ChunkSize))
		if err := w.enqueueChunk(ctx, chunk, task.ChunkID(seg.BatchID, seg.Segment, chunk.Chunk), q); err != nil {
			return err
		}
	}
	return nil
}

func (w *Worker) enqueueChunk(ctx context.Context, c task.Chunk, id, queue string) error {
	return task.EnqueueChunk(ctx, w.queue, &c, id, queue, w.cfg.ChunkTimeout)
}

// recut enqueues a chunk larger than this worker's ChunkSize as chunks of that
// size (ids <id>/c<k>), and is done with it: a producer with a larger
// BULKINVITE_CHUNK_SIZE than the workers' cut it, and no request may carry more
// candidates than the workers are configured to send.
func (w *Worker) recut(ctx context.Context, c *task.Chunk, id, queue string) error {
	for k := 0; k*w.cfg.ChunkSize < len(c.Candidates); k++ {
		i, j := k*w.cfg.ChunkSize, min((k+1)*w.cfg.ChunkSize, len(c.Candidates))
		part := *c
		part.Candidates = c.Candidates[i:j]
		if c.Ref != nil {
			part.Ref = c.Sub(i, j)
		}
		if err := w.enqueueChunk(ctx, part, fmt.Sprintf("%s/c%d", id, k), queue); err != nil {
			return err
		}
	}
	return nil
}

// undecided returns the set of seqs among cands whose outcome is not yet recorded.
func (w *Worker) undecided(ctx context.Context, batchID string, cands []task.Candidate) (map[int64]bool, error) {
	states, err := w.store.States(ctx, batchID, cands)
	if err != nil {
		return nil, err
	}
	open := make(map[int64]bool, len(cands))
	for i, c := range cands {
		if states[i] != store.Decided {
			open[c.Seq] = true
		}
	}
	return open, nil
}

// NewerTaskWait is how long a task written by a newer bulkinvite (a payload version
// this build cannot read) waits before it is offered again, for a newer worker to
// take it.
const NewerTaskWait = time.Minute

// undecodable handles a task payload this build cannot decode. One written by a
// newer producer, during a rolling upgrade, is handed back untouched for a newer
// worker (a wait, which spends no attempt); anything else is poison: archived with
// a log line, never retried, so that it cannot block the queue.
func (w *Worker) undecodable(ctx context.Context, t *asynq.Task, err error) error {
	id, _ := asynq.GetTaskID(ctx)
	if errors.Is(err, task.ErrVersion) {
		if w.newerTaskLog.Allow() {
			w.log.Warn("task written by a newer bulkinvite: handed back for a newer worker; upgrade this one",
				zap.String("task_id", id), zap.String("type", t.Type()), zap.Duration("retry_in", NewerTaskWait), zap.Error(err))
		}
		return &PauseError{After: NewerTaskWait, Why: err.Error()}
	}
	w.log.Error("undecodable task payload: archived, it will not be retried",
		zap.String("task_id", id), zap.String("type", t.Type()), zap.Int("payload_bytes", len(t.Payload())), zap.Error(err))
	return fmt.Errorf("%v: %w", err, asynq.SkipRetry)
}
