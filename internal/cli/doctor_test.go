package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
)

// TestDoctorExitsByWhatItFinds runs `doctor` against the sandbox and a Redis
// set up well (AOF fsynced on each write, noeviction, a replica for WAIT): it
// exits 0; against one without AOF and with an eviction policy it exits 1 and
// prints each failure's fix.
func TestDoctorExitsByWhatItFinds(t *testing.T) {
	t.Parallel()
	api, err := sandbox.Start(sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Close() })
	goodRedis := redistest.Start(t, redistest.Options{AppendOnly: true})
	if err := goodRedis.Client().ConfigSet(t.Context(), "maxmemory", "200mb").Err(); err != nil {
		t.Fatal(err)
	}
	goodRedis.StartReplica()
	badRedis := redistest.Start(t, redistest.Options{})
	if err := badRedis.Client().ConfigSet(t.Context(), "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		redisURL string
		wait     string
		code     int
		want     []string
	}{
		{"good", goodRedis.URL(), "1", cli.ExitOK, []string{"OK    persistence", "OK    replicas", "OK    api ", "0 failed"}},
		{"bad", badRedis.URL(), "0", cli.ExitFailed, []string{"FAIL  persistence", "fix: on every master: CONFIG SET appendonly yes",
			"FAIL  maxmemory", "fix: on every master: CONFIG SET maxmemory-policy noeviction", "2 failed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{
				"REDIS_URL":                      tc.redisURL,
				"BULKINVITE_REDIS_WAIT_REPLICAS": tc.wait,
				"FLOWMINGO_API_URL":              api.URL,
				"FLOWMINGO_API_KEY":              sandbox.DefaultKey,
				"BULKINVITE_LOG_FORMAT":          "json",
			}
			run := func(args ...string) (int, string, string) {
				var out, errb strings.Builder
				code := cli.Run(t.Context(), args, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }})
				return code, out.String(), errb.String()
			}
			code, out, errOut := run("doctor")
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			code, out, _ = run("doctor", "--json")
			var rep struct {
				OK     bool `json:"ok"`
				Checks []struct{ Name, Status, Fix string }
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if code != tc.code || rep.OK != (tc.code == cli.ExitOK) || len(rep.Checks) < 12 {
				t.Errorf("--json: exit %d, ok %v, %d checks; want exit %d and every check", code, rep.OK, len(rep.Checks), tc.code)
			}
		})
	}
}
