package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// TestBatchPauseResumeCancel drives `batch pause|resume|cancel` on a batch no
// worker sends: each is idempotent and prints the status (--json in the shape
// of status --json); cancel asks for --yes, saying how many candidates will not
// be sent, and a done batch cannot be cancelled (exit 1, saying so).
func TestBatchPauseResumeCancel(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.Import("steer", pipelinetest.Candidates("steer", 7), nil)
	status := func(args ...string) store.Status {
		t.Helper()
		r := tb.run(t, "", append(args, "--json")...)
		if r.code != cli.ExitOK {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		var st store.Status
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatalf("%v: %v: %s", args, err, r.stdout)
		}
		return st
	}
	for range 2 {
		if st := status("batch", "pause", "steer"); st.State != store.StatePaused || st.Pending != 7 {
			t.Errorf("after pause: %+v, want paused with 7 pending", st)
		}
	}
	for range 2 {
		if st := status("batch", "resume", "steer"); st.State != store.StateQueued {
			t.Errorf("after resume: state %s, want queued", st.State)
		}
	}
	if r := tb.run(t, "", "batch", "cancel", "steer"); r.code != cli.ExitUsage ||
		!strings.Contains(r.stderr, "7 of its 7 candidates have not been sent") || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("cancel without --yes: exit %d, stderr %q; want 2 naming the 7 candidates and --yes", r.code, r.stderr)
	}
	if st := status("status", "steer"); st.State != store.StateQueued {
		t.Errorf("cancel without --yes changed the batch: %+v", st)
	}
	for range 2 {
		st := status("batch", "cancel", "steer", "--yes")
		if st.State != store.StateCancelled || st.Cancelled != 7 || st.Pending != 0 ||
			st.Accepted != st.Invited+st.CVQueued+st.DeadLettered+st.SkippedDuplicate+st.Cancelled+st.Pending {
			t.Errorf("after cancel: %+v, want cancelled, 7 cancelled, nothing pending", st)
		}
	}
	tb.CheckAccounting("steer")
	if r := tb.run(t, "", "batch", "pause", "no-such-batch"); r.code != cli.ExitFailed || !strings.Contains(r.stderr, "not found") {
		t.Errorf("pause of an unknown batch: exit %d, %s", r.code, r.stderr)
	}

	// A done batch.
	tb.StartWorker(pipelinetest.WorkerOptions{})
	file := writeFile(t, "one.csv", "email\none@example.com\n")
	if r := tb.run(t, "", "enqueue", file, "--interview-set", sandbox.DemoInterviewSetID, "--batch-id", "finished", "--wait"); r.code != cli.ExitOK {
		t.Fatalf("enqueue --wait: exit %d: %s", r.code, r.stderr)
	}
	r := tb.run(t, "", "batch", "cancel", "finished", "--yes")
	if r.code != cli.ExitFailed || !strings.Contains(r.stderr, "batch done") || !strings.Contains(r.stderr, "nothing left to cancel") {
		t.Errorf("cancel of a done batch: exit %d, stderr %q; want 1 saying it is done", r.code, r.stderr)
	}
	if st := status("batch", "pause", "finished"); st.State != store.StateDone {
		t.Errorf("pause of a done batch: state %s, want done", st.State)
	}
}
