package httpapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/bulkinvite/bulkinvite/internal/auth"
)

// Defaults of Config.
const (
	DefaultAddr              = "127.0.0.1:8080"
	DefaultMaxBodyBytes      = 32 << 20
	DefaultTokenRate         = 50
	DefaultTokenBurst        = 100
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 2 * time.Minute
	DefaultWriteTimeout      = 5 * time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultImportTimeout     = 2 * time.Minute
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultIdempotencyTTL    = 24 * time.Hour
	DefaultReadyTimeout      = time.Second
	DefaultSpoolMemory       = 1 << 20
	DefaultSpoolLimit        = 1 << 30
	DefaultTokenInFlight     = 16
	DefaultFailedAuthRate    = 1.0
	DefaultFailedAuthBurst   = 10
)

// Config tunes a Server. Zero fields take the documented defaults.
type Config struct {
	// Addr is where ListenAndServe listens, host:port. Default "127.0.0.1:8080".
	Addr string
	// Tokens are bare secrets accepted in the Authorization header: each an
	// unscoped admin token (auth.Bare) named by TokenID. Secrets: never logged.
	Tokens []string
	// AuthTokens are the tokens accepted besides Tokens, with their names and
	// scopes (auth.ParseFile, auth.ParseEnv). A request's log line names its
	// token by its name; a route its token's scopes do not cover is answered 403
	// forbidden; handlers find the caller with auth.FromContext.
	AuthTokens []auth.Token
	// InsecureNoAuth serves every route without a token, and answers only
	// requests addressed to a loopback name (LoopbackHost; others get 421
	// misdirected_request, the UI's paths too). Refused (Validate) unless
	// Addr is a loopback address and Tokens is empty. Default false.
	InsecureNoAuth bool
	// MaxBodyBytes bounds a request body; a larger one is answered 413. Default 32 MiB.
	MaxBodyBytes int64
	// TokenRate is the requests per second each token may make (per serve
	// process), with bursts of TokenBurst; more are answered 429 with
	// Retry-After. Defaults 50 and 100.
	TokenRate  float64
	TokenBurst int
	// TokenInFlight is how many requests each token may have in flight at once
	// (per serve process); one more is answered 429 rate_limited with
	// Retry-After, so that one caller cannot hold every connection, or the spool
	// space, alone. Default 16.
	TokenInFlight int
	// FailedAuth limits failed authentications per client address: a wrong token
	// past the address's burst of failures is answered 429 too_many_failed_auth
	// with Retry-After; a right one always passes. Give the dashboard the same one
	// (dashboard.Config.FailedAuth) so that failures on either count together.
	// Default: one of its own with ThrottleConfig's defaults (bursts of 10, then 1
	// a second, by the connection's remote address).
	FailedAuth *AuthThrottle
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are
	// http.Server's. Defaults 10s, 2m (a whole request, body included), 5m (from
	// the end of the request's headers to the end of the answer: the body, the
	// import and the answer) and 2m.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request headers. Default 64 KiB.
	MaxHeaderBytes int
	// ImportTimeout bounds the import of one posted batch, once its body is in. The
	// import goes on if the client goes away, so that a batch is not left half
	// enqueued. Default 2m; at most WriteTimeout.
	ImportTimeout time.Duration
	// ShutdownTimeout is how long Serve waits, once its context ends, for requests
	// in flight; then their connections are closed. Default 30s.
	ShutdownTimeout time.Duration
	// IdempotencyTTL is how long an Idempotency-Key is remembered. Default 24h.
	IdempotencyTTL time.Duration
	// ReadyTimeout bounds /readyz's PING of Redis. Default 1s.
	ReadyTimeout time.Duration
	// SpoolMemory is how much of a request body is kept in memory; the rest of a
	// larger body goes to a temporary file in SpoolDir. Default 1 MiB.
	SpoolMemory int64
	// SpoolDir holds the temporary files of large bodies. Default os.TempDir().
	SpoolDir string
	// SpoolLimit bounds the request bodies held at once, all requests together,
	// in memory and in SpoolDir, in bytes. A body that would go past it is
	// answered 503 server_busy with Retry-After (the body itself may be fine:
	// it fits once others are done); a request gives its space back when it
	// ends, however it ends. Default 1 GiB; at least MaxBodyBytes, so that any
	// body the server takes fits when it is idle.
	SpoolLimit int64
	// CallbackAllowPrivate lets a callback_url name a loopback, private or
	// link-local host (BULKINVITE_CALLBACK_ALLOW_PRIVATE). Default false.
	CallbackAllowPrivate bool
	// CallbackSigning says a callback secret is configured. Without one a
	// callback_url is refused: a callback must be signed. Default false.
	CallbackSigning bool
	// KeyID is the API key's id (flowmingo.APIKey.ID) whose auth stop /readyz and
	// GET /v1/batches/{id} report; "" reports any key's stop on /readyz and none
	// on the batch.
	KeyID string
	// Metrics, when set, is served at GET /metrics (with a token, as every route
	// but /healthz and /readyz). Default nil: no /metrics route.
	Metrics http.Handler
	// UI, when set, answers every request that no API route claims and whose path
	// is outside the API's namespace — GET / among them — with its own
	// authentication: the dashboard for people (package dashboard). It is not part
	// of the API: Routes and docs/openapi.yaml leave it out; a path whose first
	// segment is a version ("v" and a digit: /v1, /v1x, /v2/...), "api", "healthz",
	// "readyz" or "metrics" stays the API's JSON 404, and a path an API route
	// serves for another method its JSON 405. Default nil: such requests get the
	// JSON 404.
	UI http.Handler
	// Tracer starts the span of each POST /v1/batches (SpanCreateBatch), the
	// parent of its import's. Default: a no-op one.
	Tracer trace.TracerProvider
	// Propagator reads the caller's trace context (traceparent) from a POST
	// /v1/batches, which its span continues. Default nil: none is read, so that
	// a server that records no trace carries none into the queue either.
	Propagator propagation.TextMapPropagator
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.TokenRate <= 0 {
		c.TokenRate = DefaultTokenRate
	}
	if c.TokenBurst <= 0 {
		c.TokenBurst = DefaultTokenBurst
	}
	def(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.IdleTimeout, DefaultIdleTimeout)
	def(&c.ImportTimeout, DefaultImportTimeout)
	def(&c.ShutdownTimeout, DefaultShutdownTimeout)
	def(&c.IdempotencyTTL, DefaultIdempotencyTTL)
	def(&c.ReadyTimeout, DefaultReadyTimeout)
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.SpoolMemory <= 0 {
		c.SpoolMemory = DefaultSpoolMemory
	}
	if c.SpoolLimit <= 0 {
		c.SpoolLimit = DefaultSpoolLimit
	}
	if c.TokenInFlight <= 0 {
		c.TokenInFlight = DefaultTokenInFlight
	}
	if c.Tracer == nil {
		c.Tracer = noop.NewTracerProvider()
	}
	return c
}

