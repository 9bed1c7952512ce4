package dashboard_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bulkinvite/bulkinvite/internal/dashboard"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
	"github.com/bulkinvite/bulkinvite/ratelimit"
	"github.com/bulkinvite/bulkinvite/worker"
)

// Tokens the test servers accept.
const (
	token1 = "dash-token-one-5e1f-9a3c7e2b4d8f1a60"
	token2 = "dash-token-two-c07a-2e6b8d4f1a9c3e57"
)

// testBundle is the API server with the dashboard mounted, over a private Redis
// and the sandbox, with its logs.
type testBundle struct {
	*pipelinetest.Bundle
	srv     *httpapi.Server
	logs    *observer.ObservedLogs
	resumes atomic.Int64
}

// setup starts a pipeline (no workers) and a server whose dashboard accepts
// token1 and token2 unless cfg says otherwise. It fails the test at its end if
// a token or a session id was logged.
func setup(t *testing.T, cfg dashboard.Config) *testBundle {
	t.Helper()
	b := pipelinetest.New(t, pipelinetest.Options{})
	if cfg.Tokens == nil && !cfg.InsecureNoAuth {
		cfg.Tokens = []string{token1, token2}
	}
	core, logs := observer.New(zap.DebugLevel)
	tb := &testBundle{Bundle: b, logs: logs}
	lim, err := ratelimit.New(b.RDB, b.Key.ID(), ratelimit.Config{Rate: 5, Burst: 3, Prefix: pipelinetest.Prefix}, nil)
	if err != nil {
		t.Fatal(err)
	}
	inspector := asynq.NewInspectorFromRedisClient(b.RDB)
	dash, err := dashboard.New(dashboard.Deps{
		Store: b.Store, Replayer: b.Replayer, Limiter: lim, LimiterKey: b.Key.Masked(), Log: zap.New(core), Steer: b.Steering(),
		Resume: func(ctx context.Context, by string) ([]store.AuthStop, error) {
			tb.resumes.Add(1)
			return worker.Resume(ctx, b.Store, inspector, by)
		},
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if tb.srv, err = httpapi.New(httpapi.Deps{Store: b.Store, Producer: b.Producer, Replayer: b.Replayer, Steer: b.Steering(), Log: zap.New(core)},
		httpapi.Config{Tokens: cfg.Tokens, AuthTokens: cfg.AuthTokens, InsecureNoAuth: cfg.InsecureNoAuth, UI: dash, FailedAuth: cfg.FailedAuth}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, e := range logs.All() {
			line, _ := json.Marshal(e.ContextMap())
			if s := e.Message + string(line); strings.Contains(s, token1) || strings.Contains(s, token2) {
				t.Errorf("a token was logged: %s", s)
			}
		}
	})
	return tb
}

// client is a browser as far as cookies go: it keeps what the server sets.
type client struct {
	srv     http.Handler
	cookies map[string]*http.Cookie
	// header is sent with every request (name, value pairs).
	header []string
	// host is the request's Host; default 127.0.0.1:8080. remote is its
	// RemoteAddr; default httptest's.
	host, remote string
}

func (tb *testBundle) client() *client {
	return &client{srv: tb.srv, cookies: map[string]*http.Cookie{}}
}

// another returns another serve over the same store, whose dashboard has cfg.
func (tb *testBundle) another(t *testing.T, cfg dashboard.Config) http.Handler {
	t.Helper()
	dash, err := dashboard.New(dashboard.Deps{Store: tb.Store, Replayer: tb.Replayer, Steer: tb.Steering(),
		Resume: func(context.Context, string) ([]store.AuthStop, error) { return nil, nil }}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Deps{Store: tb.Store, Producer: tb.Producer, Replayer: tb.Replayer, Steer: tb.Steering()}, httpapi.Config{Tokens: cfg.Tokens, UI: dash})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// do sends a request with the client's cookies and keeps those the answer sets.
func (c *client) do(t *testing.T, method, target string, form url.Values, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader = http.NoBody
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if c.host != "" {
		r.Host = c.host
	} else if r.URL.Host == "" {
		r.Host = "127.0.0.1:8080"
	}
	if c.remote != "" {
		r.RemoteAddr = c.remote
	}
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, ck := range c.cookies {
		r.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	h := append(append([]string(nil), c.header...), header...)
	for i := 0; i+1 < len(h); i += 2 {
		r.Header.Set(h[i], h[i+1])
	}
	rec := httptest.NewRecorder()
	c.srv.ServeHTTP(rec, r)
	for _, ck := range rec.Result().Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	return rec
}

func (c *client) get(t *testing.T, target string) *httptest.ResponseRecorder {
	t.Helper()
	return c.do(t, http.MethodGet, target, nil)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf returns the CSRF token of the first form of a page.
func csrfOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no csrf field in the page (%d):\n%s", rec.Code, rec.Body)
	}
	return m[1]
}

// signIn signs the client in with tok and returns the page's CSRF token.
func (c *client) signIn(t *testing.T, tok string) string {
	t.Helper()
	form := c.get(t, "/signin")
	rec := c.do(t, http.MethodPost, "/signin", url.Values{"csrf": {csrfOf(t, form)}, "token": {tok}, "next": {"/"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		t.Fatalf("sign-in: %d to %q:\n%s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	page := c.get(t, "/")
	if page.Code != http.StatusOK {
		t.Fatalf("after sign-in, GET /: %d", page.Code)
	}
	return csrfOf(t, page)
}

// deadLetter records a dead letter for seq of the batch, as the worker does
// for a candidate the vendor refused with msg in field.
func (tb *testBundle) deadLetter(t *testing.T, batchID string, seq int64, c payload.Candidate, reason payload.Reason, field, msg string) {
	t.Helper()
	errs := map[string]json.RawMessage{}
	if field != "" {
		v, _ := json.Marshal(msg)
		errs[field] = v
	}
	now := time.Now().UTC()
	dl := &store.DeadLetter{ID: store.DeadLetterID(batchID, seq), BatchID: batchID, Reason: reason, Errors: errs, Candidate: c,
		Target: pipelinetest.Target, Attempts: 1, FirstFailedAt: now, LastFailedAt: now, LastHTTPStatus: 200, Seq: seq}
	if _, err := tb.Store.RecordOutcomes(context.Background(), batchID, pipelinetest.Target,
		[]store.Record{{Seq: seq, Outcome: payload.OutcomeDeadLettered, Candidate: c, DeadLetter: dl}}); err != nil {
		t.Fatal(err)
	}
}

// importAs imports cands as batch id created by the token named owner.
func (tb *testBundle) importAs(t *testing.T, id, owner string, cands []payload.Candidate) {
	t.Helper()
	if _, err := tb.Producer.Import(context.Background(), producer.NewSliceSource(cands),
		producer.Options{BatchID: id, Job: task.Job{Target: pipelinetest.Target}, Owner: owner}); err != nil {
		t.Fatal(err)
	}
}

// invite records seq of the batch as invited, as the worker does.
func (tb *testBundle) invite(t *testing.T, batchID string, seq int64, c payload.Candidate) {
	t.Helper()
	if _, err := tb.Store.RecordOutcomes(context.Background(), batchID, pipelinetest.Target,
		[]store.Record{{Seq: seq, Outcome: payload.OutcomeInvited, Candidate: c}}); err != nil {
		t.Fatal(err)
	}
}

// countDeadLetters counts a batch's dead letters.
func (tb *testBundle) countDeadLetters(t *testing.T, batchID string) int {
	t.Helper()
	return len(tb.DeadLetters(batchID))
}

func must(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
}
