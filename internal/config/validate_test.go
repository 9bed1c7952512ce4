package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// loadErr loads env (plus flags args, if any) and returns the error text, failing
// the test when there is none.
func loadErr(t *testing.T, src Sources, args ...string) string {
	t.Helper()
	if len(args) > 0 {
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		registerAll(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		src.Flags = fs
	}
	if src.Getenv == nil {
		src.Getenv = envMap(nil)
	}
	_, err := Load(src)
	if err == nil {
		t.Fatalf("Load succeeded, want an error")
	}
	return err.Error()
}

func TestRedisURLErrorsHideThePassword(t *testing.T) {
	t.Parallel()
	const bad = "redis://user:S3cretPW@127.0.0.1:99x/0"
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("redis_url: "+bad+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  Sources
		args []string
	}{
		{"env", Sources{Getenv: envMap(map[string]string{"REDIS_URL": bad})}, nil},
		{"flag", Sources{}, []string{"--redis-url", bad}},
		{"file", Sources{File: file}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := loadErr(t, tt.src, tt.args...)
			if strings.Contains(msg, "S3cret") {
				t.Errorf("the password is in the error: %s", msg)
			}
			for _, want := range []string{"REDIS_URL", `invalid port ":99x"`, "redis://user:xxxxx@127.0.0.1:99x/0"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
		})
	}
}

func TestAPIURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		url   string
		allow bool
		want  []string // nil: valid
	}{
		{"https", "https://apis.flowmingo.ai", false, nil},
		{"https with a path", "https://gw.example.com/flowmingo/", false, nil},
		{"http to 127.0.0.1", "http://127.0.0.1:8090", false, nil},
		{"http to elsewhere in 127/8", "http://127.10.0.3:8090", false, nil},
		{"http to localhost", "http://localhost:8090", false, nil},
		{"http to LOCALHOST", "http://LOCALHOST:8090", false, nil},
		{"http to ::1", "http://[::1]:8090", false, nil},
		{"http to a remote host", "http://apis.flowmingo.ai", false, []string{"FLOWMINGO_API_URL", "cleartext", "https://", "BULKINVITE_ALLOW_INSECURE_API_URL=true"}},
		{"http to a private address", "http://10.0.0.7:8080", false, []string{"FLOWMINGO_API_URL", "cleartext"}},
		{"http to a name that starts like localhost", "http://localhost.example.com", false, []string{"FLOWMINGO_API_URL", "cleartext"}},
		{"http to 0.0.0.0", "http://0.0.0.0:8090", false, []string{"FLOWMINGO_API_URL", "cleartext"}},
		{"http to a remote host, allowed", "http://apis.flowmingo.ai", true, nil},
		{"user info", "https://me:S3cretPW@apis.flowmingo.ai", false, []string{"FLOWMINGO_API_URL", "user name or password", "https://me:xxxxx@apis.flowmingo.ai"}},
		{"user info, allowed insecure", "http://S3cretPW@apis.flowmingo.ai", true, []string{"FLOWMINGO_API_URL", "user name or password"}},
		{"query", "https://apis.flowmingo.ai/?api_key=S3cretPW", false, []string{"FLOWMINGO_API_URL", "query", "api_key=xxxxx"}},
		{"empty query", "https://apis.flowmingo.ai/?", false, []string{"FLOWMINGO_API_URL", "query"}},
		{"fragment", "https://apis.flowmingo.ai/#top", false, []string{"FLOWMINGO_API_URL", "fragment"}},
		{"no host", "https:///v1", false, []string{"FLOWMINGO_API_URL", "host"}},
		{"no scheme", "apis.flowmingo.ai", false, []string{"FLOWMINGO_API_URL", "http:// or https://"}},
		{"other scheme", "ftp://apis.flowmingo.ai", false, []string{"FLOWMINGO_API_URL", "http:// or https://"}},
		{"unparsable", "https://me:S3cret/PW@apis.flowmingo.ai", false, []string{"FLOWMINGO_API_URL", "not a valid URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"FLOWMINGO_API_URL": tt.url}
			if tt.allow {
				env["BULKINVITE_ALLOW_INSECURE_API_URL"] = "true"
			}
			_, err := Load(Sources{Getenv: envMap(env)})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Load: %v, want it accepted", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load accepted %s, want an error", tt.url)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "S3cret") {
				t.Errorf("a secret of the URL is in the error: %s", err)
			}
		})
	}
}

