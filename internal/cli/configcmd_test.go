package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/config"
)

// TestConfigShowsEachValueAndItsSource sets settings in each source — the
// config file, the environment overriding the file, a flag overriding both —
// and checks that `config` shows each effective value with its source, and the
// secrets only masked.
func TestConfigShowsEachValueAndItsSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "bulkinvite.yaml")
	keyFile := filepath.Join(dir, "key")
	const key = "fl_live_abcd.TopSecretValue"
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "rate: 3\nburst: 4\nconcurrency: 5\napi_key_file: " + keyFile + "\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"BULKINVITE_CONFIG":          file,
		"BULKINVITE_BURST":           "6",
		"BULKINVITE_CONCURRENCY":     "7",
		"REDIS_URL":                  "redis://bulk:Pa55word@redis.internal:6380/2",
		"BULKINVITE_CALLBACK_SECRET": "callback-Pa55word",
	}
	run := func(t *testing.T, args ...string) (int, string, string) {
		t.Helper()
		var out, errb strings.Builder
		code := cli.Run(t.Context(), args, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }})
		return code, out.String(), errb.String()
	}
	code, out, errOut := run(t, "config", "--json", "--concurrency", "8")
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got struct{ Settings []config.Value }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	byEnv := map[string]config.Value{}
	for _, v := range got.Settings {
		byEnv[v.Env] = v
	}
	if len(byEnv) != len(config.Settings())+len(config.Secrets())+1 {
		t.Errorf("%d values, want one for each of %d settings, %d secrets and the config file", len(byEnv), len(config.Settings()), len(config.Secrets()))
	}
	chunkDefault := ""
	for _, s := range config.Settings() {
		if s.Env == "BULKINVITE_CHUNK_SIZE" {
			chunkDefault = s.DefaultText()
		}
	}
	for _, tc := range []struct {
		env, value string
		source     config.Source
	}{
		{"BULKINVITE_CONFIG", file, config.SourceEnv},
		{"BULKINVITE_RATE", "3", config.SourceFile},
		{"BULKINVITE_BURST", "6", config.SourceEnv},
		{"BULKINVITE_CONCURRENCY", "8", config.SourceFlag},
		{"BULKINVITE_CHUNK_SIZE", chunkDefault, config.SourceDefault},
		{"REDIS_URL", "redis://bulk:xxxxx@redis.internal:6380/2", config.SourceEnv},
		{"FLOWMINGO_API_KEY_FILE", keyFile, config.SourceFile},
		{"FLOWMINGO_API_KEY", "fl_live_abcd.****", config.SourceFile},
		{"BULKINVITE_CALLBACK_SECRET", "****", config.SourceEnv},
		{"BULKINVITE_TOKENS", "(none)", config.SourceDefault},
	} {
		v := byEnv[tc.env]
		if v.Value != tc.value || v.Source != tc.source {
			t.Errorf("%s = %q from %s, want %q from %s", tc.env, v.Value, v.Source, tc.value, tc.source)
		}
	}
	code, text, errOut := run(t, "config")
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, s := range []string{out, text} {
		if strings.Contains(s, "Pa55word") || strings.Contains(s, "TopSecretValue") {
			t.Errorf("a secret is printed:\n%s", s)
		}
	}
	if !strings.Contains(text, "BULKINVITE_RATE") || !strings.Contains(text, "file") {
		t.Errorf("text output lacks the rate or its source:\n%s", text)
	}
	// An invalid value is shown, named, and a usage error.
	code, text, errOut = run(t, "config", "--rate", "0")
	if code != cli.ExitUsage || !strings.Contains(errOut, "BULKINVITE_RATE") || !strings.Contains(text, "BULKINVITE_RATE") {
		t.Errorf("--rate 0: exit %d, want %d, naming BULKINVITE_RATE; stdout:\n%s\nstderr: %s", code, cli.ExitUsage, text, errOut)
	}
}
