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