func TestCleartextAPIURLReport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want bool
	}{
		{"https://apis.flowmingo.ai", false},
		{"http://127.0.0.1:8090", false},
		{"http://localhost:8090", false},
		{"http://[::1]:8090", false},
		{"http://apis.flowmingo.ai", true},
	}
	for _, tt := range tests {
		c := Default()
		c.APIURL = tt.url
		c.AllowInsecureAPIURL = true
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		if got := c.CleartextAPIURL(); got != tt.want {
			t.Errorf("CleartextAPIURL(%s) = %v, want %v", tt.url, got, tt.want)
		}
	}
}

// TestRangesOfNumbersAndDurations: a value that parses but is nonsense is refused
// with the setting's name and its allowed range; the bounds themselves are fine.
func TestRangesOfNumbersAndDurations(t *testing.T) {
	t.Parallel()
	file := func(body string) string {
		f := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	env := func(kv ...string) Sources {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return Sources{Getenv: envMap(m)}
	}
	tests := []struct {
		name string
		src  Sources
		args []string
		want string // "" = valid; else the setting, then the range, must be named
		rng  string
	}{
		{"rate NaN", env("BULKINVITE_RATE", "NaN"), nil, "BULKINVITE_RATE", "> 0 and <= 10000"},
		{"rate Inf", env("BULKINVITE_RATE", "Inf"), nil, "BULKINVITE_RATE", "> 0 and <= 10000"},
		{"rate +Inf", env("BULKINVITE_RATE", "+Inf"), nil, "BULKINVITE_RATE", "> 0 and <= 10000"},
		{"rate -Inf", env("BULKINVITE_RATE", "-Inf"), nil, "BULKINVITE_RATE", "> 0 and <= 10000"},
		{"rate infinity by flag", Sources{}, []string{"--rate", "infinity"}, "BULKINVITE_RATE", "> 0 and <= 10000"},
		{"rate NaN in the file", Sources{File: file("rate: .nan\n")}, nil, "BULKINVITE_RATE", "> 0 and <= 10000"},
		{"rate too high", env("BULKINVITE_RATE", "10000.5"), nil, "BULKINVITE_RATE", "> 0 and <= 10000"},
		{"rate at its bound", env("BULKINVITE_RATE", "10000"), nil, "", ""},
		{"request timeout that overflows", env("BULKINVITE_REQUEST_TIMEOUT", "2562047h"), nil, "BULKINVITE_REQUEST_TIMEOUT", "> 0 and <= 1h"},
		{"request timeout over 1h", env("BULKINVITE_REQUEST_TIMEOUT", "61m"), nil, "BULKINVITE_REQUEST_TIMEOUT", "> 0 and <= 1h"},
		{"request timeout at its bound", env("BULKINVITE_REQUEST_TIMEOUT", "1h"), nil, "", ""},
		{"retry min over 24h", env("BULKINVITE_RETRY_MIN", "25h", "BULKINVITE_RETRY_MAX", "25h"), nil, "BULKINVITE_RETRY_MIN", "> 0 and <= 24h"},
		{"retry max over 24h", env("BULKINVITE_RETRY_MAX", "2562047h"), nil, "BULKINVITE_RETRY_MAX", "<= 24h"},
		{"retry min and max at their bound", env("BULKINVITE_RETRY_MIN", "24h", "BULKINVITE_RETRY_MAX", "24h"), nil, "", ""},
		{"shutdown timeout over 1h", env("BULKINVITE_SHUTDOWN_TIMEOUT", "2h"), nil, "BULKINVITE_SHUTDOWN_TIMEOUT", "> 0 and <= 1h"},
		{"task check interval zero", env("BULKINVITE_TASK_CHECK_INTERVAL", "0s"), nil, "BULKINVITE_TASK_CHECK_INTERVAL", "10ms..10s"},
		{"task check interval too short", Sources{}, []string{"--task-check-interval", "1ms"}, "BULKINVITE_TASK_CHECK_INTERVAL", "10ms..10s"},
		{"task check interval at its bounds", env("BULKINVITE_TASK_CHECK_INTERVAL", "10ms", "BULKINVITE_DELAYED_TASK_CHECK_INTERVAL", "1m"), nil, "", ""},
		{"delayed task check interval too long", env("BULKINVITE_DELAYED_TASK_CHECK_INTERVAL", "61s"), nil, "BULKINVITE_DELAYED_TASK_CHECK_INTERVAL", "100ms..1m0s"},
		{"ledger TTL over 10 years", env("BULKINVITE_LEDGER_TTL", "87601h"), nil, "BULKINVITE_LEDGER_TTL", "> 0 and <= 87600h"},
		{"ledger TTL at 10 years", env("BULKINVITE_LEDGER_TTL", "87600h"), nil, "", ""},
		{"batch retention zero", env("BULKINVITE_BATCH_RETENTION", "0s"), nil, "BULKINVITE_BATCH_RETENTION", "> 0 and <= 87600h"},
		{"batch retention negative", env("BULKINVITE_BATCH_RETENTION", "-1h"), nil, "BULKINVITE_BATCH_RETENTION", "> 0 and <= 87600h"},
		{"batch retention over 10 years", env("BULKINVITE_BATCH_RETENTION", "87601h"), nil, "BULKINVITE_BATCH_RETENTION", "> 0 and <= 87600h"},
		{"batch retention not a duration", env("BULKINVITE_BATCH_RETENTION", "30d"), nil, "BULKINVITE_BATCH_RETENTION", "Go duration"},
		{"batch retention at 10 years", env("BULKINVITE_BATCH_RETENTION", "87600h"), nil, "", ""},
		{"wait replicas negative", env("BULKINVITE_REDIS_WAIT_REPLICAS", "-1"), nil, "BULKINVITE_REDIS_WAIT_REPLICAS", "0..100"},
		{"wait replicas too many", Sources{}, []string{"--redis-wait-replicas", "101"}, "BULKINVITE_REDIS_WAIT_REPLICAS", "0..100"},
		{"wait replicas at its bound", env("BULKINVITE_REDIS_WAIT_REPLICAS", "100"), nil, "", ""},
		{"burst too high", env("BULKINVITE_BURST", "10001"), nil, "BULKINVITE_BURST", "1..10000"},
		{"concurrency too high", env("BULKINVITE_CONCURRENCY", "1001"), nil, "BULKINVITE_CONCURRENCY", "1..1000"},
		{"concurrency at its bound", env("BULKINVITE_CONCURRENCY", "1000"), nil, "", ""},
		{"max attempts too high", env("BULKINVITE_MAX_ATTEMPTS", "1001"), nil, "BULKINVITE_MAX_ATTEMPTS", "1..1000"},
		{"candidates per minute too high", env("BULKINVITE_CANDIDATES_PER_MINUTE", "1000001"), nil, "BULKINVITE_CANDIDATES_PER_MINUTE", "0..1000000"},
		{"max in flight too high", env("BULKINVITE_MAX_IN_FLIGHT", "10001"), nil, "BULKINVITE_MAX_IN_FLIGHT", "0..10000"},
		{"segment size too high", env("BULKINVITE_SEGMENT_SIZE", "100001"), nil, "BULKINVITE_SEGMENT_SIZE", "<= 100000"},
		{"bulk threshold too high", env("BULKINVITE_BULK_THRESHOLD", "1000000001"), nil, "BULKINVITE_BULK_THRESHOLD", "0..1000000000"},
		{"queue weight too high", env("BULKINVITE_QUEUE_WEIGHTS", "default=1000000000,replay=3,bulk=1"), nil, "BULKINVITE_QUEUE_WEIGHTS", "1..100"},
		{"token in flight zero", env("BULKINVITE_SERVE_TOKEN_IN_FLIGHT", "0"), nil, "BULKINVITE_SERVE_TOKEN_IN_FLIGHT", "1..10000"},
		{"token in flight too many", Sources{}, []string{"--serve-token-in-flight", "10001"}, "BULKINVITE_SERVE_TOKEN_IN_FLIGHT", "1..10000"},
		{"token in flight at its bound", env("BULKINVITE_SERVE_TOKEN_IN_FLIGHT", "10000"), nil, "", ""},
		{"spool limit below the body limit", env("BULKINVITE_SERVE_SPOOL_LIMIT", "1048576"), nil, "BULKINVITE_SERVE_SPOOL_LIMIT", ">= BULKINVITE_SERVE_MAX_BODY (33554432)"},
		{"spool limit over 1 TiB", env("BULKINVITE_SERVE_SPOOL_LIMIT", "1099511627777"), nil, "BULKINVITE_SERVE_SPOOL_LIMIT", "<= 1099511627776"},
		{"spool limit at the body limit", env("BULKINVITE_SERVE_SPOOL_LIMIT", "1024", "BULKINVITE_SERVE_MAX_BODY", "1024"), nil, "", ""},
		{"queue weight with trailing junk", env("BULKINVITE_QUEUE_WEIGHTS", "default=6x,replay=3,bulk=1"), nil, "BULKINVITE_QUEUE_WEIGHTS", "1..100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.want == "" {
				src := tt.src
				if src.Getenv == nil {
					src.Getenv = envMap(nil)
				}
				if _, err := Load(src); err != nil {
					t.Fatalf("Load: %v, want it accepted", err)
				}
				return
			}
			msg := loadErr(t, tt.src, tt.args...)
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, tt.rng) {
				t.Errorf("error %q does not name %s and its range %q", msg, tt.want, tt.rng)
			}
		})
	}
}

