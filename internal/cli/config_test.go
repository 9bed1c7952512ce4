package cli_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestRedisPasswordIsNeverPrinted drives the real command line with Redis URLs
// holding a password in each place one can be (user info, ACL user, TLS, Sentinel,
// query parameters), given by env, flag and config file, that are wrong in each way
// a user gets them wrong: the password must appear nowhere in the output, and the
// message must still name REDIS_URL and say what is wrong.
func TestRedisPasswordIsNeverPrinted(t *testing.T) {
	t.Parallel()
	// A Redis that wants another password than the URL's.
	srv := redistest.Start(t, redistest.Options{})
	if err := srv.Client().ConfigSet(context.Background(), "requirepass", "the-right-one").Err(); err != nil {
		t.Fatal(err)
	}
	live := srv.Addr()
	dead := closedPort(t)
	const secret = "S3cret" // every password below contains it
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want []string
	}{
		{
			name: "bad port in env",
			env:  map[string]string{"REDIS_URL": "redis://:S3cretPW@127.0.0.1:99x/0"},
			args: []string{"status", "x"},
			code: cli.ExitUsage,
			want: []string{"REDIS_URL", `invalid port ":99x"`, "redis://:xxxxx@127.0.0.1:99x/0"},
		},
		{
			name: "bad port in flag",
			args: []string{"status", "x", "--redis-url", "redis://:S3cretPW@127.0.0.1:99x/0"},
			code: cli.ExitUsage,
			want: []string{"REDIS_URL", `invalid port ":99x"`},
		},
		{
			name: "bad port in config file",
			args: []string{"status", "x", "--config", writeFile(t, "c.yaml", "redis_url: redis://:S3cretPW@127.0.0.1:99x/0\n")},
			code: cli.ExitUsage,
			want: []string{"REDIS_URL", `invalid port ":99x"`},
		},
		{
			name: "ACL user, database not a number",
			env:  map[string]string{"REDIS_URL": "redis://app:S3cretPW@127.0.0.1:6379/zero"},
			args: []string{"status", "x"},
			code: cli.ExitUsage,
			want: []string{"REDIS_URL", "database number", "redis://app:xxxxx@127.0.0.1:6379/zero"},
		},
		{
			name: "unencoded slash in the password",
			env:  map[string]string{"REDIS_URL": "redis://:S3cret/PW@127.0.0.1:6379/0"},
			args: []string{"status", "x"},
			code: cli.ExitUsage,
			want: []string{"REDIS_URL", "percent-encode", "%2F"},
		},
		{
			name: "unencoded hash in an ACL password",
			env:  map[string]string{"REDIS_URL": "rediss://app:S3cret#PW@127.0.0.1:6379/0"},
			args: []string{"status", "x"},
			code: cli.ExitUsage,
			want: []string{"REDIS_URL", "percent-encode"},
		},
		{
			name: "password query parameter, bad port",
			env:  map[string]string{"REDIS_URL": "redis://127.0.0.1:99x/0?password=S3cretPW"},
			args: []string{"status", "x"},
			code: cli.ExitUsage,
			want: []string{"REDIS_URL", `invalid port ":99x"`, "password=xxxxx"},
		},
		{
			name: "unsupported scheme",
			env:  map[string]string{"REDIS_URL": "mysql://root:S3cretPW@db.internal/0"},
			args: []string{"status", "x"},
			code: cli.ExitUsage,
			want: []string{"REDIS_URL", "mysql", "redis://"},
		},
		{
			name: "no scheme",
			env:  map[string]string{"REDIS_URL": ":S3cretPW@127.0.0.1:6379"},
			args: []string{"status", "x"},
			code: cli.ExitUsage,
			want: []string{"REDIS_URL", "redis://"},
		},
		{
			name: "sentinel without master",
			env:  map[string]string{"REDIS_URL": "redis-sentinel://:S3cretPW@127.0.0.1:26379/0"},
			args: []string{"status", "x"},
			code: cli.ExitUsage,
			want: []string{"REDIS_URL", "master="},
		},
		{
			name: "wrong password to a live Redis",
			env:  map[string]string{"REDIS_URL": "redis://:S3cretPW@" + live + "/0"},
			args: []string{"status", "x"},
			code: cli.ExitFailed,
			want: []string{"REDIS_URL", "cannot reach Redis at redis://:xxxxx@" + live + "/0"},
		},
		{
			name: "ACL user over TLS, nothing listening",
			env:  map[string]string{"REDIS_URL": "rediss://app:S3cretPW@" + dead + "/0", "BULKINVITE_LOG_LEVEL": "debug"},
			args: []string{"status", "x"},
			code: cli.ExitFailed,
			want: []string{"REDIS_URL", "cannot reach Redis at rediss://app:xxxxx@" + dead + "/0"},
		},
		{
			name: "sentinel with a sentinel_password, nothing listening",
			env: map[string]string{
				"REDIS_URL":            "redis-sentinel://:S3cretPW@" + dead + "/0?master=mymaster&sentinel_password=S3cretSentinel",
				"BULKINVITE_LOG_LEVEL": "debug",
			},
			args: []string{"status", "x"},
			code: cli.ExitFailed,
			want: []string{"REDIS_URL", "sentinel_password=xxxxx"},
		},
		{
			name: "help with a password in env and flag",
			env:  map[string]string{"REDIS_URL": "redis://app:S3cretPW@127.0.0.1:6379/0"},
			args: []string{"status", "--redis-url", "redis://app:S3cretPW2@127.0.0.1:6379/0", "--help"},
			code: cli.ExitOK,
			want: []string{"--redis-url"},
		},
		{
			name: "URL given as an argument by mistake",
			args: []string{"resume", "redis://:S3cretPW@127.0.0.1:6379/0"},
			code: cli.ExitUsage,
			want: []string{"takes no arguments", "redis://:xxxxx@127.0.0.1:6379/0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"BULKINVITE_LOG_FORMAT": "json"}
			for k, v := range tt.env {
				env[k] = v
			}
			r := (&testBundle{env: env}).runFor(t, 20*time.Second, "", tt.args...)
			out := r.stdout + r.stderr
			if strings.Contains(out, secret) {
				t.Errorf("the Redis password was printed:\nstdout %s\nstderr %s", r.stdout, r.stderr)
			}
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstderr %s", r.code, tt.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\nstdout %s\nstderr %s", w, r.stdout, r.stderr)
				}
			}
		})
	}
}

