package cli

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/bulkinvite/bulkinvite/config"
	"github.com/bulkinvite/bulkinvite/deadletter"
	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/internal/redisconn"
	"github.com/bulkinvite/bulkinvite/producer"
	"github.com/bulkinvite/bulkinvite/ratelimit"
	"github.com/bulkinvite/bulkinvite/store"
	"github.com/bulkinvite/bulkinvite/worker"
)

// env builds what commands need, from the configuration, once per run.
type env struct {
	io   IO
	root *cobra.Command

	cfg config.Config
	log *zap.Logger
	rdb redis.UniversalClient
	q   *asynq.Client
	// onRedisFatal, if set before Redis is opened, gets the Redis errors that
	// retrying cannot cure (redisconn.Config.OnFatal).
	onRedisFatal func(error)
}

// load reads the configuration for cmd and builds the logger.
func (e *env) load(cmd *cobra.Command) error {
	cfg, err := config.Load(config.Sources{Getenv: e.io.Getenv, Flags: cmd.Flags()})
	if err != nil {
		return &exitError{code: ExitUsage, err: err}
	}
	e.cfg = cfg
	e.log = newLogger(cfg, e.io)
	useRedisLogger(e.log.Named("redis").Sugar())
	cmd.PostRun = func(*cobra.Command, []string) { e.close() }
	return nil
}

// open loads the configuration, checks the API key when the command needs it, and
// connects to Redis: what most commands do first.
func (e *env) open(cmd *cobra.Command, needKey bool) (context.Context, *store.Store, error) {
	if err := e.load(cmd); err != nil {
		return nil, nil, err
	}
	if needKey {
		if err := e.cfg.RequireAPIKey(); err != nil {
			return nil, nil, &exitError{code: ExitUsage, err: err}
		}
	}
	ctx := cmd.Context()
	st, err := e.store(ctx)
	return ctx, st, err
}

func (e *env) close() {
	if e.q != nil {
		_ = e.q.Close()
	}
	if e.rdb != nil {
		_ = e.rdb.Close()
	}
	useRedisLogger(nil)
	if e.log != nil {
		_ = e.log.Sync()
	}
}

