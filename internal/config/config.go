package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/producer"
	"github.com/bulkinvite/bulkinvite/ratelimit"
	"github.com/bulkinvite/bulkinvite/worker"
)

// Config is every setting bulkinvite reads. The zero value is not useful: start from
// Default and Load over it.
type Config struct {
	// RedisURL is where the queues and our own keys live (REDIS_URL):
	// redis://[user:pass@]host:port/db, rediss:// for TLS, any node of a Redis
	// Cluster, redis-sentinel:// for Sentinel; ParseRedisURL reads it. It may hold a
	// password: show it only through RedactURL.
	RedisURL string
	// Prefix starts every Redis key of our own (BULKINVITE_PREFIX), default "bulkinvite:".
	Prefix string

	// APIURL is the vendor's base URL (FLOWMINGO_API_URL): https://, or http:// to
	// a loopback host (127.0.0.0/8, ::1, localhost) such as the sandbox.
	APIURL string
	// AllowInsecureAPIURL lets APIURL be plain http:// to a host that is not
	// loopback, which sends the API key in cleartext (BULKINVITE_ALLOW_INSECURE_API_URL).
	// Default false.
	AllowInsecureAPIURL bool
	// APIKey is read from FLOWMINGO_API_KEY, or from the file FLOWMINGO_API_KEY_FILE names.
	APIKey flowmingo.APIKey
	// APIKeyFile is the path the key was read from, if any.
	APIKeyFile string
	// RequestTimeout bounds one request to the API (BULKINVITE_REQUEST_TIMEOUT).
	RequestTimeout time.Duration

	// Tokens are the bearer tokens `serve` accepts, with their names and
	// scopes, from BULKINVITE_TOKENS (comma-separated name:scope+scope:secret
	// entries or bare secrets; "#" is part of a secret there) or the file
	// BULKINVITE_TOKENS_FILE names (YAML, or bare secrets one a line with "#"
	// starting a comment); see auth.ParseEnv and auth.ParseFile. A bare secret
	// is an unscoped admin token (Token.Unscoped). Each secret is at least
	// auth.MinSecretLength characters; only their SHA-256 is kept.
	Tokens []auth.Token
	// TokensFile is the path the tokens were read from, if any.
	TokensFile string
	// CallbackSecret keys the HMAC signature of batch callbacks, from
	// BULKINVITE_CALLBACK_SECRET or the file BULKINVITE_CALLBACK_SECRET_FILE names.
	// A secret: never printed.
	CallbackSecret string
	// CallbackSecretFile is the path the callback secret was read from, if any.
	CallbackSecretFile string
	// CallbackAllowPrivate lets a batch's callback_url reach an address that is
	// not global unicast (loopback, private, link-local, reserved; see
	// callback.Public) or the worker's own (BULKINVITE_CALLBACK_ALLOW_PRIVATE). Default
	// false: such targets are refused, so that a caller cannot make bulkinvite
	// reach into the network it runs in.
	CallbackAllowPrivate bool
	// ServeMaxBody bounds a request body `serve` takes, in bytes
	// (BULKINVITE_SERVE_MAX_BODY); larger ones are answered 413.
	ServeMaxBody int
	// ServeTokenRate and ServeTokenBurst are the requests per second, and the
	// burst, each bearer token may make to one `serve` process
	// (BULKINVITE_SERVE_TOKEN_RATE, BULKINVITE_SERVE_TOKEN_BURST).
	ServeTokenRate  float64
	ServeTokenBurst int
	// ServeTokenInFlight is how many requests each bearer token may have in
	// flight at once in one `serve` process (BULKINVITE_SERVE_TOKEN_IN_FLIGHT);
	// one more is answered 429.
	ServeTokenInFlight int
	// ServeSpoolLimit bounds the request bodies one `serve` process holds at
	// once, all requests together, in memory and temporary files, in bytes
	// (BULKINVITE_SERVE_SPOOL_LIMIT); a body past it is answered 503. At least
	// ServeMaxBody.
	ServeSpoolLimit int
	// TrustedProxyHeader names the request header in which the reverse proxy in
	// front of `serve` gives the client's address (X-Forwarded-For, X-Real-IP,
	// Forwarded; the last address listed counts), for the throttle of failed
	// authentications of the API and the dashboard's sign-in
	// (BULKINVITE_TRUSTED_PROXY_HEADER). Default "": the connection's remote
	// address. Set it only when every request comes through that proxy.
	TrustedProxyHeader string

	// Rate is requests per second to the API, all workers together (BULKINVITE_RATE).
	Rate float64
	// Burst is how many requests may go at once above Rate (BULKINVITE_BURST).
	Burst int
	// CandidatesPerMinute caps candidates sent per minute, all workers together; 0 = no cap.
	CandidatesPerMinute int
	// MaxInFlight caps requests in flight per key, all workers together; 0 = the limiter's default.
	MaxInFlight int
	// Adaptive lowers the rate after repeated 429s and climbs back slowly.
	Adaptive bool
	// Limiter is "global" (one rate for all workers, held in Redis; the default) or
	// "local" (each process holds Rate on its own: N processes send N times the
	// rate; for measurements and comparison only) (BULKINVITE_LIMITER).
	Limiter string

	// ChunkSize is the most candidates in one API request (BULKINVITE_CHUNK_SIZE).
	ChunkSize int
	// SegmentSize is how many candidates the producer admits (counts and
	// de-duplicates within the batch) in one step before enqueuing their chunks.
	SegmentSize int
	// Concurrency is chunk handlers per worker process (BULKINVITE_CONCURRENCY).
	Concurrency int
	// MaxAttempts is how many times a chunk is sent before its open candidates are
	// dead-lettered as retries_exhausted (BULKINVITE_MAX_ATTEMPTS).
	MaxAttempts int
	// RetryMin and RetryMax are the floor and ceiling of the exponential backoff
	// (BULKINVITE_RETRY_MIN, BULKINVITE_RETRY_MAX).
	RetryMin, RetryMax time.Duration
	// OnUnknown chooses what a reply lost after the vendor may have acted does:
	// "retry" (at-least-once) or "deadletter" (at-most-once) (BULKINVITE_ON_UNKNOWN).
	OnUnknown string
	// RetrySafeStatuses lists the vendor's 5xx statuses that prove it did nothing
	// with a request, comma-separated ("503"): under at-most-once they are
	// retried instead of dead-lettered as unknown_outcome
	// (BULKINVITE_RETRY_SAFE_STATUSES). Default none.
	RetrySafeStatuses string
	// LedgerTTL is how long a recorded success blocks a repeat invite to the same
	// target (BULKINVITE_LEDGER_TTL).
	LedgerTTL time.Duration
	// BatchRetention is how long a done batch's keys (counters, per-candidate
	// outcomes, de-duplication data, rejects) stay after it finished
	// (BULKINVITE_BATCH_RETENTION). Default 720h. Dead letters stay until replayed
	// or purged.
	BatchRetention time.Duration
	// RedisWaitReplicas is how many replicas must acknowledge each claim, sent
	// mark, outcome and ledger write (WAIT) before the worker moves on, so that a
	// failover cannot forget a success or a send (BULKINVITE_REDIS_WAIT_REPLICAS).
	// Default 0: no WAIT.
	RedisWaitReplicas int
	// TaskCheckInterval is how often an idle worker looks for new tasks
	// (BULKINVITE_TASK_CHECK_INTERVAL): the most a task waits before a worker with
	// a free handler takes it. Each look costs Redis one script per asynq queue
	// tried: up to 3, on a Redis Cluster up to 24, every shard of the three
	// queues (task.Sharded).
	TaskCheckInterval time.Duration
	// DelayedTaskCheckInterval is how often a worker moves tasks whose wait is over
	// (a retry's backoff, a 429 cool-down, an auth stop's poll) back to their queue
	// (BULKINVITE_DELAYED_TASK_CHECK_INTERVAL).
	DelayedTaskCheckInterval time.Duration
	// ShutdownTimeout is how long a stopping worker waits for in-flight chunks before
	// handing them back to the queue (BULKINVITE_SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
	// RedisMemoryWait is how long an import waits while Redis refuses its writes
	// for want of memory (OOM under maxmemory), retrying, before it fails
	// (BULKINVITE_REDIS_MEMORY_WAIT). Default 10m; 0: fail at once.
	RedisMemoryWait time.Duration
	// BulkThreshold: batches with more accepted candidates than this go to the "bulk"
	// queue, smaller ones to "default" (BULKINVITE_BULK_THRESHOLD).
	BulkThreshold int
	// QueueWeights are the asynq priorities of the queues "default", "bulk" and "replay"
	// as "name=weight,..." (BULKINVITE_QUEUE_WEIGHTS).
	QueueWeights string

	// LogLevel is debug, info, warn or error (BULKINVITE_LOG_LEVEL).
	LogLevel string
	// LogFormat is auto (console on a TTY, JSON otherwise), json or console.
	LogFormat string
}

