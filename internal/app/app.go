// Package app builds bulkinvite's parts from a config.Config: the Redis client,
// the store, the asynq client, the producer, the replayer, the API client, the
// rate limiter, the worker, the metrics and the tracing (from the OTEL_*
// environment, package tracing), each configured from its settings. The commands and
// the demo build through it, so that they are wired the same way. It owns no
// logic: what a part does is its package's business.
package app

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/internal/activity"
	"github.com/bulkinvite/bulkinvite/internal/callback"
	"github.com/bulkinvite/bulkinvite/internal/config"
	"github.com/bulkinvite/bulkinvite/internal/deadletter"
	"github.com/bulkinvite/bulkinvite/internal/metrics"
	"github.com/bulkinvite/bulkinvite/internal/presence"
	"github.com/bulkinvite/bulkinvite/internal/redisconn"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/tracing"
	"github.com/bulkinvite/bulkinvite/producer"
	"github.com/bulkinvite/bulkinvite/ratelimit"
	"github.com/bulkinvite/bulkinvite/worker"
)

// ConnectTimeout bounds connecting to Redis and checking the deployment.
const ConnectTimeout = 10 * time.Second

// App is the parts built from one configuration. Close releases them.
type App struct {
	Cfg   config.Config
	Log   *zap.Logger
	Redis redis.UniversalClient
	Store *store.Store
	Queue *asynq.Client
	// Tracing is the process's tracing, which the producer, the worker and the
	// HTTP service start their spans from; nil (off) unless Open found an OTLP
	// endpoint in the environment.
	Tracing *tracing.Tracing

	closers     []func() error
	metrics     *metrics.Metrics
	metricsOnce sync.Once
}

// Open sets up the tracing the environment asks for (tracing.New), connects to
// cfg.RedisURL, checking the deployment (see redisconn.Open; onFatal gets the
// Redis errors retrying cannot cure), and builds the store and the asynq client
// over it. Close flushes the spans last.
func Open(ctx context.Context, cfg config.Config, log *zap.Logger, onFatal func(error)) (*App, error) {
	ctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	defer cancel()
	tr, err := tracing.New(ctx, tracing.Config{})
	if err != nil {
		return nil, err
	}
	rdb, err := redisconn.Open(ctx, cfg.RedisURL, redisconn.Config{Log: log.Named("redis"), OnFatal: onFatal})
	if err != nil {
		return nil, errors.Join(err, tr.Shutdown(ctx))
	}
	a := New(rdb, cfg, log)
	a.Tracing = tr
	a.closers = append([]func() error{a.flushTraces}, append(a.closers, rdb.Close)...)
	return a, nil
}

// FlushTimeout bounds the export of the spans still buffered when the App closes.
const FlushTimeout = 5 * time.Second

func (a *App) flushTraces() error {
	ctx, cancel := context.WithTimeout(context.Background(), FlushTimeout)
	defer cancel()
	return a.Tracing.Shutdown(ctx)
}

// New builds the store and the asynq client over rdb, which the caller closes.
func New(rdb redis.UniversalClient, cfg config.Config, log *zap.Logger) *App {
	a := &App{Cfg: cfg, Log: log, Redis: rdb, Store: store.New(rdb, StoreConfig(cfg))}
	a.Queue = asynq.NewClientFromRedisClient(rdb)
	a.closers = append(a.closers, a.Queue.Close)
	return a
}

// Close releases what the App opened, last first.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// Producer returns a producer writing to the App's store and queues.
func (a *App) Producer() *producer.Producer {
	return producer.New(a.Store, a.Queue, producer.Config{SegmentSize: a.Cfg.SegmentSize, BulkThreshold: a.Cfg.BulkThreshold,
		ChunkSize: a.Cfg.ChunkSize, ChunkTimeout: chunkTimeout(a.Cfg), MemoryWait: memoryWait(a.Cfg), Tracer: a.Tracing.Provider()})
}

// memoryWait is the producer's MemoryWait for BULKINVITE_REDIS_MEMORY_WAIT, whose
// 0 (fail at once) is the producer's negative.
func memoryWait(c config.Config) time.Duration {
	if c.RedisMemoryWait == 0 {
		return -1
	}
	return c.RedisMemoryWait
}