// ErrNoTokens is returned by Validate for a server with no tokens that was not
// explicitly allowed to serve without them.
var ErrNoTokens = errors.New("no bearer tokens: set BULKINVITE_TOKENS or BULKINVITE_TOKENS_FILE (or, on a loopback address only, serve with --insecure-no-auth)")

// Validate checks the configuration after defaults, naming what is wrong.
func (c Config) Validate() error {
	c = c.withDefaults()
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("--addr %q: want HOST:PORT: %v", c.Addr, err)
	}
	switch {
	case c.InsecureNoAuth && len(c.Tokens)+len(c.AuthTokens) > 0:
		return errors.New("--insecure-no-auth with tokens set (BULKINVITE_TOKENS or BULKINVITE_TOKENS_FILE): drop one or the other")
	case c.InsecureNoAuth && !Loopback(host):
		return fmt.Errorf("--insecure-no-auth is only allowed on a loopback address (127.0.0.1, ::1, localhost), not %q", c.Addr)
	case !c.InsecureNoAuth && len(c.Tokens)+len(c.AuthTokens) == 0:
		return ErrNoTokens
	case c.ImportTimeout > c.WriteTimeout:
		return fmt.Errorf("the import timeout (%s) must not exceed the write timeout (%s)", c.ImportTimeout, c.WriteTimeout)
	case c.SpoolLimit < c.MaxBodyBytes:
		return fmt.Errorf("the spool limit (%d bytes) must be at least the body limit (%d bytes)", c.SpoolLimit, c.MaxBodyBytes)
	}
	for i, t := range c.Tokens {
		if err := CheckToken(t); err != nil {
			return fmt.Errorf("token %d of %d %w", i+1, len(c.Tokens), err)
		}
	}
	return auth.Check(c.allTokens())
}

// allTokens returns every accepted token: Tokens' bare secrets, then AuthTokens.
func (c Config) allTokens() []auth.Token {
	out := make([]auth.Token, 0, len(c.Tokens)+len(c.AuthTokens))
	for _, t := range c.Tokens {
		out = append(out, auth.Bare(t))
	}
	return append(out, c.AuthTokens...)
}

// LoopbackHost reports whether the request is addressed (its Host) to a
// loopback name: all a server without authentication answers (InsecureNoAuth,
// here and on the dashboard), so that a page of another site whose name is made
// to resolve to 127.0.0.1 (DNS rebinding) cannot reach it.
func LoopbackHost(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	return Loopback(strings.Trim(host, "[]"))
}

// MinTokenLength is the fewest characters a bearer token may have
// (auth.MinSecretLength).
const MinTokenLength = auth.MinSecretLength

// CheckToken says what is wrong with a bearer token without quoting it
// (auth.CheckSecret); nil when it will do.
func CheckToken(t string) error { return auth.CheckSecret(t) }

// Loopback reports whether host (of a HOST:PORT) is a loopback address or
// "localhost". An empty host listens on every interface: not loopback.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