// Limiter values.
const (
	LimiterGlobal = "global"
	LimiterLocal  = "local"
)

// DefaultRedisURL is REDIS_URL's default: the local Redis, database 0.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// Default returns the documented defaults: those of the packages each setting
// configures, so that a default is written in one place only.
func Default() Config {
	return Config{
		RedisURL:                 DefaultRedisURL,
		Prefix:                   store.DefaultPrefix,
		APIURL:                   flowmingo.DefaultBaseURL,
		RequestTimeout:           flowmingo.DefaultTimeout,
		Rate:                     ratelimit.DefaultRate,
		Burst:                    ratelimit.DefaultBurst,
		Limiter:                  LimiterGlobal,
		ChunkSize:                worker.DefaultChunkSize,
		SegmentSize:              producer.DefaultSegmentSize,
		Concurrency:              worker.DefaultConcurrency,
		MaxAttempts:              worker.DefaultMaxAttempts,
		RetryMin:                 worker.DefaultRetryMin,
		RetryMax:                 worker.DefaultRetryMax,
		OnUnknown:                worker.DefaultOnUnknown,
		LedgerTTL:                store.DefaultLedgerTTL,
		BatchRetention:           store.DefaultRetention,
		ShutdownTimeout:          worker.DefaultShutdownTimeout,
		TaskCheckInterval:        worker.DefaultTaskCheckInterval,
		DelayedTaskCheckInterval: worker.DefaultDelayedTaskCheckInterval,
		BulkThreshold:            producer.DefaultBulkThreshold,
		RedisMemoryWait:          producer.DefaultMemoryWait,
		QueueWeights:             FormatQueueWeights(worker.DefaultQueues()),
		ServeMaxBody:             httpapi.DefaultMaxBodyBytes,
		ServeTokenRate:           httpapi.DefaultTokenRate,
		ServeTokenBurst:          httpapi.DefaultTokenBurst,
		ServeTokenInFlight:       httpapi.DefaultTokenInFlight,
		ServeSpoolLimit:          httpapi.DefaultSpoolLimit,
		LogLevel:                 "info",
		LogFormat:                "auto",
	}
}

