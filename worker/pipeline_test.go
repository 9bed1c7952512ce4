package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
	"github.com/bulkinvite/bulkinvite/worker"
)

const wait = 60 * time.Second

// TestMixedFile runs a file with good rows, every per-candidate error, CV-only rows,
// invalid rows and duplicates, and checks every count and dead letter.
func TestMixedFile(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{SegmentSize: 7})
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 4}})

	csv := `Email,First Name,CV URL,ATS ID
good1@example.com,A,,
good2@example.com,B,https://cv.example.com/b.pdf,
GOOD1@example.com,A again,,
,CV only,https://cv.example.com/cvonly.pdf,
,CV fails,https://cv.example.com/fail-cv.pdf,
inv+invitation_error@example.com,I,,
app+application_error@example.com,P,,
sub+submission_error@example.com,S,,
gen+error@example.com,G,,
bad@mailer.invalid,V,,
,nothing,,
not-an-email,X,,
good3@example.com,C,http://insecure.example.com/cv.pdf,
good4@example.com,D,,not-a-uuid
good5@example.com,E,,7c0d5c3e-8a4f-4b1e-9d2a-1f3e5a7b9c01
good6@example.com,F,,7C0D5C3E-8A4F-4B1E-9D2A-1F3E5A7B9C01
`
	src, err := producer.NewCSVSource(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	var rejected []string
	res, err := b.Producer.Import(context.Background(), src, producer.Options{
		BatchID: "mixed", Job: task.Job{Target: pipelinetest.Target},
		OnReject: func(r *producer.RowError) { rejected = append(rejected, r.Error()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	wantRejected := []string{"line 12: email", "line 13: email", "line 14: cv_link", "line 15: ats_candidate_id"}
	if len(rejected) != len(wantRejected) {
		t.Fatalf("rejected %q, want %d rows", rejected, len(wantRejected))
	}
	for i, w := range wantRejected {
		if !strings.HasPrefix(rejected[i], w) {
			t.Errorf("reject %d = %q, want it to start %q", i, rejected[i], w)
		}
	}
	bt := b.WaitDone(res.BatchID, wait)
	b.CheckAccounting(res.BatchID)
	got := bt.Status()
	want := store.Status{
		BatchID: "mixed", State: "done", Total: 16, Accepted: 12, Rejected: 4,
		Invited: 3, CVQueued: 1, DeadLettered: 6, SkippedDuplicate: 2, Pending: 0,
	}
	if got.Total != want.Total || got.Accepted != want.Accepted || got.Rejected != want.Rejected ||
		got.Invited != want.Invited || got.CVQueued != want.CVQueued || got.DeadLettered != want.DeadLettered ||
		got.SkippedDuplicate != want.SkippedDuplicate || got.Pending != 0 || got.State != "done" {
		t.Errorf("status\n got %+v\nwant %+v", got, want)
	}
	dls := b.DeadLetters(res.BatchID)
	wantDL := map[string]struct {
		reason payload.Reason
		field  string
	}{
		"inv+invitation_error@example.com":   {payload.ReasonInvitationError, payload.FieldInvitationErrorMessage},
		"app+application_error@example.com":  {payload.ReasonApplicationError, payload.FieldApplicationErrorMessage},
		"sub+submission_error@example.com":   {payload.ReasonSubmissionError, payload.FieldSubmissionErrorMessage},
		"gen+error@example.com":              {payload.ReasonCandidateError, payload.FieldErrorMessage},
		"https://cv.example.com/fail-cv.pdf": {payload.ReasonCandidateEntryError, payload.FieldCandidateEntryErrorMessage},
		"bad@mailer.invalid":                 {payload.ReasonValidation, payload.FieldErrorMessage},
	}
	if len(dls) != len(wantDL) {
		t.Errorf("dead letters %v, want %d", keys(dls), len(wantDL))
	}
	for who, w := range wantDL {
		d := dls[who]
		if d == nil {
			t.Errorf("no dead letter for %s", who)
			continue
		}
		if d.Reason != w.reason {
			t.Errorf("%s: reason %s, want %s", who, d.Reason, w.reason)
		}
		if len(d.Errors[w.field]) == 0 {
			t.Errorf("%s: errors %s lack %s", who, d.Errors, w.field)
		}
		if d.Target != pipelinetest.Target || d.BatchID != "mixed" || d.Attempts < 1 || d.LastFailedAt.IsZero() {
			t.Errorf("%s: incomplete dead letter %+v", who, d)
		}
	}
	st := b.API.Stats()
	if st.DuplicateInvites != 0 {
		t.Errorf("sandbox saw %d duplicate invites", st.DuplicateInvites)
	}
	for _, e := range []string{"good1@example.com", "good2@example.com", "good5@example.com"} {
		if n := b.API.InviteCount(pipelinetest.Target, e); n != 1 {
			t.Errorf("%s invited %d times, want 1", e, n)
		}
	}
}

// TestTransientStormAndLostReplies: 5xx on half the requests and replies lost
// after the vendor acted. With retry (at-least-once) everyone ends invited; a
// success the worker recorded is never sent again.
func TestTransientStormAndLostReplies(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{Sandbox: sandbox.Config{Seed: 3, Faults: sandbox.Faults{FailRate: 0.4, LostReplyRate: 0.15}}})
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 5, MaxAttempts: 50}})
	res := b.Import("storm", pipelinetest.Candidates("storm", 120), nil)
	bt := b.WaitDone(res.BatchID, wait)
	b.CheckAccounting(res.BatchID)
	if bt.Invited != 120 {
		t.Errorf("invited %d, want 120: %+v", bt.Invited, bt.Status())
	}
	st := b.API.Stats()
	if st.InjectedFailures == 0 || st.LostReplies == 0 {
		t.Fatalf("the faults did not fire: %+v", st)
	}
	// Duplicates can only come from lost replies: each lost reply re-sends at most
	// one chunk's candidates.
	if st.DuplicateInvites > st.LostReplies*5 {
		t.Errorf("%d duplicate invites from %d lost replies of <= 5 candidates", st.DuplicateInvites, st.LostReplies)
	}
}

