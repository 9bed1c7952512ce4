package worker_test

import (
	"context"
	"testing"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TestFindAfterSending: after the whole pipeline sent a batch, Find tells of
// an invited candidate the invitation and submission ids the vendor created
// for it, and of a candidate the vendor refused the dead letter's reason and
// message, by email in another letter case and by ATS id, on a single node and
// on a Redis Cluster.
func TestFindAfterSending(t *testing.T) {
	t.Parallel()
	for name, topo := range map[string]string{"single": pipelinetest.Single, "cluster": pipelinetest.Cluster} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := pipelinetest.New(t, pipelinetest.Options{Topology: topo})
			b.StartWorker(pipelinetest.WorkerOptions{})
			alex := payload.Candidate{Email: "Alex@Example.com", Name: "Alex", ATSCandidateID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"}
			refused := payload.Candidate{Email: "sam" + sandbox.TagInvitationError + "@example.com", Name: "Sam"}
			res := b.Import("find-e2e", []payload.Candidate{alex, refused}, nil)
			b.WaitDone(res.BatchID, wait)
			b.CheckAccounting(res.BatchID)

			var sent *sandbox.Invite
			for _, inv := range b.API.Invites() {
				if inv.Email == alex.Email {
					sent = &inv
				}
			}
			if sent == nil || sent.InvitationID == "" {
				t.Fatalf("the sandbox invited %+v, want Alex with an invitation", b.API.Invites())
			}
			ctx := context.Background()
			for _, key := range []store.FindKey{{Email: "alex@example.COM"}, {ATSCandidateID: "0193A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B"}} {
				got, err := b.Store.Find(ctx, key, "")
				if err != nil || len(got) != 1 {
					t.Fatalf("find %+v: %+v, %v; want one", key, got, err)
				}
				f := got[0]
				if f.BatchID != res.BatchID || f.Outcome != payload.OutcomeInvited || f.InvitationID != sent.InvitationID ||
					f.SubmissionID != sent.SubmissionID || f.At == nil || f.LedgerUntil == nil || f.Target != pipelinetest.Target {
					t.Errorf("find %+v: %+v; want invited in %s with the sandbox's ids %s, %s, a time and a ledger block", key, f, res.BatchID, sent.InvitationID, sent.SubmissionID)
				}
			}
			got, err := b.Store.Find(ctx, store.FindKey{Email: refused.Email}, "")
			if err != nil || len(got) != 1 {
				t.Fatalf("find the refused candidate: %+v, %v; want one", got, err)
			}
			if f := got[0]; f.Outcome != payload.OutcomeDeadLettered || f.Reason != payload.ReasonInvitationError ||
				f.Message == "" || f.InvitationID != "" || f.LedgerUntil != nil || f.At == nil {
				t.Errorf("the refused candidate: %+v; want dead-lettered invitation_error with the vendor's message and a time, no ledger block", f)
			}
		})
	}
}