// redis connects to REDIS_URL and checks the deployment (see redisconn.Open).
func (e *env) redis(ctx context.Context) (redis.UniversalClient, error) {
	if e.rdb != nil {
		return e.rdb, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rdb, err := redisconn.Open(ctx, e.cfg.RedisURL, redisconn.Config{Log: e.log.Named("redis"), OnFatal: e.onRedisFatal})
	if err != nil {
		return nil, err
	}
	e.rdb = rdb
	return rdb, nil
}

func (e *env) store(ctx context.Context) (*store.Store, error) {
	rdb, err := e.redis(ctx)
	if err != nil {
		return nil, err
	}
	return store.New(rdb, store.Config{Prefix: e.cfg.Prefix, Retention: e.cfg.BatchRetention, WaitReplicas: e.cfg.RedisWaitReplicas}), nil
}

func (e *env) producer(ctx context.Context) (*producer.Producer, *store.Store, error) {
	st, err := e.store(ctx)
	if err != nil {
		return nil, nil, err
	}
	if e.q == nil {
		e.q = asynq.NewClientFromRedisClient(st.Redis())
	}
	return producer.New(st, e.q, producer.Config{SegmentSize: e.cfg.SegmentSize, BulkThreshold: e.cfg.BulkThreshold}), st, nil
}

func (e *env) replayer(ctx context.Context) (*deadletter.Replayer, *store.Store, error) {
	p, st, err := e.producer(ctx)
	if err != nil {
		return nil, nil, err
	}
	return deadletter.NewReplayer(st, p, deadletter.Config{}), st, nil
}

// limiterConfig is the rate limiter's share of the configuration.
func (e *env) limiterConfig() ratelimit.Config {
	return ratelimit.Config{
		Rate:                e.cfg.Rate,
		Burst:               e.cfg.Burst,
		CandidatesPerMinute: e.cfg.CandidatesPerMinute,
		MaxInFlight:         e.cfg.MaxInFlight,
		Adaptive:            e.cfg.Adaptive,
		Prefix:              e.cfg.Prefix,
		InFlightTTL:         2 * e.cfg.RequestTimeout,
	}
}

// rateLimiter is what the worker and `limits` need of a limiter.
type rateLimiter interface {
	worker.Limiter
	State(ctx context.Context) (ratelimit.State, error)
}

// limiter builds the configured limiter: the global one, or the per-process one.
func (e *env) limiter(st *store.Store) (rateLimiter, error) {
	if e.cfg.Limiter == config.LimiterLocal {
		e.log.Warn("BULKINVITE_LIMITER=local: this process holds the rate on its own; N processes send N times BULKINVITE_RATE")
		return ratelimit.NewLocal(e.limiterConfig()), nil
	}
	return ratelimit.New(st.Redis(), e.cfg.APIKey.ID(), e.limiterConfig(), e.log.Named("ratelimit"))
}

// worker builds a worker for the configured API.
func (e *env) worker(ctx context.Context) (*worker.Worker, error) {
	if err := e.cfg.RequireAPIKey(); err != nil {
		return nil, &exitError{code: ExitUsage, err: err}
	}
	st, err := e.store(ctx)
	if err != nil {
		return nil, err
	}
	client, err := flowmingo.New(flowmingo.Config{
		BaseURL:      e.cfg.APIURL,
		Key:          e.cfg.APIKey,
		Timeout:      e.cfg.RequestTimeout,
		MaxIdleConns: e.cfg.Concurrency,
	})
	if err != nil {
		return nil, err
	}
	if e.cfg.CleartextAPIURL() {
		e.log.Warn("FLOWMINGO_API_URL is plain http:// to a host that is not loopback: the API key crosses the network in cleartext (allowed by BULKINVITE_ALLOW_INSECURE_API_URL)",
			zap.String("api_url", config.RedactURL(e.cfg.APIURL)))
	}
	lim, err := e.limiter(st)
	if err != nil {
		return nil, err
	}
	if e.q == nil {
		e.q = asynq.NewClientFromRedisClient(st.Redis())
	}
	return worker.New(worker.Deps{
		Store: st, Queue: e.q, Sender: client, Limiter: lim, Key: e.cfg.APIKey, Log: e.log,
	}, e.workerConfig())
}

func (e *env) workerConfig() worker.Config {
	return worker.Config{
		ChunkSize:   e.cfg.ChunkSize,
		MaxAttempts: e.cfg.MaxAttempts,
		RetryMin:    e.cfg.RetryMin,
		RetryMax:    e.cfg.RetryMax,
		OnUnknown:   e.cfg.OnUnknown,
		LedgerTTL:   e.cfg.LedgerTTL,
	}
}

func (e *env) serveConfig() (worker.ServeConfig, error) {
	q, err := config.ParseQueueWeights(e.cfg.QueueWeights)
	if err != nil {
		return worker.ServeConfig{}, err
	}
	return worker.ServeConfig{Concurrency: e.cfg.Concurrency, Queues: q, ShutdownTimeout: e.cfg.ShutdownTimeout}, nil
}

// newLogger logs to stderr: console lines on a terminal, JSON otherwise.
func newLogger(cfg config.Config, stdio IO) *zap.Logger {
	level := zapcore.InfoLevel
	_ = level.Set(cfg.LogLevel)
	console := cfg.LogFormat == "console"
	if cfg.LogFormat == "auto" {
		f, ok := stdio.Err.(*os.File)
		console = ok && term.IsTerminal(int(f.Fd()))
	}
	var enc zapcore.Encoder
	if console {
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05")
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	}
	// Locked: handlers and go-redis's own goroutines log at once, and stdio.Err
	// need not be safe for concurrent writes.
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(stdio.Err)), level)
	return zap.New(core)
}

// go-redis logs its own messages (reconnects, dial failures) through one global
// logger; redisLogger forwards them to the running command's zap logger, so they
// are structured like every other line, with any URL in them redacted, and drops
// them between commands.
type redisLogger struct{}

var (
	redisLog     atomic.Pointer[zap.SugaredLogger]
	redisLogOnce sync.Once
)

func useRedisLogger(l *zap.SugaredLogger) {
	redisLogOnce.Do(func() { redis.SetLogger(redisLogger{}) })
	redisLog.Store(l)
}

func (redisLogger) Printf(_ context.Context, format string, v ...any) {
	if l := redisLog.Load(); l != nil {
		l.Warn(config.RedactURLs(fmt.Sprintf(format, v...)))
	}
}
