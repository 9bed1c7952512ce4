package flowmingo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/payload"
)

const (
	testKey    = "fl_live_test1234.S3cr3tV4lu3xyzQ"
	testSecret = "S3cr3tV4lu3xyzQ"
	testMasked = "fl_live_test1234.****"
	testSetID  = "019c5ea9-a792-7f0d-b671-4c3c1602094e"
)

var (
	alice  = payload.Candidate{Email: "alice@example.com", Name: "Alice"}
	bob    = payload.Candidate{Email: "bob@example.com", CVLink: "https://cv.example.com/bob.pdf"}
	carol  = payload.Candidate{CVLink: "https://cv.example.com/carol.pdf"} // CV only
	errAny = errors.New("any")
)

func inviteReq(cands ...payload.Candidate) *payload.InviteRequest {
	return &payload.InviteRequest{ComInterviewSetID: testSetID, Candidates: cands}
}

// testBundle is a Client pointed at an httptest server.
type testBundle struct {
	srv      *httptest.Server
	client   *Client
	newConns *atomic.Int32 // connections the server accepted
}

// setup starts a server with h and a client for it, configured by mod (may be nil).
// Both are closed when the test ends.
func setup(tb testing.TB, h http.Handler, mod func(*Config)) *testBundle {
	tb.Helper()
	b := &testBundle{newConns: new(atomic.Int32)}
	b.srv = httptest.NewUnstartedServer(h)
	b.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.newConns.Add(1)
		}
	}
	b.srv.Start()
	tb.Cleanup(b.srv.Close)
	cfg := Config{BaseURL: b.srv.URL, Key: NewAPIKey(testKey)}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(c.Close)
	b.client = c
	return b
}

// reply answers every request with status, body and header pairs (name, value, ...),
// after reading the request body.
func reply(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for i := 0; i+1 < len(header); i += 2 {
			w.Header()[header[i]] = []string{header[i+1]}
			if header[i+1] == "" {
				w.Header()[header[i]] = nil // suppress, e.g. Date
			}
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// errAs returns err as a T, failing the test when it is not one.
func errAs[T error](tb testing.TB, err error) T {
	tb.Helper()
	var target T
	if !errors.As(err, &target) {
		tb.Fatalf("error %v (%T) is not a %T", err, err, target)
	}
	return target
}

func wantKinds(tb testing.TB, res []CandidateResult, err error, kinds ...Kind) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("Invite: %v", err)
	}
	if len(res) != len(kinds) {
		tb.Fatalf("got %d results, want %d: %+v", len(res), len(kinds), res)
	}
	for i, k := range kinds {
		if res[i].Kind != k {
			tb.Errorf("result %d: kind %s, want %s (detail %q)", i, res[i].Kind, k, res[i].Detail)
		}
	}
}

func wantTransient(tb testing.TB, err error, status int, ambiguous bool, msgPart string) *TransientError {
	tb.Helper()
	te := errAs[*TransientError](tb, err)
	if te.StatusCode != status || te.HTTPStatus() != status || HTTPStatus(err) != status {
		tb.Errorf("status %d / HTTPStatus %d / HTTPStatus(err) %d, want %d", te.StatusCode, te.HTTPStatus(), HTTPStatus(err), status)
	}
	if te.Ambiguous != ambiguous || Ambiguous(err) != ambiguous {
		tb.Errorf("Ambiguous %v / Ambiguous(err) %v, want %v", te.Ambiguous, Ambiguous(err), ambiguous)
	}
	if !strings.Contains(err.Error(), msgPart) {
		tb.Errorf("error %q does not contain %q", err, msgPart)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		tb.Errorf("transient error %v must not look like the caller's context ending", err)
	}
	return te
}

func wantRetryAfter(tb testing.TB, err error, want time.Duration) {
	tb.Helper()
	rl := errAs[*RateLimitError](tb, err)
	if rl.RetryAfter != want {
		tb.Errorf("RetryAfter %s, want %s", rl.RetryAfter, want)
	}
	if got, ok := RetryAfter(err); !ok || got != want {
		tb.Errorf("RetryAfter(err) = %s, %v; want %s, true", got, ok, want)
	}
	if HTTPStatus(err) != http.StatusTooManyRequests || Ambiguous(err) {
		tb.Errorf("HTTPStatus %d, Ambiguous %v; want 429, false", HTTPStatus(err), Ambiguous(err))
	}
}