// MaxChunkSize is the largest chunk we send in one request.
const MaxChunkSize = 500

// Upper bounds of the numeric settings. Beyond them a value is a typo, or would
// overflow the arithmetic done with it (2*RequestTimeout is the limiter's lease on
// an in-flight slot, RetryMin doubles up to RetryMax, asynq builds a list as long
// as the sum of the queue weights on every dequeue), or would hold a resource for
// longer than anyone means.
const (
	maxRate                = 10000 // requests/s
	maxBurst               = 10000
	maxCandidatesPerMinute = 1_000_000
	maxInFlightCap         = 10000
	maxSegmentSize         = 100_000
	maxConcurrency         = 1000
	maxAttempts            = 1000 // well below the worker's asynq backstop of 65536 retries
	maxBulkThreshold       = 1_000_000_000
	maxQueueWeight         = 100
	maxWaitReplicas        = 100 // more replicas than anyone runs: a WAIT for them would only time out
	minServeMaxBody        = 1 << 10
	maxServeMaxBody        = 1 << 30 // spooled to disk, but a body this large is a mistake
	maxServeTokenRate      = 100_000
	maxServeTokenBurst     = 100_000
	maxServeTokenInFlight  = 10000

	maxRequestTimeout  = time.Hour
	maxRetryDelay      = 24 * time.Hour
	maxShutdownTimeout = time.Hour

	minTaskCheckInterval        = 10 * time.Millisecond
	maxTaskCheckInterval        = 10 * time.Second
	minDelayedTaskCheckInterval = 100 * time.Millisecond
	maxDelayedTaskCheckInterval = time.Minute
	maxLedgerTTL                = 10 * 365 * 24 * time.Hour // 10 years: 87600h
	maxBatchRetention           = maxLedgerTTL
	maxRedisMemoryWait          = 24 * time.Hour
)

// maxServeSpoolLimit bounds BULKINVITE_SERVE_SPOOL_LIMIT: 1 TiB, more room for
// request bodies than any machine serve runs on means to give them. An int64,
// so that the bound also compiles where int has 32 bits.
const maxServeSpoolLimit int64 = 1 << 40

// headerName is what BULKINVITE_TRUSTED_PROXY_HEADER may hold.
var headerName = regexp.MustCompile(`^[A-Za-z0-9-]+$`)

