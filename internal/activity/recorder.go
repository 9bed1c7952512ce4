package activity

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Defaults of Config.
const (
	DefaultFlushEvery   = time.Second
	DefaultFlushTimeout = 5 * time.Second
)

// Config tunes a Recorder. Zero fields take the documented defaults.
type Config struct {
	// FlushEvery is how often the counts go to Redis. Default 1s.
	FlushEvery time.Duration
	// FlushTimeout bounds one flush, the last one (on stop) included. Default 5s.
	FlushTimeout time.Duration
	// Log gets the flushes that failed, at most one a minute. Default: none.
	Log *zap.Logger
	// Now is the clock the buckets are cut by. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.FlushEvery <= 0 {
		c.FlushEvery = DefaultFlushEvery
	}
	if c.FlushTimeout <= 0 {
		c.FlushTimeout = DefaultFlushTimeout
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// slot is one batch's bucket; batch "" is the deployment's.
type slot struct {
	batch  string
	bucket int64
}

// Recorder counts a worker's requests and adds them to Redis now and then (see
// the package doc). It is safe for concurrent use; Request never blocks on I/O.
type Recorder struct {
	rdb    redis.UniversalClient
	keys   keys
	cfg    Config
	errLog *rate.Limiter

	mu      sync.Mutex
	pending map[slot]*counts
}

// NewRecorder returns a Recorder writing to rdb under prefix: the store's client
// and prefix (store.Store's Redis and Prefix).
func NewRecorder(rdb redis.UniversalClient, prefix string, cfg Config) *Recorder {
	return &Recorder{rdb: rdb, keys: keys(prefix), cfg: cfg.withDefaults(),
		errLog: rate.NewLimiter(rate.Every(time.Minute), 1), pending: map[slot]*counts{}}
}

// Request counts one request to the vendor for batchID that carried candidates
// and ended with HTTP status (0: no answer), in the batch's bucket and the
// deployment's (worker.Activity).
func (r *Recorder) Request(batchID string, candidates, status int) {
	k, b := KindOf(status), bucket(r.cfg.Now())
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count(slot{batchID, b}, candidates, k)
	r.count(slot{"", b}, candidates, k)
}

// count adds to s's counts; under r.mu.
func (r *Recorder) count(s slot, n int, k Kind) {
	c := r.pending[s]
	if c == nil {
		c = &counts{}
		r.pending[s] = c
	}
	c.add(n, k)
}

// Run flushes every Config.FlushEvery until ctx is done, then flushes what is
// left. Stop it only once the worker sends no more (after worker.Serve returned),
// so that the last requests are in the last flush.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.flushLogged(context.Background())
			return
		case <-t.C:
			r.flushLogged(ctx)
		}
	}
}

// Start runs Run in a goroutine of its own until stop is called; stop returns
// once the last flush is done. Call it once the worker sends no more.
func (r *Recorder) Start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// flushLogged flushes within Config.FlushTimeout, logging a failure.
func (r *Recorder) flushLogged(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.FlushTimeout)
	defer cancel()
	if err := r.Flush(ctx); err != nil && r.errLog.Allow() {
		r.cfg.Log.Warn("could not record the sending's activity for the dashboard's chart; its counts are dropped", zap.Error(err))
	}
}

// Flush adds the counts taken since the last flush to Redis, in one pipeline,
// and sets each key's expiry. On an error the counts are dropped: Redis may
// hold part of them, and counting them again could count them twice.
func (r *Recorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	taken := r.pending
	if len(taken) == 0 {
		r.mu.Unlock()
		return nil
	}
	r.pending = make(map[slot]*counts, len(taken))
	r.mu.Unlock()
	expire := map[string]time.Time{}
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for s, c := range taken {
			hour, i := hourOf(s.bucket)
			key := r.keys.key(s.batch, hour)
			for f, n := range c.fields(i) {
				p.HIncrBy(ctx, key, f, n)
			}
			expire[key] = expiry(hour)
		}
		for key, at := range expire {
			p.ExpireAt(ctx, key, at)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("flush activity: %w", err)
	}
	return nil
}
