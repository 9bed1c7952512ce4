// Package doctor checks a bulkinvite deployment before its first run: the Redis
// it points at (reachable, topology, persistence, maxmemory and its policy, the
// ACL on our keys and asynq's, the replicas BULKINVITE_REDIS_WAIT_REPLICAS
// waits for, what at-most-once needs, the clock), the vendor's API URL and the
// key's shape, and what runs there already (workers and the versions they
// run, paused queues, an auth stop). Each check says what it found and, when something is wrong, the fix.
//
// A check fails when what it found would lose or repeat work, or keep it from
// being done at all (Redis or the API out of reach, our keys refused, a WAIT
// no replica can answer); it warns of what is worth knowing but loses nothing.
// What each mode needs from Redis is docs/reliability.md's ("What each mode
// needs from Redis"); this package reads it, with store.Persistence, and does
// not decide it anew. It changes nothing in Redis but a key of its own, written
// and deleted in one script, to learn whether the ACL lets us write.
package doctor

import (
	"context"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/internal/presence"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// Status is a check's verdict.
type Status string

// The verdicts.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	// Fail: something would lose or repeat work, or stop it.
	Fail Status = "fail"
)

// Check is one check's verdict, what it found, and the fix when it is not OK.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is every check, in the order they ran.
type Report struct {
	Checks []Check `json:"checks"`
}

// Failed reports whether any check failed.
func (r Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return true
		}
	}
	return false
}

// Count returns how many checks have status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == s {
			n++
		}
	}
	return n
}

// DefaultTimeout bounds each check that talks to Redis or the API.
const DefaultTimeout = 10 * time.Second

// Config is what the checks compare the deployment with.
type Config struct {
	// RedisURL is REDIS_URL, shown redacted. Required.
	RedisURL string
	// Prefix starts our Redis keys (BULKINVITE_PREFIX). Default store.DefaultPrefix.
	Prefix string
	// WaitReplicas is BULKINVITE_REDIS_WAIT_REPLICAS. Default 0: no WAIT.
	WaitReplicas int
	// AtMostOnce is BULKINVITE_ON_UNKNOWN=deadletter. Default false: at-least-once.
	AtMostOnce bool
	// APIURL is FLOWMINGO_API_URL. Required.
	APIURL string
	// CleartextAPIURL is true when APIURL is plain http:// to a host that is not
	// loopback (BULKINVITE_ALLOW_INSECURE_API_URL let it through). Default false.
	CleartextAPIURL bool
	// APIKey is the key the workers would send with; only its shape is checked.
	APIKey flowmingo.APIKey
	// Timeout bounds each check that talks to Redis or the API. Default
	// DefaultTimeout.
	Timeout time.Duration
	// MaxClockSkew is the most the clocks of this host and Redis may differ,
	// beyond half the round trip, before the clock check warns. Default 1s.
	MaxClockSkew time.Duration
	// HTTPClient reaches the API. Default: a client with the system's roots.
	HTTPClient *http.Client
	// Now is this host's clock. Default time.Now.
	Now func() time.Time
	// Version is this doctor's build, which a worker's version is compared
	// with when both are semantic versions. Default presence.BuildVersion().
	Version string
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = store.DefaultPrefix
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxClockSkew <= 0 {
		c.MaxClockSkew = time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Version == "" {
		c.Version = presence.BuildVersion()
	}
	return c
}

// Deployment is what Open connects to: the Redis client, and the store over it.
type Deployment struct {
	Redis redis.UniversalClient
	Store *store.Store
}

// Run runs every check. open connects to Redis (app.Open, which checks and
// explains what stops a connection); when it fails, the checks that need Redis
// are left out and the report says why.
func Run(ctx context.Context, cfg Config, open func(context.Context) (Deployment, error)) Report {
	cfg = cfg.withDefaults()
	r := &run{cfg: cfg}
	octx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	d, err := open(octx)
	cancel()
	if err != nil {
		r.add(Check{Name: "redis", Status: Fail, Detail: err.Error(),
			Fix: "point REDIS_URL at a Redis master that answers, with a user allowed to log in (the error says what is wrong); the checks of Redis need it"})
	} else {
		r.redis(ctx, d)
	}
	r.apiKey()
	r.api(ctx)
	return Report{Checks: r.checks}
}

// run collects the checks of one Run.
type run struct {
	cfg    Config
	checks []Check
}

func (r *run) add(c Check) { r.checks = append(r.checks, c) }

// bounded runs f with a context bounded by the check timeout.
func (r *run) bounded(ctx context.Context, f func(ctx context.Context)) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	f(ctx)
}
