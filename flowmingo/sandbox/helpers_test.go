package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/payload"
)

// testBundle is a running sandbox and a client of its own, so that the test's
// connections are closed when it ends.
type testBundle struct {
	sb     *Running
	client *http.Client
}

func setup(tb testing.TB, cfg Config) *testBundle {
	tb.Helper()
	sb, err := Start(cfg)
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tr := &http.Transport{}
	tb.Cleanup(func() {
		tr.CloseIdleConnections()
		if err := sb.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return &testBundle{sb: sb, client: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// reply is an answer read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) errorBody(tb testing.TB) errorBody {
	tb.Helper()
	var e errorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		tb.Fatalf("error body %q: %v", r.body, err)
	}
	if e.Message == "" {
		tb.Fatalf("error body %q has no message", r.body)
	}
	return e
}

func (r reply) response(tb testing.TB) *payload.InviteResponse {
	tb.Helper()
	if r.status != http.StatusOK {
		tb.Fatalf("status %d, want 200; body %s", r.status, r.body)
	}
	resp, err := payload.DecodeInviteResponse(r.body)
	if err != nil {
		tb.Fatalf("decode %s: %v", r.body, err)
	}
	return resp
}

// doErr sends a request and returns the reply, or the transport's error.
func (b *testBundle) doErr(ctx context.Context, method, path, key, contentType string, body []byte) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, method, b.sb.URL+path, bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	if key != "" {
		req.Header.Set(HeaderAPIKey, key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: rb}, nil
}

func (b *testBundle) do(tb testing.TB, method, path, key string, body []byte) reply {
	tb.Helper()
	r, err := b.doErr(context.Background(), method, path, key, "application/json", body)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// invite posts body to the invite endpoint with key.
func (b *testBundle) invite(tb testing.TB, key, body string) reply {
	tb.Helper()
	return b.do(tb, http.MethodPost, payload.InvitePath, key, []byte(body))
}

// inviteReq posts req with DefaultKey.
func (b *testBundle) inviteReq(tb testing.TB, req *payload.InviteRequest) reply {
	tb.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		tb.Fatal(err)
	}
	return b.invite(tb, DefaultKey, string(body))
}

// getJSON GETs an admin path and decodes it into v.
func (b *testBundle) getJSON(tb testing.TB, path string, v any) []byte {
	tb.Helper()
	r := b.do(tb, http.MethodGet, path, "", nil)
	if r.status != http.StatusOK {
		tb.Fatalf("GET %s: status %d, body %s", path, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		tb.Fatalf("GET %s: decode %s: %v", path, r.body, err)
	}
	return r.body
}

// request builds a request to target for candidates with the given emails.
func request(target payload.Target, emails ...string) *payload.InviteRequest {
	cands := make([]payload.Candidate, len(emails))
	for i, e := range emails {
		cands[i] = payload.Candidate{Email: e}
	}
	return target.Request(cands, "", nil)
}

var (
	demoSet     = payload.Target{InterviewSetID: DemoInterviewSetID}
	demoProject = payload.Target{ProjectID: DemoProjectID}
)

// eventually polls cond until it holds, failing after a generous deadline.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noKeyIn fails when body shows any part of key's secret.
func noKeyIn(tb testing.TB, body []byte, keys ...string) {
	tb.Helper()
	for _, k := range keys {
		if k == "" {
			continue
		}
		if bytes.Contains(body, []byte(k)) {
			tb.Errorf("body shows the key: %s", body)
		}
		if _, secret, ok := strings.Cut(k, "."); ok && secret != "" && bytes.Contains(body, []byte(secret)) {
			tb.Errorf("body shows the key's secret: %s", body)
		}
	}
}
