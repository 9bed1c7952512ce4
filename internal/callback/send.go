package callback

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/store"
)

// Headers of a callback request.
const (
	HeaderEvent     = "X-Bulkinvite-Event"
	HeaderTimestamp = "X-Bulkinvite-Timestamp"
	HeaderSignature = "X-Bulkinvite-Signature"
)

// EventBatchDone is the type of the event sent when a batch is done.
const EventBatchDone = "batch.done"

// Event is the body of a callback: the batch's status, as `status --json` prints
// it, with an id the receiver can drop repeats by (one per batch: at least once
// means it may come twice).
type Event struct {
	ID        string       `json:"event_id"`
	Type      string       `json:"type"`
	CreatedAt time.Time    `json:"created_at"`
	Batch     store.Status `json:"batch"`
}

// NewEvent is the event telling that the batch with status s is done.
func NewEvent(s store.Status) Event {
	e := Event{ID: EventBatchDone + ":" + s.BatchID, Type: EventBatchDone, Batch: s}
	if s.FinishedAt != nil {
		e.CreatedAt = *s.FinishedAt
	}
	return e
}

// Sign is the value of X-Bulkinvite-Signature for a body sent at timestamp (unix
// seconds, as in X-Bulkinvite-Timestamp): "sha256=" and the hex HMAC-SHA256 of
// "<timestamp>.<body>" keyed by the secret. A receiver computes the same and
// compares in constant time, and refuses a timestamp too old (a replay).
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", timestamp)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// TokenKey is the callback key of the token named name: the hex HMAC-SHA256 of
// "callback:<name>" keyed by secret (BULKINVITE_CALLBACK_SECRET). It signs the
// callbacks of that token's batches, used as Sign's secret as it is (the 64
// characters), so a receiver that knows its own key can check its callbacks but
// can neither check nor forge another token's. `bulkinvite token callback-key`
// prints it.
func TokenKey(secret, name string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("callback:" + name))
	return hex.EncodeToString(mac.Sum(nil))
}

// Key is the key that signs a callback whose key id is keyID: the secret itself
// for "" (the CLI's batches, and those of a bare or anonymous token), else
// TokenKey(secret, keyID).
func Key(secret, keyID string) string {
	if keyID == "" {
		return secret
	}
	return TokenKey(secret, keyID)
}

// Verify checks a signature made by Sign: what a receiver does.
func Verify(secret string, timestamp int64, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature))
}

// Config tunes a Sender. Zero fields take the documented defaults.
type Config struct {
	// Secret keys the signature (Key): BULKINVITE_CALLBACK_SECRET. Required.
	Secret string
	// AllowPrivate lets callbacks reach loopback, private, link-local and every
	// other address that is not Public, and this host's own. Default false: a
	// connection to one is refused.
	AllowPrivate bool
	// Timeout bounds one delivery. Default 10s.
	Timeout time.Duration
	// UserAgent is sent in User-Agent. Default "bulkinvite".
	UserAgent string
}

// DefaultTimeout is Config.Timeout's default.
const DefaultTimeout = 10 * time.Second

// ErrNoSecret is returned by New without Config.Secret: callbacks are signed.
var ErrNoSecret = errors.New("callbacks need BULKINVITE_CALLBACK_SECRET to be signed")

// Sender delivers callbacks.
type Sender struct {
	cfg  Config
	http *http.Client
	now  func() time.Time
}

// New returns a Sender.
func New(cfg Config) (*Sender, error) {
	if cfg.Secret == "" {
		return nil, ErrNoSecret
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "bulkinvite"
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout}
	if !cfg.AllowPrivate {
		dialer.Control = guard{ownAddrs: net.InterfaceAddrs}.control
	}
	transport := &http.Transport{DialContext: dialer.DialContext, Proxy: nil, MaxIdleConns: 4, IdleConnTimeout: 30 * time.Second}
	return &Sender{
		cfg: cfg,
		http: &http.Client{Transport: transport, Timeout: cfg.Timeout,
			// A redirect could lead anywhere: not followed, the answer counts as a failure.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		now: time.Now,
	}, nil
}

// Close releases idle connections.
func (s *Sender) Close() { s.http.CloseIdleConnections() }

// Send POSTs the event to url, signed with the key of keyID (Key: "" for
// Config.Secret itself, a token's name for that token's TokenKey). It returns the HTTP status (0 when no
// answer came) and an error unless the receiver answered 2xx. The URL is
// checked again here (ValidateURL), and with AllowPrivate false no connection is
// made to an address that is not public, whatever the host name resolves to.
func (s *Sender) Send(ctx context.Context, url, keyID string, e Event) (int, error) {
	if err := ValidateURL(url, s.cfg.AllowPrivate); err != nil {
		return 0, err
	}
	body, err := json.Marshal(e)
	if err != nil {
		return 0, err
	}
	ts := s.now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.cfg.UserAgent)
	req.Header.Set(HeaderEvent, e.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(Key(s.cfg.Secret, keyID), ts, body))
	resp, err := s.http.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap() // the URL error repeats the URL, which may hold a token
		}
		return 0, fmt.Errorf("POST the callback: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("the receiver answered HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}
