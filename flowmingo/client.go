package flowmingo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bulkinvite/bulkinvite/payload"
)

// DefaultBaseURL is the vendor's production API.
const DefaultBaseURL = "https://apis.flowmingo.ai"

// HeaderAPIKey is the request header that carries the key, spelled as the vendor does.
const HeaderAPIKey = "X-API-Key"

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is the API's base URL, http or https, without query or fragment;
	// requests go to BaseURL + payload.InvitePath. Default DefaultBaseURL.
	BaseURL string
	// Key is the API key sent in X-API-Key. Required; it must pass APIKey.Check.
	Key APIKey
	// Timeout bounds one request, from sending to the end of the reply's body.
	// Default 30s.
	Timeout time.Duration
	// MaxResponseBytes caps how much of a response body is read. A 200 over the cap
	// is a *TransientError (the vendor may have acted, but what it said is lost).
	// Default 8 MiB.
	MaxResponseBytes int64
	// MaxIdleConns is how many idle connections to the API host are kept for reuse;
	// set it to the number of concurrent callers. Default 16. Ignored when HTTPClient
	// is set.
	MaxIdleConns int
	// MaxRetryAfter caps any wait taken from a Retry-After header. Default 5m.
	MaxRetryAfter time.Duration
	// DefaultRetryAfter is the wait reported for a 429 without a usable Retry-After.
	// Default 1s; it may not exceed MaxRetryAfter.
	DefaultRetryAfter time.Duration
	// UserAgent is sent in User-Agent. Default "bulkinvite".
	UserAgent string
	// HTTPClient, when set, sends the requests instead of a client built from the
	// settings above; its own Timeout, if any, applies too. It is copied, and the
	// copy never follows redirects: a redirect is reported as a *TransientError,
	// because following one would send the X-API-Key header to wherever it points.
	HTTPClient *http.Client
}

// The defaults of Config.
const (
	DefaultTimeout           = 30 * time.Second
	DefaultMaxResponseBytes  = 8 << 20
	DefaultMaxIdleConns      = 16
	DefaultMaxRetryAfter     = 5 * time.Minute
	DefaultDefaultRetryAfter = time.Second
	DefaultUserAgent         = "bulkinvite"
)

// withDefaults returns c with every zero value replaced by its default.
func (c Config) withDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.MaxIdleConns == 0 {
		c.MaxIdleConns = DefaultMaxIdleConns
	}
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if c.DefaultRetryAfter == 0 {
		c.DefaultRetryAfter = DefaultDefaultRetryAfter
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	return c
}

// Validate reports every unusable setting, each error naming its field. Zero values
// are valid: they mean the default.
func (c Config) Validate() error {
	var errs []error
	red := newRedactor(c.Key) // in case the key was pasted into another field
	bad := func(field, format string, a ...any) {
		errs = append(errs, errors.New(red.string(fmt.Sprintf("flowmingo: %s: %s", field, fmt.Sprintf(format, a...)))))
	}
	if c.BaseURL != "" {
		if err := checkBaseURL(c.BaseURL); err != nil {
			bad("BaseURL", "%v", err)
		}
	}
	if err := c.Key.Check(); err != nil {
		bad("Key", "%v", err)
	}
	if c.Timeout < 0 {
		bad("Timeout", "must not be negative, got %s", c.Timeout)
	}
	if c.MaxResponseBytes < 0 {
		bad("MaxResponseBytes", "must not be negative, got %d", c.MaxResponseBytes)
	}
	if c.MaxIdleConns < 0 {
		bad("MaxIdleConns", "must not be negative, got %d", c.MaxIdleConns)
	}
	if c.MaxRetryAfter < 0 {
		bad("MaxRetryAfter", "must not be negative, got %s", c.MaxRetryAfter)
	}
	if c.DefaultRetryAfter < 0 {
		bad("DefaultRetryAfter", "must not be negative, got %s", c.DefaultRetryAfter)
	}
	if d := c.withDefaults(); d.DefaultRetryAfter > d.MaxRetryAfter && c.MaxRetryAfter >= 0 && c.DefaultRetryAfter >= 0 {
		bad("DefaultRetryAfter", "%s is more than MaxRetryAfter %s", d.DefaultRetryAfter, d.MaxRetryAfter)
	}
	if strings.ContainsFunc(c.UserAgent, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		bad("UserAgent", "contains a control character")
	}
	return errors.Join(errs...)
}