// TestCleartextAPIURL: an http:// API URL to a host that is not loopback would send
// the key in cleartext; it is refused unless allowed explicitly, and then warned of
// once.
func TestCleartextAPIURL(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	const remote = "http://flowmingo.example.com"
	const warning = "API key crosses the network in cleartext"

	refused := []struct {
		name string
		url  string
		want []string
	}{
		{"http to a remote host", remote, []string{"FLOWMINGO_API_URL", "cleartext", "https://", "BULKINVITE_ALLOW_INSECURE_API_URL=true", "--allow-insecure-api-url"}},
		{"http to a private address", "http://10.1.2.3:8080", []string{"FLOWMINGO_API_URL", "BULKINVITE_ALLOW_INSECURE_API_URL"}},
		{"user info", "https://me:S3cretPW@apis.flowmingo.ai", []string{"FLOWMINGO_API_URL", "user name or password", "FLOWMINGO_API_KEY"}},
		{"query", "https://apis.flowmingo.ai/?token=S3cretPW", []string{"FLOWMINGO_API_URL", "query"}},
		{"no host", "https:///v1", []string{"FLOWMINGO_API_URL", "host"}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"FLOWMINGO_API_URL": tt.url, "FLOWMINGO_API_KEY": sandbox.DefaultKey, "REDIS_URL": "redis://" + closedPort(t) + "/0"}
			r := (&testBundle{env: env}).run(t, "", "worker")
			if r.code != cli.ExitUsage {
				t.Errorf("exit %d, want 2 (usage)\nstderr %s", r.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, r.stderr)
				}
			}
			if strings.Contains(r.stdout+r.stderr, "S3cret") {
				t.Errorf("a secret of the URL was printed: %s", r.stderr)
			}
		})
	}

	// Allowed explicitly (by env or flag), a worker starts and warns once.
	allowed := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"allowed by env", map[string]string{"BULKINVITE_ALLOW_INSECURE_API_URL": "true"}, []string{"worker"}},
		{"allowed by flag", nil, []string{"worker", "--allow-insecure-api-url"}},
	}
	for _, tt := range allowed {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range tb.env {
				env[k] = v
			}
			env["FLOWMINGO_API_URL"] = remote
			for k, v := range tt.env {
				env[k] = v
			}
			r := (&testBundle{Bundle: tb.Bundle, env: env}).runFor(t, 1500*time.Millisecond, "", tt.args...)
			if r.code != cli.ExitOK {
				t.Errorf("exit %d, want 0\nstderr %s", r.code, r.stderr)
			}
			if n := strings.Count(r.stderr, warning); n != 1 {
				t.Errorf("warned %d times, want once:\n%s", n, r.stderr)
			}
		})
	}

	// Loopback over http is the sandbox: no refusal, no warning.
	for _, u := range []string{tb.API.URL, strings.Replace(tb.API.URL, "127.0.0.1", "localhost", 1)} {
		t.Run("loopback "+u, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range tb.env {
				env[k] = v
			}
			env["FLOWMINGO_API_URL"] = u
			r := (&testBundle{Bundle: tb.Bundle, env: env}).runFor(t, 1500*time.Millisecond, "", "worker")
			if r.code != cli.ExitOK || strings.Contains(r.stderr, warning) {
				t.Errorf("exit %d, stderr %s; want 0 and no warning", r.code, r.stderr)
			}
		})
	}
}

// TestNonsenseNumbersAreUsageErrors: values that parse but make no sense (NaN, Inf,
// durations that overflow arithmetic later) stop the command with exit 2 and a
// message naming the setting and its range.
func TestNonsenseNumbersAreUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"NaN rate", map[string]string{"BULKINVITE_RATE": "NaN"}, []string{"status", "x"}, []string{"BULKINVITE_RATE", "<= 10000"}},
		{"Inf rate by flag", nil, []string{"limits", "--rate", "+Inf"}, []string{"BULKINVITE_RATE", "<= 10000"}},
		{"request timeout that overflows", map[string]string{"BULKINVITE_REQUEST_TIMEOUT": "2562047h"}, []string{"status", "x"}, []string{"BULKINVITE_REQUEST_TIMEOUT", "<= 1h"}},
		{"huge concurrency", map[string]string{"BULKINVITE_CONCURRENCY": "100000000"}, []string{"status", "x"}, []string{"BULKINVITE_CONCURRENCY", "1..1000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"REDIS_URL": "redis://" + closedPort(t) + "/0"}
			for k, v := range tt.env {
				env[k] = v
			}
			r := (&testBundle{env: env}).run(t, "", tt.args...)
			if r.code != cli.ExitUsage {
				t.Errorf("exit %d, want 2\nstderr %s", r.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, r.stderr)
				}
			}
		})
	}
}
