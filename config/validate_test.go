package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// loadErr loads env (plus flags args, if any) and returns the error text, failing
// the test when there is none.
func loadErr(t *testing.T, src Sources, args ...string) string {
	t.Helper()
	if len(args) > 0 {
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		RegisterFlags(fs)
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