func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %s", quote(redactURL(s)))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme must be http or https: %s", quote(redactURL(s)))
	}
	if u.Host == "" {
		return fmt.Errorf("has no host: %s", quote(redactURL(s)))
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Errorf("must not have a query or fragment: %s", quote(redactURL(s)))
	}
	return nil
}

// String shows the settings with the key masked.
func (c Config) String() string {
	hc := "built-in"
	if c.HTTPClient != nil {
		hc = "custom"
	}
	return fmt.Sprintf("flowmingo.Config{BaseURL: %s, Key: %s, Timeout: %s, MaxResponseBytes: %d, MaxIdleConns: %d, MaxRetryAfter: %s, DefaultRetryAfter: %s, UserAgent: %q, HTTPClient: %s}",
		redactURL(c.BaseURL), c.Key.Masked(), c.Timeout, c.MaxResponseBytes, c.MaxIdleConns,
		c.MaxRetryAfter, c.DefaultRetryAfter, c.UserAgent, hc)
}

// Client sends invite requests to the Flowmingo API. It is safe for concurrent use.
// Every way of printing it shows the key masked.
type Client struct {
	url               string
	key               APIKey
	hc                *http.Client
	ownTransport      bool // hc's transport is ours, so connection tracing is known to work
	timeout           time.Duration
	maxBytes          int64
	maxRetryAfter     time.Duration
	defaultRetryAfter time.Duration
	userAgent         string
	now               func() time.Time // for Retry-After dates without a Date header
}

// New returns a Client for cfg, with defaults filled in. The error names every bad
// field.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Client{
		url:               strings.TrimRight(cfg.BaseURL, "/") + payload.InvitePath,
		key:               cfg.Key,
		timeout:           cfg.Timeout,
		maxBytes:          cfg.MaxResponseBytes,
		maxRetryAfter:     cfg.MaxRetryAfter,
		defaultRetryAfter: cfg.DefaultRetryAfter,
		userAgent:         cfg.UserAgent,
		now:               time.Now,
	}
	if cfg.HTTPClient != nil {
		hc := *cfg.HTTPClient
		hc.CheckRedirect = noRedirect
		c.hc = &hc
	} else {
		c.hc = &http.Client{Transport: newTransport(cfg.MaxIdleConns), CheckRedirect: noRedirect}
		c.ownTransport = true
	}
	return c, nil
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// newTransport is http.DefaultTransport's settings, with the idle pool sized for one
// host.
func newTransport(maxIdle int) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxIdle,
		MaxIdleConnsPerHost:   maxIdle,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Close closes the client's idle connections. The client stays usable.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// String describes the client with the key masked.
func (c Client) String() string {
	return "flowmingo.Client{url: " + redactURL(c.url) + ", key: " + c.key.Masked() +
		", timeout: " + c.timeout.String() + "}"
}

// GoString is String, for %#v.
func (c Client) GoString() string { return c.String() }

// Format prints String for every verb (quoted for %q), so that no verb or flag dumps
// the fields. String, GoString and Format have value receivers so that a Client
// value prints masked too, not only a *Client.
func (c Client) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = io.WriteString(f, strconv.Quote(c.String()))
		return
	}
	_, _ = io.WriteString(f, c.String())
}

// errRequestTimeout is the cause of a request's context when Config.Timeout ran out.
var errRequestTimeout = errors.New("request timeout")

