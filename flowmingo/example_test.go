package flowmingo_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/payload"
)

func ExampleClient_Invite() {
	// A stand-in for the vendor: it invites the first candidate and reports that the
	// second one was invited before.
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"results":[
			{"email_address":"alex@example.com","invitation":{"id":"019c5eb3-fb50-707b-9833-0862efa4b275","email":"alex@example.com","status_text":"pending"}},
			{"email_address":"sam@example.com","invitation_error_message":"Candidate already invited"}]}`)
	}))
	defer vendor.Close()

	client, err := flowmingo.New(flowmingo.Config{
		BaseURL: vendor.URL, // default: flowmingo.DefaultBaseURL
		Key:     flowmingo.NewAPIKey("fl_live_abcd12345.n8G3zPNw9gWkK1Kj"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	req := &payload.InviteRequest{
		ComInterviewSetID: "019c5ea9-a792-7f0d-b671-4c3c1602094e",
		Candidates: []payload.Candidate{
			{Name: "Alex Doe", Email: "alex@example.com"},
			{Name: "Sam Roe", Email: "sam@example.com"},
		},
	}
	results, err := client.Invite(context.Background(), req)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, r := range results {
		switch r.Kind {
		case flowmingo.Invited, flowmingo.CVQueued:
			fmt.Printf("%s: %s (invitation %s)\n", req.Candidates[i].Email, r.Kind, r.Result.Invitation.StatusText)
		case flowmingo.Failed:
			fmt.Printf("%s: %s, dead-letter as %s with %s\n", req.Candidates[i].Email, r.Kind, r.Reason, r.Errors[payload.FieldInvitationErrorMessage])
		case flowmingo.Unknown:
			fmt.Printf("%s: %s: %s\n", req.Candidates[i].Email, r.Kind, r.Detail)
		}
	}
	// Output:
	// alex@example.com: invited (invitation pending)
	// sam@example.com: failed, dead-letter as invitation_error with "Candidate already invited"
}

func ExampleRateLimitError() {
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Retry-After", "30")
		http.Error(w, `{"message":"Too many requests"}`, http.StatusTooManyRequests)
	}))
	defer vendor.Close()

	key := flowmingo.NewAPIKey("fl_live_abcd12345.n8G3zPNw9gWkK1Kj")
	client, err := flowmingo.New(flowmingo.Config{BaseURL: vendor.URL, Key: key})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	_, err = client.Invite(context.Background(), &payload.InviteRequest{
		ComInterviewSetID: "019c5ea9-a792-7f0d-b671-4c3c1602094e",
		Candidates:        []payload.Candidate{{Email: "alex@example.com"}},
	})
	var rl *flowmingo.RateLimitError
	if errors.As(err, &rl) {
		fmt.Println("slow down for", rl.RetryAfter, "-", rl.Message)
	}
	wait, ok := flowmingo.RetryAfter(err)
	fmt.Println(wait, ok, flowmingo.HTTPStatus(err), flowmingo.Ambiguous(err))
	fmt.Println(key) // only ever masked
	// Output:
	// slow down for 30s - Too many requests
	// 30s true 429 false
	// fl_live_abcd12345.****
}
