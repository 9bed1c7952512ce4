package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/cli"
)

// TestEnqueueScheduled: a batch enqueued with --not-before and --send-window
// shows scheduled with its start time, its window (canonical) and the window's
// next opening, in plain text and in --json.
func TestEnqueueScheduled(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	file := writeFile(t, "c.csv", csvFile)
	before := time.Now()
	r := tb.run(t, "", "enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--batch-id", "later",
		"--not-before", "2h", "--send-window", "mon-sun 00:00-24:00 Europe/Berlin")
	if r.code != cli.ExitOK {
		t.Fatalf("enqueue: exit %d: %s", r.code, r.stderr)
	}
	r = tb.run(t, "", "status", "later", "--json")
	var s struct {
		State      string    `json:"state"`
		NotBefore  time.Time `json:"not_before"`
		SendWindow string    `json:"send_window"`
		NextWindow time.Time `json:"next_window"`
		Invited    int64     `json:"invited"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("status --json: %v: %s", err, r.stdout)
	}
	start := before.Add(2 * time.Hour)
	if s.State != "scheduled" || s.NotBefore.Before(start.Add(-time.Second)) || s.NotBefore.After(start.Add(time.Minute)) ||
		s.SendWindow != "00:00-24:00 Europe/Berlin" || !s.NextWindow.Equal(s.NotBefore) || s.Invited != 0 {
		t.Errorf("status --json: %s; want scheduled, not_before about 2h from now, the window canonical and opening then", r.stdout)
	}
	r = tb.run(t, "", "status", "later")
	for _, want := range []string{"batch later: scheduled", "not before        " + s.NotBefore.Format(time.RFC3339), "send window       00:00-24:00 Europe/Berlin"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
}