// TestLostRepliesAtMostOnce: with OnUnknown=deadletter a lost reply dead-letters its
// candidates as unknown_outcome and nobody is invited twice.
func TestLostRepliesAtMostOnce(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{Sandbox: sandbox.Config{Seed: 5, Faults: sandbox.Faults{LostReplyRate: 0.3, LostReplyMode: sandbox.LostReplyTimeout}}})
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 5, OnUnknown: worker.OnUnknownDeadLetter}})
	res := b.Import("amo", pipelinetest.Candidates("amo", 100), nil)
	bt := b.WaitDone(res.BatchID, wait)
	b.CheckAccounting(res.BatchID)
	st := b.API.Stats()
	if st.LostReplies == 0 {
		t.Fatal("no reply was lost")
	}
	if st.DuplicateInvites != 0 {
		t.Errorf("%d duplicate invites at most once", st.DuplicateInvites)
	}
	if bt.DeadLettered == 0 || bt.Invited+bt.DeadLettered != 100 {
		t.Errorf("status %+v", bt.Status())
	}
	for who, d := range b.DeadLetters(res.BatchID) {
		if d.Reason != payload.ReasonUnknownOutcome || d.LastHTTPStatus != 504 {
			t.Errorf("%s: reason %s status %d, want unknown_outcome 504", who, d.Reason, d.LastHTTPStatus)
		}
	}
	// Every dead-lettered candidate was in fact invited by the vendor: that is the
	// ambiguity the operator must check.
	if bt.Invited+bt.DeadLettered != int64(st.Invites) {
		t.Errorf("vendor created %d invites; we recorded %d invited + %d unknown", st.Invites, bt.Invited, bt.DeadLettered)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
