package cli_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/worker"
)

// losingVendor passes every request to the sandbox, then loses the reply of those
// holding a candidate whose email starts with "lost": the vendor acted, the worker
// saw a 504.
type losingVendor struct{ next worker.Sender }

var _ worker.Sender = (*losingVendor)(nil)

func (v *losingVendor) Invite(ctx context.Context, req *payload.InviteRequest) ([]flowmingo.CandidateResult, error) {
	res, err := v.next.Invite(ctx, req)
	for _, c := range req.Candidates {
		if strings.HasPrefix(c.Email, "lost") {
			return nil, &flowmingo.TransientError{StatusCode: 504, Ambiguous: true}
		}
	}
	return res, err
}

// TestEnqueueRefusesAnExpiredBatchID: in at-most-once mode, a batch whose reply
// for one candidate was lost (dead-lettered unknown_outcome) is done and expires
// (BULKINVITE_BATCH_RETENTION). The same --batch-id again, with the same file or
// another, is a usage error saying when the id was used: it neither sends the
// unknown candidate again nor overwrites its dead letter.
func TestEnqueueRefusesAnExpiredBatchID(t *testing.T) {
	t.Parallel()
	const retention = time.Second
	tb := &testBundle{Bundle: pipelinetest.New(t, pipelinetest.Options{Store: store.Config{Retention: retention}})}
	tb.env = map[string]string{
		"REDIS_URL":                  tb.Redis.URL(),
		"FLOWMINGO_API_URL":          tb.API.URL,
		"FLOWMINGO_API_KEY":          sandbox.DefaultKey,
		"BULKINVITE_LOG_FORMAT":      "json",
		"BULKINVITE_BATCH_RETENTION": retention.String(),
	}
	client, err := flowmingo.New(flowmingo.Config{BaseURL: tb.API.URL, Key: tb.Key, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tb.StartWorker(pipelinetest.WorkerOptions{
		Worker: worker.Config{ChunkSize: 1, OnUnknown: worker.OnUnknownDeadLetter},
		Sender: &losingVendor{next: client},
	})
	is := sandbox.DemoInterviewSetID
	ctx := context.Background()
	// Two batches, each with one candidate dead-lettered unknown_outcome; each id
	// is reused once expired: "same" with the same file, "other" with another.
	runs := []struct{ id, first, again, lost string }{
		{"same", "email\nann@example.com\nlost-a@example.com\n", "", "lost-a@example.com"},
		{"other", "email\nbob@example.com\nlost-b@example.com\n", "email\ncid@example.com\nlost-c@example.com\n", "lost-b@example.com"},
	}
	files := map[string][2]string{}
	for _, run := range runs {
		first := writeFile(t, run.id+".csv", run.first)
		again := first
		if run.again != "" {
			again = writeFile(t, run.id+"-again.csv", run.again)
		}
		files[run.id] = [2]string{first, again}
		r := tb.run(t, "", "enqueue", first, "--interview-set", is, "--batch-id", run.id, "--wait")
		if r.code != cli.ExitDeadLettered {
			t.Fatalf("first run of %s: exit %d, want 3\n%s\n%s", run.id, r.code, r.stdout, r.stderr)
		}
	}
	before := tb.API.Stats()
	if before.Invites != 4 || before.DuplicateInvites != 0 {
		t.Fatalf("the vendor made %d invites (%d duplicates), want 4 (two replies lost)", before.Invites, before.DuplicateInvites)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, run := range runs {
		for _, err := tb.Store.Batch(ctx, run.id); !errors.Is(err, store.ErrBatchExpired); _, err = tb.Store.Batch(ctx, run.id) {
			if time.Now().After(deadline) {
				t.Fatalf("batch %s never expired: %v", run.id, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	for _, run := range runs {
		if r := tb.run(t, "", "status", run.id); r.code != cli.ExitFailed || !strings.Contains(r.stderr, "batch expired: "+run.id) ||
			!strings.Contains(r.stderr, "bulkinvite deadletter list --batch "+run.id) {
			t.Errorf("status of %s after it expired: exit %d, want 1 saying it expired and where its dead letters are\n%s", run.id, r.code, r.stderr)
		}
		if r := tb.run(t, "", "status", run.id, "--rejects"); r.code != cli.ExitFailed || !strings.Contains(r.stderr, "batch expired: "+run.id) {
			t.Errorf("status --rejects of %s after it expired: exit %d, want 1 saying it expired\n%s", run.id, r.code, r.stderr)
		}
		r := tb.run(t, "", "enqueue", files[run.id][1], "--interview-set", is, "--batch-id", run.id, "--wait")
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "batch id "+run.id+" was used on ") || !strings.Contains(r.stderr, "new --batch-id") {
			t.Errorf("re-run of %s after it expired: exit %d, want 2 saying when the id was used and that a new one is needed\n%s\n%s",
				run.id, r.code, r.stdout, r.stderr)
		}
		dls := tb.DeadLetters(run.id)
		if d := dls[run.lost]; len(dls) != 1 || d == nil || d.Reason != payload.ReasonUnknownOutcome {
			t.Errorf("dead letters of %s: %v, want %s's unknown_outcome alone", run.id, keys(dls), run.lost)
		}
	}
	if st := tb.API.Stats(); st.Invites != before.Invites || st.DuplicateInvites != 0 {
		t.Errorf("the vendor got %d more invites (%d duplicates) after the ids were reused; want none",
			st.Invites-before.Invites, st.DuplicateInvites)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