// Invite sends req and returns one CandidateResult per candidate of req, in order,
// when the vendor answers 200 with a usable body. Otherwise it returns one of the
// typed errors (see TransientError and the others), or, when ctx ends first, an
// error wrapping ctx.Err() (see Ambiguous).
//
// Invite does not validate req (payload.ValidateRequest does), except that it
// refuses a request without candidates. It does not retry.
func (c *Client) Invite(ctx context.Context, req *payload.InviteRequest) ([]CandidateResult, error) {
	if req == nil || len(req.Candidates) == 0 {
		return nil, errors.New("flowmingo: invite: the request has no candidates")
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("flowmingo: invite: encoding the request: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, &canceledError{err: err, url: c.url}
	}

	rctx, cancel := context.WithTimeoutCause(ctx, c.timeout, errRequestTimeout)
	defer cancel()
	var sent sendTrace
	rctx = httptrace.WithClientTrace(rctx, sent.trace())
	hreq, err := http.NewRequestWithContext(rctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, &TransientError{URL: c.url, Err: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", c.userAgent)
	hreq.Header[HeaderAPIKey] = []string{c.key.Reveal()} // the vendor's spelling, not canonicalised

	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, c.failure(ctx, rctx, 0, sent.maybeSent(c.ownTransport), "", err)
	}
	defer drainClose(resp.Body)

	data, over, err := readBody(resp.Body, c.maxBytes, resp.ContentLength)
	if err != nil && resp.StatusCode == http.StatusOK {
		return nil, c.failure(ctx, rctx, resp.StatusCode, true, "reading the reply: ", err)
	}
	// Any other status is known from the header alone; a body cut short only shortens
	// the message.
	return c.classify(resp, data, over, req.Candidates)
}

// failure describes an error of sending or reading: the caller's context ending wins,
// then the per-request timeout, then the error itself.
func (c *Client) failure(ctx, rctx context.Context, status int, ambiguous bool, what string, err error) error {
	if ctx.Err() != nil {
		return &canceledError{err: ctx.Err(), ambiguous: ambiguous, url: c.url}
	}
	if rctx.Err() != nil && context.Cause(rctx) == errRequestTimeout {
		return &TransientError{StatusCode: status, Ambiguous: ambiguous, URL: c.url,
			Err: fmt.Errorf("%sno complete reply within the %s request timeout", what, c.timeout)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its message repeats the URL, unredacted
	}
	if what != "" {
		err = fmt.Errorf("%s%w", what, err)
	}
	return &TransientError{StatusCode: status, Ambiguous: ambiguous, URL: c.url, Err: err}
}

// classify turns a response into results or a typed error, per the status table of
// docs/vendor-api.md.
func (c *Client) classify(resp *http.Response, body []byte, over bool, cands []payload.Candidate) ([]CandidateResult, error) {
	red := newRedactor(c.key)
	code := resp.StatusCode
	switch {
	case code == http.StatusOK:
		if over {
			return nil, &TransientError{StatusCode: code, Ambiguous: true, URL: c.url,
				Err: fmt.Errorf("response over %d bytes", c.maxBytes)}
		}
		out, err := decodeResults(red.json(body), cands)
		if err != nil {
			return nil, &TransientError{StatusCode: code, Ambiguous: true, URL: c.url,
				Err: fmt.Errorf("unusable body: %w", err)}
		}
		return out, nil
	case code == http.StatusBadRequest || code == http.StatusUnprocessableEntity:
		e := &ValidationError{StatusCode: code, Message: extractMessage(body, red), URL: c.url}
		if trimmed := bytes.TrimSpace(body); !over && json.Valid(trimmed) {
			e.Body = red.json(bytes.Clone(trimmed))
			e.Fields = fieldErrors(trimmed, red)
		}
		return nil, e
	case code == http.StatusRequestEntityTooLarge:
		return nil, &TooLargeError{Message: extractMessage(body, red), URL: c.url}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return nil, &AuthError{StatusCode: code, Message: extractMessage(body, red), URL: c.url}
	case code == http.StatusNotFound:
		return nil, &NotFoundError{Message: extractMessage(body, red), URL: c.url}
	case code == http.StatusTooManyRequests:
		wait, ok := c.retryAfter(resp.Header)
		if !ok {
			wait = c.defaultRetryAfter
		}
		return nil, &RateLimitError{RetryAfter: wait, Message: extractMessage(body, red), URL: c.url}
	}
	// 5xx, and every status docs/vendor-api.md does not list: retry, but the vendor
	// may have acted.
	wait, _ := c.retryAfter(resp.Header)
	msg := extractMessage(body, red)
	if code < 500 {
		why := "unexpected status"
		if loc := resp.Header.Get("Location"); loc != "" && code >= 300 && code < 400 {
			why += ", redirect to " + quote(redactURL(red.string(loc))) + " not followed"
		}
		msg = why + withMessage(msg)
	}
	var err error
	if msg != "" {
		err = errors.New(msg)
	}
	return nil, &TransientError{StatusCode: code, RetryAfter: wait, Ambiguous: true, URL: c.url, Err: err}
}

// retryAfter reads the Retry-After header: delay-seconds or an HTTP date. A date is
// reckoned against the response's Date header when it has a usable one (so that a
// skew between the vendor's clock and ours does not matter), else against our clock.
// A date already past gives 0. The wait is capped at MaxRetryAfter. ok is false when
// the header is missing or unusable (negative, fractional, garbage).
func (c *Client) retryAfter(h http.Header) (wait time.Duration, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(c.maxRetryAfter/time.Second) { // err: too many digits for int64
			return c.maxRetryAfter, true
		}
		return min(time.Duration(secs)*time.Second, c.maxRetryAfter), true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	ref := c.now()
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		ref = d
	}
	return min(max(at.Sub(ref), 0), c.maxRetryAfter), true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// readBody reads at most limit bytes of r; over reports that there was more.
// size is what the body says it holds (http.Response.ContentLength, -1 when
// unknown): room for it is made at once, where io.ReadAll would grow its
// buffer from 512 bytes, allocating and copying the body several times over.
func readBody(r io.Reader, limit, size int64) (b []byte, over bool, err error) {
	n := limit
	if n < math.MaxInt64 {
		n++
	}
	room := int64(512) // io.ReadAll's
	if size >= 0 {
		room = min(size, n-1) + 1 // + 1: the read that finds the end
	}
	b = make([]byte, 0, room)
	lr := io.LimitReader(r, n)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		m, rerr := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if rerr != nil {
			if rerr != io.EOF {
				err = rerr
			}
			break
		}
	}
	if int64(len(b)) > limit {
		return b[:limit], true, err
	}
	return b, false, err
}

// drainLimit is how much of an unread body is drained so that its connection can be
// reused; past it, closing the connection is cheaper.
const drainLimit = 64 << 10

func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, drainLimit))
	_ = body.Close()
}

// sendTrace records, through net/http/httptrace, whether the request may have reached
// the vendor: once a connection to the API is in hand, bytes of the request may be on
// their way, so anything that goes wrong after that leaves the outcome unknown.
type sendTrace struct {
	getConn atomic.Bool // the transport started looking for a connection
	gotConn atomic.Bool // and got one
}

func (s *sendTrace) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) { s.getConn.Store(true) },
		GotConn: func(httptrace.GotConnInfo) { s.gotConn.Store(true) },
	}
}

// maybeSent reports whether the vendor may have received the request. With a
// transport that is not known to report connections (a custom HTTPClient), it
// answers true unless the transport reported looking for a connection and never
// getting one.
func (s *sendTrace) maybeSent(traced bool) bool {
	if s.gotConn.Load() {
		return true
	}
	return !traced && !s.getConn.Load()
}
