package cli_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/configs"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
)

// TestServe: `serve` answers on the address it prints, with the tokens of
// BULKINVITE_TOKENS, until its context ends; the tokens are never printed.
// queuedOnDefault matches asynq's gauge of one task on a shard of the default
// queue (task.Shards).
var queuedOnDefault = regexp.MustCompile(`asynq_queue_size\{queue="default(\.[0-9]+)?"\} 1\n`)

func TestServe(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	env := maps.Clone(tb.env)
	env["BULKINVITE_TOKENS"] = "svc-token-aaa-6d2f9b4e1c8a3f70e5,ingest:submit:svc-token-bbb-3a7e1c9f5b2d8e46a1"
	env["BULKINVITE_TRUSTED_PROXY_HEADER"] = "X-Real-IP"
	var out, errb lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- cli.Run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }})
	}()
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, rest, ok := strings.Cut(out.String(), "listening on "); ok {
			base = strings.TrimSpace(rest)
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("no address printed; exit %d, stderr %s", <-code, errb.String())
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	var lastBody string
	do := func(method, path, tok, body string, header ...string) int {
		r, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		r.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		lastBody = string(b)
		return resp.StatusCode
	}
	if c := do("GET", "/healthz", "", ""); c != 200 {
		t.Errorf("healthz: %d", c)
	}
	if c := do("GET", "/readyz", "", ""); c != 200 {
		t.Errorf("readyz: %d", c)
	}
	if c := do("POST", "/v1/batches", "svc-token-bbb-3a7e1c9f5b2d8e46a1", string(configs.SampleRequestJSON)); c != 202 {
		t.Errorf("POST with a token: %d", c)
	}
	if c := do("GET", "/v1/batches", "", ""); c != 401 {
		t.Errorf("without a token: %d", c)
	}
	if c := do("GET", "/v1/batches", "svc-token-bbb-3a7e1c9f5b2d8e46a1", ""); c != 403 || !strings.Contains(lastBody, `"forbidden"`) {
		t.Errorf("a submit token reading: %d %s", c, lastBody)
	}
	// The process's metrics: the contract's, and asynq's queues, where the posted
	// batch's chunk waits on a shard of the default queue; no token's secret,
	// after requests with both.
	if c := do("GET", "/metrics", "svc-token-aaa-6d2f9b4e1c8a3f70e5", ""); c != 200 ||
		!strings.Contains(lastBody, "bulkinvite_candidates_total{outcome=\"invited\"} 0") ||
		!queuedOnDefault.MatchString(lastBody) || strings.Contains(lastBody, "svc-token") {
		t.Errorf("metrics: %d\n%s", c, lastBody)
	}
	// Failed authentications are limited per client address, read from the
	// trusted proxy header: past its burst, client A's wrong token is a 429, while
	// B's is a 401 and A's right token passes.
	const clientA, clientB = "203.0.113.9", "198.51.100.7"
	for range httpapi.DefaultFailedAuthBurst {
		do("GET", "/v1/batches", "wrong", "", "X-Real-IP", clientA)
	}
	if a, b, right := do("GET", "/v1/batches", "wrong", "", "X-Real-IP", clientA), do("GET", "/v1/batches", "wrong", "", "X-Real-IP", clientB),
		do("GET", "/v1/batches", "svc-token-aaa-6d2f9b4e1c8a3f70e5", "", "X-Real-IP", clientA); a != 429 || b != 401 || right != 200 {
		t.Errorf("after %d wrong tokens from A: A's next %d, B's wrong token %d, A's right token %d; want 429, 401, 200", httpapi.DefaultFailedAuthBurst, a, b, right)
	}
	// The dashboard is wired in: / sends a browser to its sign-in form.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if resp, err := hc.Get(base + "/"); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET /: %d to %q, CSP %q; want 303 to the sign-in form", resp.StatusCode, loc, resp.Header.Get("Content-Security-Policy"))
		}
	}
	cancel()
	if c := <-code; c != cli.ExitOK {
		t.Errorf("exit %d: %s", c, errb.String())
	}
	if s := out.String() + errb.String(); strings.Contains(s, "svc-token") || !strings.Contains(s, `"route":"POST /v1/batches"`) {
		t.Errorf("output shows a token, or lacks the request's log line:\n%s", s)
	}
	// The log names the named token by its name, and warns of the bare one.
	bare := auth.BareName("svc-token-aaa-6d2f9b4e1c8a3f70e5")
	if s := errb.String(); !regexp.MustCompile(`"route":"POST /v1/batches".*"token":"ingest"`).MatchString(s) ||
		!regexp.MustCompile(`unscoped bare secret.*"position":1,"token":"`+bare+`"`).MatchString(s) ||
		!regexp.MustCompile(`"route":"GET /metrics".*"token":"`+bare+`"`).MatchString(s) {
		t.Errorf("the log does not name the tokens, or does not warn of the bare one:\n%s", s)
	}
}

// TestServeAndCallbackUsageErrors: serve refuses to start without tokens unless
// insecure on loopback; enqueue --callback-url needs a public URL and a secret.
func TestServeAndCallbackUsageErrors(t *testing.T) {
	t.Parallel()
	const longToken = "svc-token-ccc-0e4b8f2a6c1d9e3b7f"
	tb := setup(t)
	file := writeFile(t, "c.csv", csvFile)
	secret := map[string]string{"BULKINVITE_CALLBACK_SECRET": "cb-secret"}
	tests := []struct {
		name  string
		extra map[string]string
		args  []string
		want  string
	}{
		{"no tokens", nil, []string{"serve", "--addr", "127.0.0.1:0"}, "BULKINVITE_TOKENS"},
		{"insecure on every interface", nil, []string{"serve", "--addr", "0.0.0.0:0", "--insecure-no-auth"}, "loopback"},
		{"insecure with tokens", map[string]string{"BULKINVITE_TOKENS": longToken}, []string{"serve", "--addr", "127.0.0.1:0", "--insecure-no-auth"}, "drop one"},
		{"short token", map[string]string{"BULKINVITE_TOKENS": longToken + ",Q"}, []string{"serve", "--addr", "127.0.0.1:0"}, "BULKINVITE_TOKENS: token 2 of 2: secret is 1 characters; at least 32"},
		{"bad rate", map[string]string{"BULKINVITE_TOKENS": longToken, "BULKINVITE_SERVE_TOKEN_RATE": "0"}, []string{"serve"}, "BULKINVITE_SERVE_TOKEN_RATE"},
		{"callback without a secret", nil, []string{"enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--callback-url", "https://hooks.example.com/x"}, "BULKINVITE_CALLBACK_SECRET"},
		{"private callback", secret, []string{"enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--callback-url", "http://192.168.1.5/x"}, "BULKINVITE_CALLBACK_ALLOW_PRIVATE"},
		{"callback not http", secret, []string{"enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--callback-url", "ftp://x.example.com/"}, "--callback-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := &testBundle{Bundle: tb.Bundle, env: maps.Clone(tb.env)}
			maps.Copy(env.env, tt.extra)
			r := env.run(t, "", tt.args...)
			if r.code != cli.ExitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tt.want)
			}
		})
	}
	env := &testBundle{Bundle: tb.Bundle, env: maps.Clone(tb.env)}
	maps.Copy(env.env, secret)
	r := env.run(t, "", "enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--batch-id", "cb", "--callback-url", "https://hooks.example.com/done")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if b, err := tb.Store.Batch(context.Background(), "cb"); err != nil || b.CallbackURL != "https://hooks.example.com/done" {
		t.Errorf("batch %+v %v", b, err)
	}
}
