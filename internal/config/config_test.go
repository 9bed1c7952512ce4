package config

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/bulkinvite/bulkinvite/internal/auth"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte("rate: 7\nburst: 3\nchunk_size: 20\nretry_max: 1m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	registerAll(fs)
	if err := fs.Parse([]string{"--rate", "9"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Sources{File: file, Flags: fs, Getenv: envMap(map[string]string{
		"BULKINVITE_RATE":  "8",
		"BULKINVITE_BURST": "4",
	})})
	if err != nil {
		t.Fatal(err)
	}
	if c.Rate != 9 {
		t.Errorf("rate = %v, want the flag's 9", c.Rate)
	}
	if c.Burst != 4 {
		t.Errorf("burst = %v, want the env's 4", c.Burst)
	}
	if c.ChunkSize != 20 || c.RetryMax != time.Minute {
		t.Errorf("chunk_size, retry_max = %v, %v, want the file's 20, 1m", c.ChunkSize, c.RetryMax)
	}
	if c.Concurrency != Default().Concurrency {
		t.Errorf("concurrency = %v, want the default", c.Concurrency)
	}
}

// TestEveryContractEnvName checks that each contract env name (docs/architecture.md,
// "The contract") is read.
func TestEveryContractEnvName(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"REDIS_URL":                      "redis://10.0.0.1:6380/2",
		"FLOWMINGO_API_URL":              "http://127.0.0.1:9",
		"FLOWMINGO_API_KEY":              "fl_live_abc.secretsecret",
		"BULKINVITE_RATE":                "12.5",
		"BULKINVITE_BURST":               "6",
		"BULKINVITE_CHUNK_SIZE":          "25",
		"BULKINVITE_CONCURRENCY":         "3",
		"BULKINVITE_MAX_ATTEMPTS":        "4",
		"BULKINVITE_RETRY_MIN":           "1s",
		"BULKINVITE_RETRY_MAX":           "10s",
		"BULKINVITE_ON_UNKNOWN":          "deadletter",
		"BULKINVITE_RETRY_SAFE_STATUSES": "503, 504",
		"BULKINVITE_LEDGER_TTL":          "24h",
		"BULKINVITE_QUEUE_WEIGHTS":       "default=1,bulk=1,replay=1",
		"BULKINVITE_SHUTDOWN_TIMEOUT":    "5s",

		"BULKINVITE_TASK_CHECK_INTERVAL":         "250ms",
		"BULKINVITE_DELAYED_TASK_CHECK_INTERVAL": "2s",

		"BULKINVITE_BATCH_RETENTION":     "48h",
		"BULKINVITE_REDIS_WAIT_REPLICAS": "1",
	}
	c, err := Load(Sources{Getenv: envMap(env)})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		RedisURL: "redis://10.0.0.1:6380/2", APIURL: "http://127.0.0.1:9", Rate: 12.5, Burst: 6, ChunkSize: 25,
		Concurrency: 3, MaxAttempts: 4, RetryMin: time.Second, RetryMax: 10 * time.Second, OnUnknown: "deadletter",
		RetrySafeStatuses: "503, 504",
		LedgerTTL:         24 * time.Hour, ShutdownTimeout: 5 * time.Second, BatchRetention: 48 * time.Hour, RedisWaitReplicas: 1,
		TaskCheckInterval: 250 * time.Millisecond, DelayedTaskCheckInterval: 2 * time.Second,
	}
	got := Config{
		RedisURL: c.RedisURL, APIURL: c.APIURL, Rate: c.Rate, Burst: c.Burst, ChunkSize: c.ChunkSize,
		Concurrency: c.Concurrency, MaxAttempts: c.MaxAttempts, RetryMin: c.RetryMin, RetryMax: c.RetryMax, OnUnknown: c.OnUnknown,
		RetrySafeStatuses: c.RetrySafeStatuses,
		LedgerTTL:         c.LedgerTTL, ShutdownTimeout: c.ShutdownTimeout, BatchRetention: c.BatchRetention, RedisWaitReplicas: c.RedisWaitReplicas,
		TaskCheckInterval: c.TaskCheckInterval, DelayedTaskCheckInterval: c.DelayedTaskCheckInterval,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if c.APIKey.Reveal() != "fl_live_abc.secretsecret" {
		t.Errorf("API key not read from FLOWMINGO_API_KEY")
	}
}