// Replayer returns a replayer of the App's dead letters.
func (a *App) Replayer() *deadletter.Replayer {
	return deadletter.NewReplayer(a.Store, a.Producer(), deadletter.Config{})
}

// Limiter is what the worker and `limits` need of a rate limiter.
type Limiter interface {
	worker.Limiter
	State(ctx context.Context) (ratelimit.State, error)
}

// Limiter returns the configured rate limiter for the API key: the global one,
// shared through Redis, or with BULKINVITE_LIMITER=local a per-process one.
func (a *App) Limiter() (Limiter, error) {
	lc := LimiterConfig(a.Cfg)
	if a.Cfg.Limiter == config.LimiterLocal {
		a.Log.Warn("BULKINVITE_LIMITER=local: this process holds the rate on its own; N processes send N times BULKINVITE_RATE")
		return ratelimit.NewLocal(lc), nil
	}
	return ratelimit.New(a.Redis, a.Cfg.APIKey.ID(), lc, a.Log.Named("ratelimit"))
}

// Worker returns a worker sending with the configured API URL and key, telling
// rec (when not nil) of its requests. The caller checks that a key is set
// (config.RequireAPIKey).
func (a *App) Worker(rec *activity.Recorder) (*worker.Worker, error) {
	client, err := flowmingo.New(flowmingo.Config{
		BaseURL:      a.Cfg.APIURL,
		Key:          a.Cfg.APIKey,
		Timeout:      a.Cfg.RequestTimeout,
		MaxIdleConns: a.Cfg.Concurrency,
	})
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() error { client.Close(); return nil })
	if a.Cfg.AllowInsecureAPIURL && a.Cfg.CleartextAPIURL() {
		a.Log.Warn("FLOWMINGO_API_URL is plain http:// to a host that is not loopback: the API key crosses the network in cleartext (allowed by BULKINVITE_ALLOW_INSECURE_API_URL)",
			zap.String("api_url", config.RedactURL(a.Cfg.APIURL)))
	}
	lim, err := a.Limiter()
	if err != nil {
		return nil, err
	}
	deps := worker.Deps{Store: a.Store, Queue: a.Queue, Sender: client, Limiter: lim, Key: a.Cfg.APIKey,
		Observer: a.Metrics(), Tracer: a.Tracing.Provider(), Log: a.Log}
	if rec != nil {
		deps.Activity = rec
	}
	if a.Cfg.CallbackSecret != "" {
		cb, err := callback.New(callback.Config{Secret: a.Cfg.CallbackSecret, AllowPrivate: a.Cfg.CallbackAllowPrivate})
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, func() error { cb.Close(); return nil })
		deps.Notifier = cb
	}
	return worker.New(deps, WorkerConfig(a.Cfg))
}

// ServeOptions are the worker process's optional listeners, each HOST:PORT or
// empty for none.
type ServeOptions struct {
	// MetricsAddr serves the metrics at http://MetricsAddr/metrics.
	MetricsAddr string
	// PprofAddr serves Go's profiles at http://PprofAddr/debug/pprof/, for
	// profiling; it has no authentication, so bind it to loopback.
	PprofAddr string
}

// Serve builds a worker and runs it until ctx is done (see worker.Serve), with the
// listeners o asks for meanwhile and its activity recorded for the dashboard's
// chart (flushed once more after the last chunk ended) and its build version
// published for doctor (package presence); an address it cannot listen on fails
// before the worker starts.
func (a *App) Serve(ctx context.Context, o ServeOptions) error {
	rec := activity.NewRecorder(a.Redis, a.Cfg.Prefix, activity.Config{Log: a.Log.Named("activity")})
	w, err := a.Worker(rec)
	if err != nil {
		return err
	}
	sc, err := ServeConfig(a.Cfg)
	if err != nil {
		return err
	}
	if o.MetricsAddr != "" {
		srv, err := a.Metrics().Listen(o.MetricsAddr)
		if err != nil {
			return err
		}
		defer func() { _ = srv.Close() }()
	}
	if o.PprofAddr != "" {
		stop, err := servePprof(o.PprofAddr, a.Log.Named("pprof"))
		if err != nil {
			return err
		}
		defer stop()
	}
	defer rec.Start()()
	defer presence.NewPublisher(a.Redis, a.Cfg.Prefix, presence.Config{Log: a.Log.Named("presence")}).Start()()
	return w.Serve(ctx, a.Redis, sc)
}