func TestInviteRequestOnTheWire(t *testing.T) {
	t.Parallel()
	no := false
	req := &payload.InviteRequest{
		ComProjectID:      "019c5ea9-a792-7f0d-b671-4c3c16020000",
		ComJobPostID:      "019c5ea9-a792-7f0d-b671-4c3c16020001",
		Candidates:        []payload.Candidate{{ATSCandidateID: "019c5ea9-a792-7f0d-b671-4c3c16020002", Email: "alice@example.com", Firstname: "Alice", Lastname: "Doe"}, carol},
		InvitationMessage: "<p>Dear {{candidate_name}}, see {{interview_link}}</p>",
		SendInvite:        &no,
	}
	for _, tc := range []struct {
		name      string
		base      func(srv string) string
		userAgent string
		wantPath  string
		wantUA    string
	}{
		{name: "defaults", base: func(s string) string { return s }, wantPath: payload.InvitePath, wantUA: "bulkinvite"},
		{name: "base URL with a path and a trailing slash", base: func(s string) string { return s + "/proxy/" },
			userAgent: "bulkinvite/1.2 (worker-3)", wantPath: "/proxy" + payload.InvitePath, wantUA: "bulkinvite/1.2 (worker-3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			type seen struct {
				method, path, query string
				header              http.Header
				body                []byte
			}
			got := make(chan seen, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				got <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body}
				reply(200, `{"results":[{"email_address":"alice@example.com"},{"cv_link":"https://cv.example.com/carol.pdf"}]}`)(w, r)
			}))
			t.Cleanup(srv.Close)
			c, err := New(Config{BaseURL: tc.base(srv.URL), Key: NewAPIKey(testKey), UserAgent: tc.userAgent})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			res, err := c.Invite(context.Background(), req)
			wantKinds(t, res, err, Invited, CVQueued)

			s := <-got
			if s.method != http.MethodPost || s.path != tc.wantPath || s.query != "" {
				t.Errorf("%s %s?%s, want POST %s", s.method, s.path, s.query, tc.wantPath)
			}
			for name, want := range map[string]string{
				"X-API-Key":    testKey,
				"Content-Type": "application/json",
				"Accept":       "application/json",
				"User-Agent":   tc.wantUA,
			} {
				if v := s.header.Values(name); len(v) != 1 || v[0] != want {
					t.Errorf("header %s = %q, want exactly %q", name, v, want)
				}
			}
			if v := s.header.Get("Authorization"); v != "" {
				t.Errorf("Authorization header sent: %q", v)
			}
			sent, err := payload.DecodeInviteRequest(s.body)
			if err != nil {
				t.Fatalf("body %s: %v", s.body, err)
			}
			if !reflect.DeepEqual(sent, req) {
				t.Errorf("server decoded\n%+v\nwant\n%+v", sent, req)
			}
		})
	}
}

func TestInviteRefusesNoCandidates(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	b := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }), nil)
	for name, req := range map[string]*payload.InviteRequest{"nil": nil, "empty": inviteReq()} {
		if _, err := b.client.Invite(context.Background(), req); err == nil || !strings.Contains(err.Error(), "no candidates") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("%d requests reached the server", hits.Load())
	}
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	return addr
}

func TestInviteConnectionRefused(t *testing.T) {
	t.Parallel()
	c, err := New(Config{BaseURL: "http://" + freeAddr(t), Key: NewAPIKey(testKey)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	_, err = c.Invite(context.Background(), inviteReq(alice))
	te := wantTransient(t, err, 0, false, "no answer")
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("cause %T is not a *net.OpError", te.Err)
	}
}

// blockingServer answers nothing until the client goes away or the test ends. arrived
// is closed when the first request arrived.
func blockingServer(tb testing.TB, before func(w http.ResponseWriter)) (h http.HandlerFunc, arrived <-chan struct{}) {
	release := make(chan struct{})
	tb.Cleanup(func() { close(release) }) // runs before the server's Close
	arr := make(chan struct{})
	var once atomic.Bool
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if before != nil {
			before(w)
		}
		if once.CompareAndSwap(false, true) {
			close(arr)
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}, arr
}

func TestInviteTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		before func(w http.ResponseWriter)
		status int
	}{
		{name: "waiting for the reply"},
		{name: "reading the body", status: 200, before: func(w http.ResponseWriter) {
			w.WriteHeader(200)
			_, _ = io.WriteString(w, `{"results":[`)
			w.(http.Flusher).Flush()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, _ := blockingServer(t, tc.before)
			b := setup(t, h, func(c *Config) { c.Timeout = 100 * time.Millisecond })
			start := time.Now()
			_, err := b.client.Invite(context.Background(), inviteReq(alice))
			wantTransient(t, err, tc.status, true, "no complete reply within the 100ms request timeout")
			if d := time.Since(start); d > time.Minute {
				t.Errorf("Invite took %s with a 100ms timeout", d)
			}
		})
	}
}

