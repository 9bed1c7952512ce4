package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
)

// rawControl is what must never reach a terminal from outside text: ESC starts
// sequences that recolour, move the cursor, retitle the window or worse; BEL rings;
// CR overwrites the line; U+202E reorders what follows; U+009B is a one-byte CSI.
var rawControl = []string{"\x1b", "\x07", "\r", "\u202e", "\u009b"}

func checkNoRawControl(t *testing.T, what, out string) {
	t.Helper()
	for _, c := range rawControl {
		if strings.Contains(out, c) {
			t.Errorf("%s printed a raw %q:\n%q", what, c, out)
		}
	}
}

// TestPlainOutputShowsControlCharactersVisibly: a vendor message or candidate field
// holding terminal escape sequences is printed by the human-readable output of
// deadletter list, status (and --watch) and enqueue with the control characters
// shown as escapes, never raw; the JSON outputs escape them as JSON does.
func TestPlainOutputShowsControlCharactersVisibly(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()

	// A dead letter as a worker would store it: the vendor's message verbatim, and a
	// candidate recorded before its fields were checked as strictly as now.
	res := tb.Import("ctl", pipelinetest.Candidates("ctl", 2), nil)
	vendorMsg := "\x1b[31mInvitation failed\x07\r\n\u202eoverride\u009b2J"
	msgJSON, err := json.Marshal(vendorMsg)
	if err != nil {
		t.Fatal(err)
	}
	cand := payload.Candidate{Email: "ctl-0@example.com", Name: "Eve\x1b]0;owned\x07"}
	now := time.Now()
	_, err = tb.Store.RecordOutcomes(ctx, res.BatchID, pipelinetest.Target, []store.Record{{
		Seq: 0, Outcome: payload.OutcomeDeadLettered, Candidate: cand,
		DeadLetter: &store.DeadLetter{
			ID: store.DeadLetterID(res.BatchID, 0), BatchID: res.BatchID, Reason: payload.ReasonInvitationError,
			Errors:    map[string]json.RawMessage{payload.FieldInvitationErrorMessage: msgJSON},
			Candidate: payload.Candidate{Email: "\x1b[8mctl-0@example.com", Name: cand.Name}, Target: pipelinetest.Target,
			Attempts: 1, FirstFailedAt: now, LastFailedAt: now, LastHTTPStatus: 200, Detail: "detail\x1b[0m",
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.Store.StopAuth(ctx, tb.Key.ID(), tb.Key.Masked(), 403, "key revoked\x1b[2J\x07\u202e\u009b"); err != nil {
		t.Fatal(err)
	}

	r := tb.run(t, "", "deadletter", "list")
	if r.code != 0 {
		t.Fatalf("deadletter list: %d %s", r.code, r.stderr)
	}
	checkNoRawControl(t, "deadletter list", r.stdout+r.stderr)
	for _, want := range []string{`\x1b[8mctl-0@example.com`, `invitation_error_message: \x1b[31mInvitation failed\x07\r\n\u202eoverride\u009b2J`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("deadletter list lacks %q:\n%s", want, r.stdout)
		}
	}

	r = tb.run(t, "", "deadletter", "list", "--json")
	checkNoRawControl(t, "deadletter list --json", r.stdout)
	if !strings.Contains(r.stdout, `\u001b[31mInvitation failed\u0007\r\n`) || !strings.Contains(r.stdout, `"name":"Eve\u001b]0;owned\u0007"`) {
		t.Errorf("deadletter list --json does not escape control characters as JSON does:\n%s", r.stdout)
	}

	r = tb.run(t, "", "status", res.BatchID)
	checkNoRawControl(t, "status", r.stdout+r.stderr)
	if !strings.Contains(r.stdout, `key revoked\x1b[2J\x07`) {
		t.Errorf("status does not show the stop's message:\n%s", r.stdout)
	}
	r = tb.run(t, "", "status", res.BatchID, "--json")
	checkNoRawControl(t, "status --json", r.stdout)

	r = tb.runFor(t, 1500*time.Millisecond, "", "status", res.BatchID, "--watch")
	checkNoRawControl(t, "status --watch", r.stdout+r.stderr)
	if !strings.Contains(r.stderr, `key revoked\x1b[2J\x07`) {
		t.Errorf("status --watch does not show the stop's message:\n%s", r.stderr)
	}

	r = tb.run(t, "", "limits")
	checkNoRawControl(t, "limits", r.stdout+r.stderr)
	if !strings.Contains(r.stdout, `key revoked\x1b[2J\x07`) {
		t.Errorf("limits does not show the stop's message:\n%s", r.stdout)
	}
	r = tb.run(t, "", "resume")
	checkNoRawControl(t, "resume", r.stdout+r.stderr)
	if !strings.Contains(r.stdout, `key revoked\x1b[2J\x07`) {
		t.Errorf("resume does not show the stop's message:\n%s", r.stdout)
	}

	// enqueue: the rejects and the ignored columns come from the file.
	file := writeFile(t, "ctl.csv", "email,name,\"Notes\x1b[8m\"\nann@example.com,\"Ann\x1b[31m\",x\nbob@example.com,Bob,y\n")
	r = tb.run(t, "", "enqueue", file, "--interview-set", sandbox.DemoInterviewSetID)
	if r.code != 0 {
		t.Fatalf("enqueue: %d %s %s", r.code, r.stdout, r.stderr)
	}
	checkNoRawControl(t, "enqueue", r.stdout+r.stderr)
	for _, want := range []string{`ignoring columns: Notes\x1b[8m`, "rejected: line 2: name: contains the control character U+001B at character 4"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("enqueue's stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}
