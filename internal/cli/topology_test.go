package cli_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
)

// TestRedisCluster drives the command line against a Redis Cluster reached by one
// node's plain redis:// URL, as an operator would first try it: the cluster is
// detected, so nothing meets a MOVED; and where a MOVED still comes (a user who may not run
// INFO, so no detection), the worker stops with the fix instead of looping.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := redistest.StartCluster(t, redistest.ClusterOptions{})
	noInfo := c.ACLUser("noinfo", "pw", "-info")

	tests := []struct {
		name string
		url  string
		args []string
		code int
		want []string
	}{
		{"status", c.URL(), []string{"status", "x"}, cli.ExitFailed, []string{"not found"}},
		{"deadletter list", c.URL(), []string{"deadletter", "list"}, cli.ExitOK, nil},
		{"worker", c.URL(), []string{"worker"}, cli.ExitOK, []string{"worker started"}},
		{"worker on a MOVED", noInfo, []string{"worker"}, cli.ExitFailed, []string{"MOVED", "single-node", "?addr="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range tb.env {
				env[k] = v
			}
			env["REDIS_URL"] = tt.url
			// The worker runs until the deadline; the other commands end at once.
			r := (&testBundle{env: env}).runFor(t, 5*time.Second, "", tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout %s\nstderr %s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout+r.stderr, w) {
					t.Errorf("output lacks %q:\nstdout %s\nstderr %s", w, r.stdout, r.stderr)
				}
			}
			if tt.code == cli.ExitOK && strings.Contains(r.stderr, "MOVED") {
				t.Errorf("a MOVED reached the output:\n%s", r.stderr)
			}
		})
	}
}