// hours shows a bound such as 24h without the "0m0s" that Duration.String adds.
func hours(d time.Duration) string {
	if d%time.Hour == 0 {
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	return d.String()
}

// Validate checks every setting and names the first bad one with its env name.
func (c *Config) Validate() error {
	var errs []error
	bad := func(env, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, a...)))
	}
	ints := func(env string, v, lo, hi int, note string) {
		if v < lo || v > hi {
			bad(env, "must be %d..%d%s, got %d", lo, hi, note, v)
		}
	}
	durations := func(env string, v, hi time.Duration) {
		if v <= 0 || v > hi {
			bad(env, "must be > 0 and <= %s, got %s", hours(hi), v)
		}
	}
	if _, err := ParseRedisURL(c.RedisURL); err != nil {
		bad("REDIS_URL", "%v", err)
	}
	if c.Prefix == "" {
		bad("BULKINVITE_PREFIX", "must not be empty")
	}
	if strings.ContainsAny(c.Prefix, "{}") {
		bad("BULKINVITE_PREFIX", "must not contain { or }, got %q: bulkinvite gives its keys Redis Cluster hash tags itself, per batch and per target, so that they spread over the masters; a tag in the prefix would put them all in one slot", c.Prefix)
	}
	if err := checkAPIURL(c.APIURL, c.AllowInsecureAPIURL); err != nil {
		bad("FLOWMINGO_API_URL", "%v", err)
	}
	durations("BULKINVITE_REQUEST_TIMEOUT", c.RequestTimeout, maxRequestTimeout)
	// Written so that NaN and ±Inf fail too.
	if !(c.Rate > 0 && c.Rate <= maxRate) {
		bad("BULKINVITE_RATE", "must be a number > 0 and <= %d (requests/s), got %v", maxRate, c.Rate)
	}
	ints("BULKINVITE_BURST", c.Burst, 1, maxBurst, "")
	if c.Limiter != LimiterGlobal && c.Limiter != LimiterLocal {
		bad("BULKINVITE_LIMITER", "must be %q or %q, got %q", LimiterGlobal, LimiterLocal, c.Limiter)
	}
	ints("BULKINVITE_CANDIDATES_PER_MINUTE", c.CandidatesPerMinute, 0, maxCandidatesPerMinute, " (0 = no cap)")
	ints("BULKINVITE_MAX_IN_FLIGHT", c.MaxInFlight, 0, maxInFlightCap, " (0 = the limiter's default)")
	ints("BULKINVITE_CHUNK_SIZE", c.ChunkSize, 1, MaxChunkSize, "")
	if c.CandidatesPerMinute > 0 && c.ChunkSize > c.CandidatesPerMinute {
		bad("BULKINVITE_CHUNK_SIZE", "must not exceed BULKINVITE_CANDIDATES_PER_MINUTE (%d), got %d: a chunk that big could never be sent", c.CandidatesPerMinute, c.ChunkSize)
	}
	if c.SegmentSize < c.ChunkSize || c.SegmentSize > maxSegmentSize {
		bad("BULKINVITE_SEGMENT_SIZE", "must be >= BULKINVITE_CHUNK_SIZE (%d) and <= %d, got %d", c.ChunkSize, maxSegmentSize, c.SegmentSize)
	}
	ints("BULKINVITE_CONCURRENCY", c.Concurrency, 1, maxConcurrency, "")
	ints("BULKINVITE_MAX_ATTEMPTS", c.MaxAttempts, 1, maxAttempts, "")
	durations("BULKINVITE_RETRY_MIN", c.RetryMin, maxRetryDelay)
	if c.RetryMax > maxRetryDelay || (c.RetryMax < c.RetryMin && c.RetryMin <= maxRetryDelay) {
		bad("BULKINVITE_RETRY_MAX", "must be >= BULKINVITE_RETRY_MIN (%s) and <= %s, got %s", c.RetryMin, hours(maxRetryDelay), c.RetryMax)
	}
	if c.OnUnknown != worker.OnUnknownRetry && c.OnUnknown != worker.OnUnknownDeadLetter {
		bad("BULKINVITE_ON_UNKNOWN", "must be %q or %q, got %q", worker.OnUnknownRetry, worker.OnUnknownDeadLetter, c.OnUnknown)
	}
	if _, err := ParseStatuses(c.RetrySafeStatuses); err != nil {
		bad("BULKINVITE_RETRY_SAFE_STATUSES", "%v", err)
	}
	durations("BULKINVITE_LEDGER_TTL", c.LedgerTTL, maxLedgerTTL)
	durations("BULKINVITE_BATCH_RETENTION", c.BatchRetention, maxBatchRetention)
	ints("BULKINVITE_REDIS_WAIT_REPLICAS", c.RedisWaitReplicas, 0, maxWaitReplicas, " (0 = no WAIT)")
	durations("BULKINVITE_SHUTDOWN_TIMEOUT", c.ShutdownTimeout, maxShutdownTimeout)
	between := func(env string, v, lo, hi time.Duration) {
		if v < lo || v > hi {
			bad(env, "must be %s..%s, got %s", lo, hi, v)
		}
	}
	between("BULKINVITE_TASK_CHECK_INTERVAL", c.TaskCheckInterval, minTaskCheckInterval, maxTaskCheckInterval)
	between("BULKINVITE_DELAYED_TASK_CHECK_INTERVAL", c.DelayedTaskCheckInterval, minDelayedTaskCheckInterval, maxDelayedTaskCheckInterval)
	between("BULKINVITE_REDIS_MEMORY_WAIT", c.RedisMemoryWait, 0, maxRedisMemoryWait)
	ints("BULKINVITE_BULK_THRESHOLD", c.BulkThreshold, 0, maxBulkThreshold, "")
	ints("BULKINVITE_SERVE_MAX_BODY", c.ServeMaxBody, minServeMaxBody, maxServeMaxBody, " bytes")
	if c.TrustedProxyHeader != "" && !headerName.MatchString(c.TrustedProxyHeader) {
		bad("BULKINVITE_TRUSTED_PROXY_HEADER", "must be a header name such as X-Forwarded-For (letters, digits, -), got %q", c.TrustedProxyHeader)
	}
	if !(c.ServeTokenRate > 0 && c.ServeTokenRate <= maxServeTokenRate) {
		bad("BULKINVITE_SERVE_TOKEN_RATE", "must be a number > 0 and <= %d (requests/s per token), got %v", maxServeTokenRate, c.ServeTokenRate)
	}
	ints("BULKINVITE_SERVE_TOKEN_BURST", c.ServeTokenBurst, 1, maxServeTokenBurst, "")
	ints("BULKINVITE_SERVE_TOKEN_IN_FLIGHT", c.ServeTokenInFlight, 1, maxServeTokenInFlight, "")
	if int64(c.ServeSpoolLimit) < int64(c.ServeMaxBody) || int64(c.ServeSpoolLimit) > maxServeSpoolLimit {
		bad("BULKINVITE_SERVE_SPOOL_LIMIT", "must be >= BULKINVITE_SERVE_MAX_BODY (%d) and <= %d bytes, got %d", c.ServeMaxBody, maxServeSpoolLimit, c.ServeSpoolLimit)
	}
	if _, err := ParseQueueWeights(c.QueueWeights); err != nil {
		bad("BULKINVITE_QUEUE_WEIGHTS", "%v", err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("BULKINVITE_LOG_LEVEL", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	switch c.LogFormat {
	case "auto", "json", "console":
	default:
		bad("BULKINVITE_LOG_FORMAT", "must be auto, json or console, got %q", c.LogFormat)
	}
	return errors.Join(errs...)
}

// RequireAPIKey checks that a well-formed API key is set, for the commands that send.
func (c *Config) RequireAPIKey() error {
	if err := c.APIKey.Check(); err != nil {
		return fmt.Errorf("FLOWMINGO_API_KEY: %w", err)
	}
	return nil
}

// ParseQueueWeights reads "default=6,replay=3,bulk=1". Every one of the queues
// (task.Queues) must be listed with a weight of 1..100.
func ParseQueueWeights(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not name=weight", part)
		}
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 1 || n > maxQueueWeight {
			return nil, fmt.Errorf("weight of %q must be a whole number 1..%d, got %q", name, maxQueueWeight, w)
		}
		name = strings.TrimSpace(name)
		if !slices.Contains(task.Queues, name) {
			return nil, fmt.Errorf("unknown queue %q (queues: %s)", name, strings.Join(task.Queues, ", "))
		}
		out[name] = n
	}
	for _, q := range task.Queues {
		if _, ok := out[q]; !ok {
			return nil, fmt.Errorf("queue %q has no weight", q)
		}
	}
	return out, nil
}

// ParseStatuses reads a comma-separated list of 5xx HTTP statuses ("502,503").
func ParseStatuses(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 500 || n > 599 {
			return nil, fmt.Errorf("%q is not a 5xx HTTP status (only a 5xx answer leaves the outcome unknown)", part)
		}
		out = append(out, n)
	}
	return out, nil
}

// FormatQueueWeights writes weights as ParseQueueWeights reads them, in the order
// of task.Queues.
func FormatQueueWeights(weights map[string]int) string {
	parts := make([]string, 0, len(weights))
	for _, q := range task.Queues {
		if w, ok := weights[q]; ok {
			parts = append(parts, q+"="+strconv.Itoa(w))
		}
	}
	return strings.Join(parts, ",")
}
