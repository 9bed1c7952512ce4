package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/worker"
)

// eventsOf runs status --events --json and decodes its lines.
func eventsOf(t *testing.T, tb *testBundle, id string) []httpapi.Event {
	t.Helper()
	r := tb.run(t, "", "status", id, "--events", "--json")
	if r.code != cli.ExitOK {
		t.Fatalf("status %s --events --json: exit %d\n%s", id, r.code, r.stderr)
	}
	var out []httpapi.Event
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var e httpapi.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if _, err := time.Parse(httpapi.EventTime, e.At); err != nil {
			t.Errorf("event time %q: %v", e.At, err)
		}
		out = append(out, e)
	}
	return out
}

// TestStatusEvents: a batch runs through the pipeline with dead letters; they
// are replayed, and the replay's dead letters purged, all from the CLI.
// status --events tells each batch's story with who did it (cli@<host>): the
// source batch's creation (with its counts) and replay, the replay batch's
// creation (naming its source) and purge.
func TestStatusEvents(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 2}})
	file := writeFile(t, "cands.csv", "email\nann@example.com\ndana+invitation_error@example.com\nerin+invitation_error@example.com\nnot-an-email\n")
	if r := tb.run(t, "", "enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--batch-id", "ev1", "--wait"); r.code != cli.ExitDeadLettered {
		t.Fatalf("enqueue: exit %d, want 3\n%s", r.code, r.stderr)
	}
	r := tb.run(t, "", "deadletter", "replay", "--batch", "ev1")
	replay := strings.TrimSpace(r.stdout)
	if r.code != cli.ExitOK || strings.Count(replay, "\n") != 0 || replay == "" {
		t.Fatalf("replay: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	tb.WaitDone(replay, 30*time.Second)
	if r := tb.run(t, "", "deadletter", "purge", "--batch", replay, "--yes"); r.code != cli.ExitOK || !strings.Contains(r.stdout, "purged 2 dead letters") {
		t.Fatalf("purge: exit %d %s %s", r.code, r.stdout, r.stderr)
	}

	me := auth.AtHost(auth.CLIName)
	tell := func(evs []httpapi.Event) string {
		var lines []string
		for _, e := range evs {
			lines = append(lines, e.What+" | "+e.By+" | "+e.Detail)
		}
		return strings.Join(lines, "\n")
	}
	want := strings.Join([]string{
		"created | " + me + " | source " + file + "; 3 accepted, 1 rejected",
		"replayed | " + me + " | replayed 2 dead letters into batch " + replay,
	}, "\n")
	if got := tell(eventsOf(t, tb, "ev1")); got != want {
		t.Errorf("events of the source batch:\n%s\nwant\n%s", got, want)
	}
	want = strings.Join([]string{
		"created | " + me + " | replay of dead letters of batch ev1; 2 accepted, 0 rejected",
		"purged | " + me + " | purged 2 dead letters",
	}, "\n")
	if got := tell(eventsOf(t, tb, replay)); got != want {
		t.Errorf("events of the replay batch:\n%s\nwant\n%s", got, want)
	}

	// Plain: a line an event, time first.
	r = tb.run(t, "", "status", "ev1", "--events")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != cli.ExitOK || len(lines) != 2 || !strings.Contains(lines[1], "replayed") || !strings.Contains(lines[1], me) ||
		!strings.HasSuffix(lines[1], "replayed 2 dead letters into batch "+replay) {
		t.Errorf("status --events: exit %d\n%s", r.code, r.stdout)
	}
	if _, err := time.Parse(httpapi.EventTime, strings.Fields(lines[0])[0]); err != nil {
		t.Errorf("status --events starts its line with %q: %v", lines[0], err)
	}
	if r := tb.run(t, "", "status", "ev1", "--events", "--rejects"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "only one") {
		t.Errorf("--events --rejects: %d %s", r.code, r.stderr)
	}
	if r := tb.run(t, "", "status", "no-such-batch", "--events"); r.code != cli.ExitFailed || !strings.Contains(r.stderr, "not found") {
		t.Errorf("unknown batch: %d %s", r.code, r.stderr)
	}
}
