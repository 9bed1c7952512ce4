package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// DefaultEvery is how often a worker refreshes its key; its TTL defaults to
// TTLFactor times that.
const (
	DefaultEvery = 10 * time.Second
	TTLFactor    = 3
)

// Unknown is the version of a build that carries no build information.
const Unknown = "unknown"

// BuildVersion is the version of this binary: the module version the go
// command stamped (a release tag for `go install ...@v1.2.3`, a
// pseudo-version of the checkout's commit for a build in it, "+dirty" when it
// had changes), else the commit it was built from (12 hex digits, "+dirty"),
// else "(devel)"; Unknown without build information.
func BuildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Unknown
	}
	return versionOf(bi)
}

func versionOf(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "+dirty"
		}
	}
	if rev == "" {
		return "(devel)"
	}
	return rev[:min(len(rev), 12)] + dirty
}

// Proc names a worker process as asynq's server list does.
type Proc struct {
	Host string
	PID  int
}

func (p Proc) key(prefix string) string {
	return prefix + "worker:" + p.Host + ":" + strconv.Itoa(p.PID)
}

// Self is this process, named as asynq names it.
func Self() Proc {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host" // asynq's name then
	}
	return Proc{Host: host, PID: os.Getpid()}
}

// Entry is what a worker publishes.
type Entry struct {
	Version string    `json:"version"`
	Started time.Time `json:"started"`
}

// Config tunes a Publisher. Zero fields take the documented defaults.
type Config struct {
	// Every is how often the key is written again. Default DefaultEvery.
	Every time.Duration
	// TTL is how long the key outlives its last write. Default TTLFactor × Every.
	TTL time.Duration
	// Version is the version published. Default BuildVersion().
	Version string
	// Proc names the process. Default Self().
	Proc Proc
	// Log gets the writes that failed, at most one a minute. Default: none.
	Log *zap.Logger
	// Now is the clock of Entry.Started. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Every <= 0 {
		c.Every = DefaultEvery
	}
	if c.TTL <= 0 {
		c.TTL = TTLFactor * c.Every
	}
	if c.Version == "" {
		c.Version = BuildVersion()
	}
	if c.Proc == (Proc{}) {
		c.Proc = Self()
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Publisher keeps one worker process's key (see the package doc).
type Publisher struct {
	rdb    redis.UniversalClient
	key    string
	cfg    Config
	value  []byte
	errLog *rate.Limiter
}

// NewPublisher returns a Publisher writing to rdb under prefix: the store's
// client and prefix.
func NewPublisher(rdb redis.UniversalClient, prefix string, cfg Config) *Publisher {
	cfg = cfg.withDefaults()
	value, _ := json.Marshal(Entry{Version: cfg.Version, Started: cfg.Now().UTC()}) // cannot fail: a string and a time
	return &Publisher{rdb: rdb, key: cfg.Proc.key(prefix), cfg: cfg, value: value,
		errLog: rate.NewLimiter(rate.Every(time.Minute), 1)}
}

// Publish writes the key, with its expiry Config.TTL ahead.
func (p *Publisher) Publish(ctx context.Context) error {
	if err := p.rdb.Set(ctx, p.key, p.value, p.cfg.TTL).Err(); err != nil {
		return fmt.Errorf("publish the worker's version: %w", err)
	}
	return nil
}

// Remove deletes the key.
func (p *Publisher) Remove(ctx context.Context) error {
	if err := p.rdb.Del(ctx, p.key).Err(); err != nil {
		return fmt.Errorf("remove the worker's version: %w", err)
	}
	return nil
}

// Start publishes now and every Config.Every in a goroutine of its own until
// stop is called; stop deletes the key (within Config.Every) and returns once
// it is done.
func (p *Publisher) Start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(p.cfg.Every)
		defer t.Stop()
		for {
			p.logged(ctx, p.Publish)
			select {
			case <-ctx.Done():
				p.logged(context.WithoutCancel(ctx), p.Remove)
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// logged runs step within Config.Every, logging a failure.
func (p *Publisher) logged(ctx context.Context, step func(context.Context) error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Every)
	defer cancel()
	if err := step(ctx); err != nil && !errors.Is(err, context.Canceled) && p.errLog.Allow() {
		p.cfg.Log.Warn("doctor will not show this worker's version", zap.Error(err))
	}
}

// Lookup reads the entries of procs, in one pipeline; a process without one
// (a build that publishes none, a key lapsed) is not in the map.
func Lookup(ctx context.Context, rdb redis.UniversalClient, prefix string, procs []Proc) (map[Proc]Entry, error) {
	cmds := make([]*redis.StringCmd, len(procs))
	_, err := rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for i, p := range procs {
			cmds[i] = pl.Get(ctx, p.key(prefix))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read the workers' versions: %w", err)
	}
	out := make(map[Proc]Entry, len(procs))
	for i, c := range cmds {
		b, err := c.Bytes()
		if err != nil {
			continue // redis.Nil: none
		}
		var e Entry
		if json.Unmarshal(b, &e) == nil && e.Version != "" {
			out[procs[i]] = e
		}
	}
	return out, nil
}