func TestInviteCallerContext(t *testing.T) {
	t.Parallel()
	t.Run("canceled while waiting for the reply", func(t *testing.T) {
		t.Parallel()
		h, arrived := blockingServer(t, nil)
		b := setup(t, h, nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			<-arrived
			cancel()
		}()
		_, err := b.client.Invite(ctx, inviteReq(alice))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if !Ambiguous(err) {
			t.Error("the request had reached the server, but Ambiguous(err) is false")
		}
		var te *TransientError
		if errors.As(err, &te) || HTTPStatus(err) != 0 {
			t.Errorf("caller's cancellation reported as %T (status %d)", err, HTTPStatus(err))
		}
	})
	t.Run("deadline of the caller, not the request timeout", func(t *testing.T) {
		t.Parallel()
		h, _ := blockingServer(t, nil)
		b := setup(t, h, func(c *Config) { c.Timeout = time.Hour })
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := b.client.Invite(ctx, inviteReq(alice))
		if !errors.Is(err, context.DeadlineExceeded) || !Ambiguous(err) {
			t.Fatalf("err = %v (ambiguous %v), want an ambiguous context.DeadlineExceeded", err, Ambiguous(err))
		}
		var te *TransientError
		if errors.As(err, &te) {
			t.Errorf("caller's deadline reported as a TransientError: %v", err)
		}
	})
	t.Run("canceled before sending", func(t *testing.T) {
		t.Parallel()
		var hits atomic.Int32
		b := setup(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }), nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := b.client.Invite(ctx, inviteReq(alice))
		if !errors.Is(err, context.Canceled) || Ambiguous(err) {
			t.Fatalf("err = %v (ambiguous %v), want an unambiguous context.Canceled", err, Ambiguous(err))
		}
		if hits.Load() != 0 {
			t.Error("the request reached the server")
		}
	})
}

func TestConnectionReuse(t *testing.T) {
	t.Parallel()
	const ok = `{"results":[{"email_address":"alice@example.com"}]}`
	for _, tc := range []struct {
		name    string
		config  func(*Config)
		replies []http.HandlerFunc
	}{
		{
			name: "every status",
			replies: []http.HandlerFunc{
				reply(200, ok),
				reply(500, `{"message":"oops"}`),
				reply(429, "slow down", "Retry-After", "1"),
				reply(400, `{"message":"bad"}`),
				reply(401, `{"message":"no"}`),
				reply(404, "not found"),
				reply(503, strings.Repeat("x", 4096)),
				reply(200, "not json"),
				reply(200, ok),
			},
		},
		{
			name:   "bodies over the cap are drained",
			config: func(c *Config) { c.MaxResponseBytes = 100 },
			replies: []http.HandlerFunc{
				reply(200, ok),
				reply(200, `{"results":[{"email_address":"alice@example.com","name":"`+strings.Repeat("a", 8000)+`"}]}`),
				reply(500, strings.Repeat("e", 8000)),
				reply(200, ok),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var n atomic.Int32
			b := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tc.replies[int(n.Add(1)-1)%len(tc.replies)](w, r)
			}), tc.config)
			for i := range tc.replies {
				res, err := b.client.Invite(context.Background(), inviteReq(alice))
				if (err == nil) == (res == nil) {
					t.Fatalf("call %d: results %v, err %v", i, res, err)
				}
			}
			if got := b.newConns.Load(); got != 1 {
				t.Errorf("%d sequential calls opened %d connections, want 1", len(tc.replies), got)
			}
		})
	}
}

