package payload_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/bulkinvite/bulkinvite/payload"
)

// BenchmarkInviteRequestEncode: the body of one request of 50 candidates.
func BenchmarkInviteRequestEncode(b *testing.B) {
	req := &payload.InviteRequest{InvitationMessage: "Hello {{candidate_name}}, please record your interview."}
	for i := range 50 {
		req.Candidates = append(req.Candidates, payload.Candidate{Email: fmt.Sprintf("candidate%d@example.com", i), Firstname: "First", Lastname: "Last"})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeInviteResponse: the vendor's answer to a request of 50, every
// candidate invited, as the worker reads it (with room for 50 results).
func BenchmarkDecodeInviteResponse(b *testing.B) {
	var resp payload.InviteResponse
	for i := range 50 {
		resp.Results = append(resp.Results, payload.Result{
			EmailAddress: fmt.Sprintf("candidate%d@example.com", i),
			Invitation:   &payload.Invitation{ID: fmt.Sprintf("019c5ec0-0000-7000-8000-%012d", i), Email: fmt.Sprintf("candidate%d@example.com", i), StatusText: "pending"},
			Submission:   &payload.Submission{ID: fmt.Sprintf("019c5ec1-0000-7000-8000-%012d", i), StatusText: "need_interview"},
		})
	}
	body, err := json.Marshal(resp)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := payload.DecodeInviteResponseOf(body, 50); err != nil {
			b.Fatal(err)
		}
	}
}
