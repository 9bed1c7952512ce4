package worker_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/worker"
)

// refusingVendor answers every request with a 422 built by refuse, counting the
// requests and the candidates they carried.
type refusingVendor struct {
	refuse func(req *payload.InviteRequest) error

	mu       sync.Mutex
	requests int
}

var _ worker.Sender = (*refusingVendor)(nil)

func (v *refusingVendor) Invite(_ context.Context, req *payload.InviteRequest) ([]flowmingo.CandidateResult, error) {
	v.mu.Lock()
	v.requests++
	v.mu.Unlock()
	return nil, v.refuse(req)
}

func (v *refusingVendor) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.requests
}

// TestValidationRefusedAsAWhole: a 422 that no part of the chunk can pass is not
// split down to single candidates (99 requests for a chunk of 50): a body naming
// only request fields is dead-lettered at once, and one naming nothing is split
// within a bounded number of requests.
func TestValidationRefusedAsAWhole(t *testing.T) {
	t.Parallel()
	const n = 50
	for _, tc := range []struct {
		name        string
		verr        flowmingo.ValidationError
		maxRequests int
		detail      string
	}{
		{"request field", flowmingo.ValidationError{StatusCode: 422, Message: "invitation_message too long",
			Fields: []flowmingo.FieldError{{Field: "invitation_message", Candidate: -1, Message: "too long"}}}, 1, "refused the request as a whole"},
		{"no fields", flowmingo.ValidationError{StatusCode: 422, Message: "unprocessable"}, 1 + 24, "requests spent splitting it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := pipelinetest.New(t, pipelinetest.Options{})
			vendor := &refusingVendor{refuse: func(*payload.InviteRequest) error { e := tc.verr; return &e }}
			b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: n}, Sender: vendor})
			res := b.Import("whole-"+strings.ReplaceAll(tc.name, " ", "-"), pipelinetest.Candidates("whole", n), nil)
			bt := b.WaitDone(res.BatchID, wait)
			b.CheckAccounting(res.BatchID)
			if bt.DeadLettered != n {
				t.Fatalf("status %+v, want all %d dead-lettered", bt.Status(), n)
			}
			if got := vendor.count(); got > tc.maxRequests {
				t.Errorf("%d requests, want at most %d", got, tc.maxRequests)
			}
			for email, d := range b.DeadLetters(res.BatchID) {
				if d.Reason != payload.ReasonValidation || !strings.Contains(string(d.Errors[payload.FieldErrorMessage]), tc.detail) {
					t.Errorf("%s: %s %s", email, d.Reason, d.Errors[payload.FieldErrorMessage])
					break
				}
			}
			t.Logf("%d requests for a chunk of %d", vendor.count(), n)
		})
	}
}

// TestTooLargeIsSplit: a 413 is not retried as transient until
// retries_exhausted: the chunk is halved until its requests fit.
func TestTooLargeIsSplit(t *testing.T) {
	t.Parallel()
	const n = 40
	b := pipelinetest.New(t, pipelinetest.Options{Sandbox: sandbox.Config{MaxBodyBytes: 1200}})
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: n, MaxAttempts: 2}})
	res := b.Import("too-large", pipelinetest.Candidates("big", n), nil)
	bt := b.WaitDone(res.BatchID, wait)
	b.CheckAccounting(res.BatchID)
	st := b.API.Stats()
	if bt.Invited != n || st.DuplicateInvites != 0 {
		t.Fatalf("status %+v, sandbox %+v: want all %d invited", bt.Status(), st, n)
	}
	if st.ByStatus[413] == 0 {
		t.Errorf("the sandbox never answered 413: the test no longer sends a too-large request (%+v)", st)
	}
	t.Logf("%d requests, %d answered 413", st.Requests, st.ByStatus[413])
}