// Metrics returns the process's metrics, built once: what its worker does,
// asynq's queues read through the App's Redis client, and the auth stop read
// from the store at each scrape — the configured API key's, or any key's when
// none is configured (serve, which sends nothing).
func (a *App) Metrics() *metrics.Metrics {
	a.metricsOnce.Do(func() {
		a.metrics = metrics.New(metrics.Config{
			Inspector:        asynq.NewInspectorFromRedisClient(a.Redis),
			AuthStopped:      a.authStopped,
			PausedBatches:    a.Store.PausedBatches,
			ScheduledBatches: a.Store.ScheduledBatches,
			Log:              a.Log.Named("metrics"),
		})
	})
	return a.metrics
}

// Steering pauses, resumes and cancels batches over the App's store and
// queues, telling obs (nil: nobody) the candidates it cancels: serve's
// metrics; the CLI serves none.
func (a *App) Steering(obs worker.Observer) *worker.Steering {
	return &worker.Steering{Store: a.Store, Tasks: asynq.NewInspectorFromRedisClient(a.Redis), Observer: obs}
}

func (a *App) authStopped(ctx context.Context) (bool, error) {
	if a.Cfg.APIKey.IsZero() {
		stops, err := a.Store.AuthStops(ctx)
		return len(stops) > 0, err
	}
	stop, err := a.Store.AuthStopped(ctx, a.Cfg.APIKey.ID())
	return stop != nil, err
}

// StoreConfig is the store's share of the configuration.
func StoreConfig(c config.Config) store.Config {
	return store.Config{Prefix: c.Prefix, Retention: c.BatchRetention, LedgerTTL: c.LedgerTTL, WaitReplicas: c.RedisWaitReplicas}
}

// LimiterConfig is the rate limiter's share of the configuration. A slot in flight
// is held at most twice the request timeout, should its worker die.
func LimiterConfig(c config.Config) ratelimit.Config {
	return ratelimit.Config{
		Rate:                c.Rate,
		Burst:               c.Burst,
		CandidatesPerMinute: c.CandidatesPerMinute,
		MaxInFlight:         c.MaxInFlight,
		Adaptive:            c.Adaptive,
		Prefix:              c.Prefix,
		InFlightTTL:         2 * c.RequestTimeout,
	}
}

// WorkerConfig is the worker's share of the configuration. c is validated
// (config.Load), so its statuses parse.
func WorkerConfig(c config.Config) worker.Config {
	safe, _ := config.ParseStatuses(c.RetrySafeStatuses)
	return worker.Config{
		ChunkSize:         c.ChunkSize,
		MaxAttempts:       c.MaxAttempts,
		RetryMin:          c.RetryMin,
		RetryMax:          c.RetryMax,
		OnUnknown:         c.OnUnknown,
		RetrySafeStatuses: safe,
		ChunkTimeout:      chunkTimeout(c),
	}
}

// chunkTimeout is how long a chunk's run (the rate limiter's wait and the
// request) may take: the worker's default, or twice the request timeout if that
// is longer. The producer sets it on the chunk tasks it enqueues.
func chunkTimeout(c config.Config) time.Duration {
	return max(worker.DefaultChunkTimeout, 2*c.RequestTimeout)
}

// ServeConfig is the asynq server's share of the configuration.
func ServeConfig(c config.Config) (worker.ServeConfig, error) {
	q, err := config.ParseQueueWeights(c.QueueWeights)
	if err != nil {
		return worker.ServeConfig{}, err
	}
	return worker.ServeConfig{Concurrency: c.Concurrency, Queues: q, ShutdownTimeout: c.ShutdownTimeout,
		TaskCheckInterval: c.TaskCheckInterval, DelayedTaskCheckInterval: c.DelayedTaskCheckInterval}, nil
}
