package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TestFindCandidates: GET /v1/candidates finds a person by email in another
// letter case or by ATS id in every batch that held them, with the vendor's
// invitation id and the dead letter's reason, in the documented shape; someone
// in no batch is an empty list.
func TestFindCandidates(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	tb.StartWorker(pipelinetest.WorkerOptions{})
	body := `{"com_interview_set_id":"` + sandbox.DemoInterviewSetID + `","batch_id":"fc-1","candidates":[` +
		`{"email":"Dana@Example.com","ats_candidate_id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"},{"email":"eli+invitation_error@example.com"}]}`
	if rec := tb.do(t, req{method: http.MethodPost, target: "/v1/batches", body: body}); rec.Code != http.StatusAccepted {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	tb.WaitDone("fc-1", 30*time.Second)
	inv := ""
	for _, i := range tb.API.Invites() {
		if i.Email == "Dana@Example.com" {
			inv = i.InvitationID
		}
	}
	for _, q := range []string{"email=dana%40example.COM", "ats_candidate_id=0193A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B"} {
		var l httpapi.CandidateList
		decode(t, tb.do(t, req{method: http.MethodGet, target: "/v1/candidates?" + q}), &l)
		if len(l.Candidates) != 1 || inv == "" || l.Candidates[0].InvitationID != inv || l.Candidates[0].Outcome != payload.OutcomeInvited || l.Candidates[0].BatchID != "fc-1" {
			t.Errorf("%s: %+v, want invited in fc-1 with the sandbox's invitation %s", q, l.Candidates, inv)
		}
	}
	var l httpapi.CandidateList
	decode(t, tb.do(t, req{method: http.MethodGet, target: "/v1/candidates?email=eli%2Binvitation_error%40example.com"}), &l)
	if len(l.Candidates) != 1 || l.Candidates[0].Reason != payload.ReasonInvitationError || l.Candidates[0].Message == "" {
		t.Errorf("the refused one: %+v", l.Candidates)
	}
	rec := tb.do(t, req{method: http.MethodGet, target: "/v1/candidates?email=nobody%40example.com"})
	if rec.Code != http.StatusOK || rec.Body.String() != "{\"candidates\":[]}\n" {
		t.Errorf("nobody: %d %q", rec.Code, rec.Body)
	}
}