func TestAPIKeyFile(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(f, []byte("fl_live_file.secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Sources{Getenv: envMap(map[string]string{"FLOWMINGO_API_KEY_FILE": f})})
	if err != nil {
		t.Fatal(err)
	}
	if c.APIKey.Reveal() != "fl_live_file.secret" {
		t.Errorf("key from file = %s", c.APIKey)
	}
	if err := c.RequireAPIKey(); err != nil {
		t.Errorf("RequireAPIKey: %v", err)
	}
}

func TestAPIKeyPrecedence(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(f, []byte("fl_live_fromfile.secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := envMap(map[string]string{"FLOWMINGO_API_KEY": "fl_live_fromenv.secret", "FLOWMINGO_API_KEY_FILE": f})
	c, err := Load(Sources{Getenv: env})
	if err != nil {
		t.Fatal(err)
	}
	if c.APIKey.Reveal() != "fl_live_fromenv.secret" {
		t.Errorf("env key should win over a key file from env: got %s", c.APIKey)
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	registerAll(fs)
	if err := fs.Parse([]string{"--api-key-file", f}); err != nil {
		t.Fatal(err)
	}
	if c, err = Load(Sources{Getenv: env, Flags: fs}); err != nil {
		t.Fatal(err)
	}
	if c.APIKey.Reveal() != "fl_live_fromfile.secret" {
		t.Errorf("--api-key-file should win over the env key: got %s", c.APIKey)
	}
}

func TestLoadErrorsNameTheSetting(t *testing.T) {
	t.Parallel()
	yamlFile := func(body string) string {
		f := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	tests := []struct {
		name string
		src  Sources
		want string
	}{
		{"bad number in env", Sources{Getenv: envMap(map[string]string{"BULKINVITE_RATE": "fast"})}, "BULKINVITE_RATE"},
		{"zero rate", Sources{Getenv: envMap(map[string]string{"BULKINVITE_RATE": "0"})}, "BULKINVITE_RATE"},
		{"bad duration", Sources{Getenv: envMap(map[string]string{"BULKINVITE_RETRY_MIN": "5"})}, "BULKINVITE_RETRY_MIN"},
		{"max below min", Sources{Getenv: envMap(map[string]string{"BULKINVITE_RETRY_MIN": "1m", "BULKINVITE_RETRY_MAX": "1s"})}, "BULKINVITE_RETRY_MAX"},
		{"bad on_unknown", Sources{Getenv: envMap(map[string]string{"BULKINVITE_ON_UNKNOWN": "maybe"})}, "BULKINVITE_ON_UNKNOWN"},
		{"retry-safe 4xx", Sources{Getenv: envMap(map[string]string{"BULKINVITE_RETRY_SAFE_STATUSES": "503,429"})}, "BULKINVITE_RETRY_SAFE_STATUSES"},
		{"chunk too big", Sources{Getenv: envMap(map[string]string{"BULKINVITE_CHUNK_SIZE": "501"})}, "BULKINVITE_CHUNK_SIZE"},
		{"bad redis url", Sources{Getenv: envMap(map[string]string{"REDIS_URL": "mysql://x"})}, "REDIS_URL"},
		{"unknown file key", Sources{File: yamlFile("rat: 5\n")}, `unknown setting "rat"`},
		{"key in file", Sources{File: yamlFile("api_key: fl_live_x.y\n")}, "api_key"},
		{"bad file value", Sources{File: yamlFile("burst: many\n")}, "burst"},
		{"missing file", Sources{File: "/nonexistent/bulkinvite.yaml"}, "config file"},
		{"chunk over the candidates cap", Sources{Getenv: envMap(map[string]string{"BULKINVITE_CANDIDATES_PER_MINUTE": "20", "BULKINVITE_CHUNK_SIZE": "50"})}, "BULKINVITE_CHUNK_SIZE"},
		{"bad queue weights", Sources{Getenv: envMap(map[string]string{"BULKINVITE_QUEUE_WEIGHTS": "default=1"})}, "BULKINVITE_QUEUE_WEIGHTS"},
		{"hash tag in the prefix", Sources{Getenv: envMap(map[string]string{"BULKINVITE_PREFIX": "{bulkinvite}:"})}, "BULKINVITE_PREFIX: must not contain { or }"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(tt.src)
			if err == nil {
				t.Fatalf("Load succeeded, want an error naming %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

func TestExampleConfigLoads(t *testing.T) {
	t.Parallel()
	c, err := Load(Sources{File: "../../configs/bulkinvite.example.yaml", Getenv: envMap(nil)})
	if err != nil {
		t.Fatalf("the documented example does not load: %v", err)
	}
	d := Default()
	d.APIKey, c.APIKey = c.APIKey, d.APIKey
	if c.Rate != d.Rate || c.ChunkSize != d.ChunkSize || c.LedgerTTL != d.LedgerTTL || c.QueueWeights != d.QueueWeights ||
		c.BatchRetention != d.BatchRetention || c.RedisWaitReplicas != d.RedisWaitReplicas {
		t.Errorf("the example's values differ from the defaults it documents: %+v", c)
	}
}

// TestEverySettingHasAnExampleLine keeps the example file in step with the table.
func TestEverySettingHasAnExampleLine(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../configs/bulkinvite.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Settings() {
		if !strings.Contains(string(b), s.Key+":") || !strings.Contains(string(b), s.Env) {
			t.Errorf("configs/bulkinvite.example.yaml does not document %s (%s)", s.Key, s.Env)
		}
	}
}

// TestTokensAndCallbackSecret: the service tokens and the callback key are read
// like the API key: from their environment variable, or from a file the
// environment, a flag or the config file names; a tokens file holds one a line
// with comments.
func TestTokensAndCallbackSecret(t *testing.T) {
	t.Parallel()
	const (
		tokA = "tok-a-0123456789abcdef0123456789abcdef"
		tokB = "tok-b-0123456789abcdef0123456789abcdef"
		tokC = "tok-c-0123456789abcdef0123456789abcdef"
	)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("# ops\n"+tokA+"\n\n "+tokB+"  # the dashboard\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yamlFile := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(yamlFile, []byte("# serve's tokens\ntokens:\n  - name: ats\n    scopes: [submit, read]\n    secret_sha256: "+
		hex.EncodeToString(sha(tokA))+"\n  - name: ops\n    scopes: [operate]\n    secret: "+tokB+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bare := func(ts ...string) string {
		var out []string
		for _, t := range ts {
			out = append(out, auth.BareName(t)+"=admin!")
		}
		return strings.Join(out, " ")
	}
	tests := []struct {
		name       string
		env        map[string]string
		wantTokens string // name=scope+scope, "!" when unscoped
		wantSecret string
	}{
		{"nothing", nil, "", ""},
		{"env", map[string]string{"BULKINVITE_TOKENS": tokA + ", " + tokB + " ,," + tokC, "BULKINVITE_CALLBACK_SECRET": "s3"}, bare(tokA, tokB, tokC), "s3"},
		{"files", map[string]string{"BULKINVITE_TOKENS_FILE": tokens, "BULKINVITE_CALLBACK_SECRET_FILE": secret}, bare(tokA, tokB), "from-file"},
		{"env wins over a file from env", map[string]string{"BULKINVITE_TOKENS": tokC, "BULKINVITE_TOKENS_FILE": tokens}, bare(tokC), ""},
		// "#" starts a comment in the file only: in the environment it is part of the token.
		{"# in an env token", map[string]string{"BULKINVITE_TOKENS": "short#rest-0123456789abcdef0123456789"}, bare("short#rest-0123456789abcdef0123456789"), ""},
		{"named in env", map[string]string{"BULKINVITE_TOKENS": "ats:submit+read:" + tokA + ",admin.ops:admin:" + tokB + "," + tokC}, "ats=submit+read admin.ops=admin " + bare(tokC), ""},
		{"YAML file", map[string]string{"BULKINVITE_TOKENS_FILE": yamlFile}, "ats=submit+read ops=operate", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(Sources{Getenv: envMap(tt.env)})
			if err != nil {
				t.Fatal(err)
			}
			if got := tokenList(c.Tokens); got != tt.wantTokens || c.CallbackSecret != tt.wantSecret {
				t.Errorf("tokens %q secret %q, want %q %q", got, c.CallbackSecret, tt.wantTokens, tt.wantSecret)
			}
		})
	}
}

func sha(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// tokenList shows tokens as name=scope+scope, "!" after an unscoped one.
func tokenList(toks []auth.Token) string {
	var out []string
	for _, t := range toks {
		var sc []string
		for _, s := range t.Scopes {
			sc = append(sc, string(s))
		}
		e := t.Name + "=" + strings.Join(sc, "+")
		if t.Unscoped {
			e += "!"
		}
		out = append(out, e)
	}
	return strings.Join(out, " ")
}

// TestShortTokensRefused: a token shorter than 32 characters stops Load, which
// names its place (position in BULKINVITE_TOKENS, line of the file) and its
// length, never the token.
func TestShortTokensRefused(t *testing.T) {
	t.Parallel()
	const long = "tok-0123456789abcdef0123456789abcdef"
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("# ops\n"+long+"\n\nQz7short # old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yamlFile := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(yamlFile, []byte("tokens:\n  - {name: a, scopes: [read], secret: "+long+"}\n  - {name: b, scopes: [read], secret: Qz7short}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, short string
		env         map[string]string
		want        string
	}{
		{"one character", "Q", map[string]string{"BULKINVITE_TOKENS": long + ",Q," + long}, "BULKINVITE_TOKENS: token 2 of 3: secret is 1 characters; at least 32"},
		{"31 characters", long[:31], map[string]string{"BULKINVITE_TOKENS": long[:31]}, "BULKINVITE_TOKENS: token 1 of 1: secret is 31 characters; at least 32"},
		{"a line of the file", "Qz7short", map[string]string{"BULKINVITE_TOKENS_FILE": file}, "BULKINVITE_TOKENS_FILE line 4: token is 8 characters; at least 32"},
		{"an entry of a YAML file", "Qz7short", map[string]string{"BULKINVITE_TOKENS_FILE": yamlFile}, "BULKINVITE_TOKENS_FILE token 2 of 2: b: secret is 8 characters; at least 32"},
		{"a named env entry", "Qz7short", map[string]string{"BULKINVITE_TOKENS": "a:read:Qz7short"}, "BULKINVITE_TOKENS: token 1 of 1: a: secret is 8 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(Sources{Getenv: envMap(tt.env)})
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), tt.short) {
				t.Errorf("got %v, want %q without the token", err, tt.want)
			}
		})
	}
}

// registerAll adds --config and the flag of every setting to fs.
func registerAll(fs *pflag.FlagSet) {
	var keys []string
	for _, s := range Settings() {
		keys = append(keys, s.Key)
	}
	RegisterSettingFlags(fs, keys)
}