// TestEveryNumberSettingIsBounded keeps the promise for settings added later: every
// float setting refuses NaN and ±Inf, and every duration and whole-number setting
// refuses the largest value its type holds, each with an error naming the setting.
func TestEveryNumberSettingIsBounded(t *testing.T) {
	t.Parallel()
	c := Default()
	for _, s := range Settings() {
		var values []string
		switch s.field(&c).(type) {
		case *float64:
			values = []string{"NaN", "Inf", "-Inf"}
		case *time.Duration:
			values = []string{"2562047h"}
		case *int:
			values = []string{"9223372036854775807"}
		default:
			continue
		}
		for _, v := range values {
			_, err := Load(Sources{Getenv: envMap(map[string]string{s.Env: v})})
			if err == nil {
				t.Errorf("%s=%s was accepted", s.Env, v)
			} else if !strings.Contains(err.Error(), s.Env) {
				t.Errorf("%s=%s: error %q does not name the setting", s.Env, v, err)
			}
		}
	}
}

// TestTrustedProxyHeader: the header the throttle of failed authentications
// reads the client's address from is a header name, or nothing.
func TestTrustedProxyHeader(t *testing.T) {
	t.Parallel()
	c, err := Load(Sources{Getenv: envMap(map[string]string{"BULKINVITE_TRUSTED_PROXY_HEADER": "X-Forwarded-For"})})
	if err != nil || c.TrustedProxyHeader != "X-Forwarded-For" {
		t.Errorf("X-Forwarded-For: %q, %v", c.TrustedProxyHeader, err)
	}
	if c, err := Load(Sources{Getenv: envMap(nil)}); err != nil || c.TrustedProxyHeader != "" {
		t.Errorf("default: %q, %v", c.TrustedProxyHeader, err)
	}
	if msg := loadErr(t, Sources{Getenv: envMap(map[string]string{"BULKINVITE_TRUSTED_PROXY_HEADER": "X-Forwarded-For: 1.2.3.4"})}); !strings.Contains(msg, "BULKINVITE_TRUSTED_PROXY_HEADER") {
		t.Errorf("a bad header name: %s", msg)
	}
}
