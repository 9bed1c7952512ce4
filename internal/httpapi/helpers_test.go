package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bulkinvite/bulkinvite/configs"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
)

// Tokens the test servers accept.
const (
	token1 = "test-token-one-3f9a-0c4e8b1d7a2f6e95"
	token2 = "test-token-two-77c1-5b9e2a4f8d1c3e70"
)

// seed is the vendor's sample request body (configs/sample-request.json), unchanged.
var seed = string(configs.SampleRequestJSON)

// testBundle is a server over a private Redis and the sandbox, with its logs.
type testBundle struct {
	*pipelinetest.Bundle
	srv  *httpapi.Server
	logs *observer.ObservedLogs
	// host is the Host of the requests do makes: a loopback one for a server
	// without auth (which answers no other), httptest's example.com otherwise.
	host string
}

// setup starts a pipeline and a server accepting token1 and token2 (unless cfg
// says otherwise), with a rate and a throttle of failed authentications high
// enough not to matter.
func setup(t *testing.T, cfg httpapi.Config) *testBundle {
	t.Helper()
	return setupWith(t, cfg, pipelinetest.Options{})
}

// setupWith is setup over a pipeline tuned by opts.
func setupWith(t *testing.T, cfg httpapi.Config, opts pipelinetest.Options) *testBundle {
	t.Helper()
	b := pipelinetest.New(t, opts)
	if cfg.Tokens == nil && !cfg.InsecureNoAuth {
		cfg.Tokens = []string{token1, token2}
	}
	if cfg.TokenRate == 0 {
		cfg.TokenRate, cfg.TokenBurst = 1e6, 1e6
	}
	if cfg.FailedAuth == nil {
		cfg.FailedAuth = httpapi.NewAuthThrottle(httpapi.ThrottleConfig{Burst: 1e6})
	}
	core, logs := observer.New(zap.DebugLevel)
	srv, err := httpapi.New(httpapi.Deps{Store: b.Store, Producer: b.Producer, Replayer: b.Replayer, Steer: b.Steering(), Log: zap.New(core)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tb := &testBundle{Bundle: b, srv: srv, logs: logs}
	if cfg.InsecureNoAuth {
		tb.host = "127.0.0.1:8080"
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

// req is one request: headers are name, value pairs; Authorization defaults to
// token1 (set it to "" to send none); a "Host" pair sets the request's Host;
// remote is its RemoteAddr, default httptest's.
type req struct {
	method, target, body string
	header               []string
	remote               string
}

func (tb *testBundle) do(t *testing.T, r req) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader = http.NoBody
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.target, body)
	hr.Header.Set("Authorization", "Bearer "+token1)
	if tb.host != "" {
		hr.Host = tb.host
	}
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	if r.method == http.MethodPost {
		hr.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(r.header); i += 2 {
		if http.CanonicalHeaderKey(r.header[i]) == "Host" {
			hr.Host = r.header[i+1]
			continue
		}
		if r.header[i+1] == "" {
			hr.Header.Del(r.header[i])
			continue
		}
		hr.Header.Set(r.header[i], r.header[i+1])
	}
	rec := httptest.NewRecorder()
	tb.srv.ServeHTTP(rec, hr)
	checkAgainstDoc(t, hr, rec)
	return rec
}

// decode decodes a JSON answer into v, failing the test otherwise.
func decode(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, body %s", ct, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
}

// errorOf decodes an error answer, checking its status and shape.
func errorOf(t *testing.T, rec *httptest.ResponseRecorder, status int) httpapi.Error {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	var raw map[string]map[string]json.RawMessage
	decode(t, rec, &raw)
	e := raw["error"]
	if len(raw) != 1 || e == nil || e["code"] == nil || e["message"] == nil || e["details"] == nil || string(e["details"]) == "null" {
		t.Fatalf("not the error shape: %s", rec.Body)
	}
	var body httpapi.ErrorBody
	decode(t, rec, &body)
	return body.Error
}

// hasField reports whether the error names field in its details.
func hasField(e httpapi.Error, field string) bool {
	for _, d := range e.Details {
		if d.Field == field {
			return true
		}
	}
	return false
}

func zapString(k, v string) zap.Field { return zap.String(k, v) }