// roundTripFunc is an http.RoundTripper that knows nothing of httptrace.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCustomHTTPClient(t *testing.T) {
	t.Parallel()
	t.Run("redirects are not followed even if the client would", func(t *testing.T) {
		t.Parallel()
		var followed atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/elsewhere" {
				followed.Add(1)
				return
			}
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}))
		t.Cleanup(srv.Close)
		follow := func(*http.Request, []*http.Request) error { return nil }
		hc := &http.Client{CheckRedirect: follow}
		t.Cleanup(hc.CloseIdleConnections)
		c, err := New(Config{BaseURL: srv.URL, Key: NewAPIKey(testKey), HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Invite(context.Background(), inviteReq(alice))
		wantTransient(t, err, http.StatusTemporaryRedirect, true, "not followed")
		if followed.Load() != 0 {
			t.Error("redirect followed: the key went to its target")
		}
		if reflect.ValueOf(hc.CheckRedirect).Pointer() != reflect.ValueOf(follow).Pointer() {
			t.Error("New changed the caller's http.Client")
		}
	})
	t.Run("a transport without tracing makes failures ambiguous", func(t *testing.T) {
		t.Parallel()
		hc := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			return nil, errors.New("connection reset by peer")
		})}
		c, err := New(Config{Key: NewAPIKey(testKey), HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Invite(context.Background(), inviteReq(alice))
		wantTransient(t, err, 0, true, "connection reset by peer")
	})
	t.Run("a traced refusal stays unambiguous", func(t *testing.T) {
		t.Parallel()
		hc := &http.Client{Transport: &http.Transport{}}
		t.Cleanup(hc.CloseIdleConnections)
		c, err := New(Config{BaseURL: "http://" + freeAddr(t), Key: NewAPIKey(testKey), HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Invite(context.Background(), inviteReq(alice))
		wantTransient(t, err, 0, false, "refused")
	})
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	key := NewAPIKey(testKey)
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // each must appear in the error; none = valid
	}{
		{name: "zero values but the key are valid", cfg: Config{Key: key}},
		{name: "everything set", cfg: Config{BaseURL: "http://127.0.0.1:8080/base/", Key: key, Timeout: time.Second,
			MaxResponseBytes: 1, MaxIdleConns: 1, MaxRetryAfter: time.Minute, DefaultRetryAfter: time.Minute, UserAgent: "x"}},
		{name: "no key", cfg: Config{}, want: []string{"flowmingo: Key: API key is empty"}},
		{name: "malformed key", cfg: Config{Key: NewAPIKey("sk_live_" + testSecret)}, want: []string{"flowmingo: Key: ", "does not start with"}},
		{name: "bad scheme", cfg: Config{Key: key, BaseURL: "ftp://example.com"}, want: []string{"flowmingo: BaseURL: scheme must be http or https"}},
		{name: "no host", cfg: Config{Key: key, BaseURL: "https://"}, want: []string{"flowmingo: BaseURL: has no host"}},
		{name: "relative", cfg: Config{Key: key, BaseURL: "apis.flowmingo.ai"}, want: []string{"flowmingo: BaseURL: scheme"}},
		{name: "query", cfg: Config{Key: key, BaseURL: "https://example.com/?token=hush"}, want: []string{"flowmingo: BaseURL: must not have a query", "?[redacted]"}},
		{name: "negatives", cfg: Config{Key: key, Timeout: -1, MaxResponseBytes: -1, MaxIdleConns: -1, MaxRetryAfter: -1, DefaultRetryAfter: -1},
			want: []string{"Timeout: must not be negative", "MaxResponseBytes: must not be negative", "MaxIdleConns: must not be negative",
				"MaxRetryAfter: must not be negative", "DefaultRetryAfter: must not be negative"}},
		{name: "default wait over the cap", cfg: Config{Key: key, MaxRetryAfter: time.Second, DefaultRetryAfter: 2 * time.Second},
			want: []string{"flowmingo: DefaultRetryAfter: 2s is more than MaxRetryAfter 1s"}},
		{name: "default wait over the default cap", cfg: Config{Key: key, DefaultRetryAfter: time.Hour},
			want: []string{"flowmingo: DefaultRetryAfter: 1h0m0s is more than MaxRetryAfter 5m0s"}},
		{name: "user agent with a newline", cfg: Config{Key: key, UserAgent: "a\nb"}, want: []string{"flowmingo: UserAgent: contains a control character"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			_, newErr := New(tc.cfg)
			if len(tc.want) == 0 {
				if err != nil || newErr != nil {
					t.Fatalf("Validate: %v; New: %v", err, newErr)
				}
				return
			}
			if err == nil || newErr == nil {
				t.Fatalf("Validate: %v; New: %v; want errors", err, newErr)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), "hush") {
				t.Errorf("error shows a secret: %q", err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	c, err := New(Config{Key: NewAPIKey(testKey)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tr, ok := c.hc.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport %T", c.hc.Transport)
	}
	got := []any{c.url, c.timeout, c.maxBytes, tr.MaxIdleConnsPerHost, c.maxRetryAfter, c.defaultRetryAfter, c.userAgent, c.hc.CheckRedirect == nil}
	want := []any{DefaultBaseURL + payload.InvitePath, 30 * time.Second, int64(8 << 20), 16, 5 * time.Minute, time.Second, "bulkinvite", false}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults %v, want %v", got, want)
	}

	c2, err := New(Config{Key: NewAPIKey(testKey), MaxIdleConns: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if tr := c2.hc.Transport.(*http.Transport); tr.MaxIdleConns != 3 || tr.MaxIdleConnsPerHost != 3 {
		t.Errorf("MaxIdleConns %d/%d, want 3", tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
	}
}

func TestErrorStrings(t *testing.T) {
	t.Parallel()
	const u = "https://user:pw@api.example.com/p?token=hush#frag"
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&TransientError{StatusCode: 503, RetryAfter: 2 * time.Second, Ambiguous: true, URL: u, Err: errors.New("down")},
			"flowmingo: POST https://user:xxxxx@api.example.com/p?[redacted]: HTTP 503 Service Unavailable, retry after 2s: down (the request may have reached the vendor: outcome unknown)"},
		{&TransientError{Err: errors.New("dial tcp: refused")}, "flowmingo: invite: no answer: dial tcp: refused"},
		{&RateLimitError{RetryAfter: time.Second, Message: "slow", URL: u},
			"flowmingo: POST https://user:xxxxx@api.example.com/p?[redacted]: HTTP 429 Too Many Requests, retry after 1s: slow"},
		{&AuthError{StatusCode: 403}, "flowmingo: invite: HTTP 403 Forbidden (the API key was refused: missing, malformed, deleted, inactive, expired or without the invite_candidates scope)"},
		{&NotFoundError{Message: "gone"}, "flowmingo: invite: HTTP 404 Not Found (interview set or project unknown to the organisation, or deleted): gone"},
		{&ValidationError{StatusCode: 422, Message: "bad email"}, "flowmingo: invite: HTTP 422 Unprocessable Entity (payload not accepted): bad email"},
		{&TransientError{StatusCode: 599}, "flowmingo: invite: HTTP 599"},
		{&canceledError{err: context.Canceled, ambiguous: true}, "flowmingo: invite: gave up: context canceled (the request may have reached the vendor: outcome unknown)"},
		{&TransientError{URL: "::bad"}, "flowmingo: POST (unparsable URL): no answer"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
	if HTTPStatus(errAny) != 0 || Ambiguous(errAny) {
		t.Error("helpers report something for a foreign error")
	}
	if _, ok := RetryAfter(fmt.Errorf("wrapped: %w", &RateLimitError{})); !ok {
		t.Error("RetryAfter does not see through wrapping")
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	for k, want := range map[Kind]string{Unknown: "unknown", Invited: "invited", CVQueued: "cv_queued", Failed: "failed", Kind(9): "Kind(9)"} {
		if k.String() != want {
			t.Errorf("%d: %q, want %q", int(k), k.String(), want)
		}
	}
	if (CandidateResult{}).Kind != Unknown {
		t.Error("the zero CandidateResult is not Unknown")
	}
	if Invited.String() != string(payload.OutcomeInvited) || CVQueued.String() != string(payload.OutcomeCVQueued) {
		t.Error("kind names drifted from payload's outcomes")
	}
}

func TestReadBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in       string
		limit    int64
		size     int64 // the Content-Length: -1 unknown, or wrong
		want     string
		wantOver bool
	}{
		{"abc", 3, -1, "abc", false},
		{"abcd", 3, -1, "abc", true},
		{"", 3, -1, "", false},
		{"abc", 1<<63 - 1, -1, "abc", false},
		{"abc", 3, 3, "abc", false},
		{"abcd", 3, 4, "abc", true},
		{"abc", 1<<63 - 1, 3, "abc", false},
		{"abcdef", 10, 2, "abcdef", false},
		{"ab", 10, 6, "ab", false},
		{"abcdef", 3, 1 << 40, "abc", true},
	} {
		b, over, err := readBody(bytes.NewReader([]byte(tc.in)), tc.limit, tc.size)
		if err != nil || string(b) != tc.want || over != tc.wantOver {
			t.Errorf("readBody(%q, %d, %d) = %q, %v, %v", tc.in, tc.limit, tc.size, b, over, err)
		}
	}
}

// TestReadBodyOnce: a body whose length is known is read into one allocation,
// where io.ReadAll would grow its buffer a dozen times for a 50 candidates'
// answer. Not parallel: AllocsPerRun counts the whole process's allocations.
func TestReadBodyOnce(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 12<<10)
	r := bytes.NewReader(body)
	allocs := testing.AllocsPerRun(10, func() {
		r.Reset(body)
		if b, _, err := readBody(r, 1<<20, int64(len(body))); err != nil || len(b) != len(body) {
			t.Fatalf("read %d bytes, %v", len(b), err)
		}
	})
	if allocs > 1 {
		t.Errorf("%v allocations to read a body of known length, want 1", allocs)
	}
}
