package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TestFind: find prints each kept batch that held the person, in a table or
// one JSON object a line, with the vendor's invitation id of an invited
// candidate and the reason of a refused one; it tells when it found nobody,
// and a key that is neither an email nor a UUID is a usage error.
func TestFind(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.StartWorker(pipelinetest.WorkerOptions{})
	csv := "email,ats_candidate_id\nAnn@Example.com,0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\nbob+invitation_error@example.com,\n"
	r := tb.run(t, "", "enqueue", writeFile(t, "f.csv", csv), "--interview-set", sandbox.DemoInterviewSetID, "--batch-id", "find-cli", "--wait")
	if r.code != cli.ExitDeadLettered {
		t.Fatalf("enqueue --wait: %d %s", r.code, r.stderr)
	}
	inv := ""
	for _, i := range tb.API.Invites() {
		if i.Email == "Ann@Example.com" {
			inv = i.InvitationID
		}
	}

	r = tb.run(t, "", "find", "ann@example.com")
	if r.code != cli.ExitOK || inv == "" || !strings.Contains(r.stdout, "find-cli") || !strings.Contains(r.stdout, "invitation "+inv) || !strings.Contains(r.stdout, "invited") {
		t.Errorf("find: exit %d, want the invitation %s\n%s%s", r.code, inv, r.stdout, r.stderr)
	}
	r = tb.run(t, "", "find", "0193A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B", "--json")
	var f store.Found
	if err := json.Unmarshal([]byte(r.stdout), &f); r.code != cli.ExitOK || err != nil || f.InvitationID != inv || f.Outcome != payload.OutcomeInvited {
		t.Errorf("find ATS id --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	for _, field := range []string{"batch_id", "target", "outcome", "invitation_id", "submission_id", "at", "reason", "ledger_until", "message"} {
		if !strings.Contains(r.stdout, `"`+field+`":`) {
			t.Errorf("find --json has no %s: %s", field, r.stdout)
		}
	}
	r = tb.run(t, "", "find", "BOB+invitation_error@example.com", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &f); err != nil || f.Reason != payload.ReasonInvitationError || f.Message == "" {
		t.Errorf("find the refused one: %+v %v\n%s", f, err, r.stderr)
	}
	if r = tb.run(t, "", "find", "nobody@example.com"); r.code != cli.ExitOK || r.stdout != "" || !strings.Contains(r.stderr, "in no kept batch") {
		t.Errorf("find nobody: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if r = tb.run(t, "", "find", "nobody"); r.code != cli.ExitUsage {
		t.Errorf("find a bad key: exit %d, want %d: %s", r.code, cli.ExitUsage, r.stderr)
	}
}
