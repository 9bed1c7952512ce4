package payload_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/configs"
	"github.com/bulkinvite/bulkinvite/payload"
)

// seedRequest is the vendor's sample request (configs/sample-request.json).
var seedRequest = string(configs.SampleRequestJSON)

// seedResponse is the sample response of the vendor's page, section 3.4.
const seedResponse = `{
  "results": [
    {
      "email_address": "alex@example.com",
      "cv_link": "https://storage.googleapis.com/flowmingo-demo/cv/alex.pdf",
      "invitation": {
        "id": "019c5eb3-fb50-707b-9833-0862efa4b275",
        "email": "alex@example.com",
        "status_text": "pending"
      },
      "submission": {
        "id": "019c5eb4-55ab-76fc-90ec-98930c56a7bd",
        "status_text": "need_interview"
      }
    }
  ]
}`

func TestDecodeInviteRequestSeedSample(t *testing.T) {
	t.Parallel()
	req, err := payload.DecodeInviteRequest([]byte(seedRequest))
	if err != nil {
		t.Fatalf("DecodeInviteRequest(seed) = %v", err)
	}
	if err := payload.ValidateRequest(req); err != nil {
		t.Fatalf("ValidateRequest(seed) = %v", err)
	}
	want := payload.Candidate{Name: "Alex Doe", Email: "alex@example.com", CVLink: "https://storage.googleapis.com/flowmingo-demo/cv/alex.pdf"}
	if len(req.Candidates) != 1 || req.Candidates[0] != want {
		t.Errorf("Candidates = %+v, want [%+v]", req.Candidates, want)
	}
	if got := req.Target(); got != (payload.Target{InterviewSetID: "019c5ea9-a792-7f0d-b671-4c3c1602094e"}) {
		t.Errorf("Target() = %+v", got)
	}
	if req.SendInvite == nil || !*req.SendInvite {
		t.Errorf("SendInvite = %v, want true", req.SendInvite)
	}
	for _, frag := range []string{"{{candidate_name}}", "{{position_name}}", "{{company_name}}", `<a href="{{interview_link}}">`, "\n<p>Thank you.</p>"} {
		if !strings.Contains(req.InvitationMessage, frag) {
			t.Errorf("InvitationMessage lacks %q", frag)
		}
	}
}

func TestDecodeInviteRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		want    *payload.InviteRequest
		wantErr []string // fragments the error must contain
	}{
		{name: "minimal", body: `{"com_project_id":"` + uuidA + `","candidates":[{"email":"a@example.com"}]}`,
			want: &payload.InviteRequest{ComProjectID: uuidA, Candidates: []payload.Candidate{{Email: "a@example.com"}}}},
		{name: "unknown fields tolerated", body: `{"com_project_id":"` + uuidA + `","batch_id":"b1","extra":{"x":[1,2]},"candidates":[{"email":"a@example.com","phone":"+1"}]}`,
			want: &payload.InviteRequest{ComProjectID: uuidA, Candidates: []payload.Candidate{{Email: "a@example.com"}}}},
		{name: "send_invite false kept", body: `{"com_project_id":"` + uuidA + `","candidates":[],"send_invite":false}`,
			want: &payload.InviteRequest{ComProjectID: uuidA, Candidates: []payload.Candidate{}, SendInvite: new(bool)}},
		{name: "nulls are absent", body: `{"com_project_id":null,"candidates":[{"email":null,"cv_link":"https://x.example/cv"}],"send_invite":null}`,
			want: &payload.InviteRequest{Candidates: []payload.Candidate{{CVLink: "https://x.example/cv"}}}},
		{name: "trailing white space", body: `{"candidates":[]}` + " \n\t", want: &payload.InviteRequest{Candidates: []payload.Candidate{}}},

		{name: "empty body", body: ``, wantErr: []string{"invite request", "empty body"}},
		{name: "white space only", body: " \n", wantErr: []string{"empty body"}},
		{name: "malformed", body: `{"candidates":[}`, wantErr: []string{"malformed JSON at offset 16"}},
		{name: "truncated", body: `{"candidates":[{"email":"a@example.com"}`, wantErr: []string{"malformed JSON", "unexpected EOF"}},
		{name: "trailing data", body: `{"candidates":[]} {"candidates":[]}`, wantErr: []string{"unexpected data after the JSON value"}},
		{name: "trailing bracket", body: `{"candidates":[]}]`, wantErr: []string{"unexpected data after the JSON value"}},
		{name: "top-level array", body: `[{"email":"a@example.com"}]`, wantErr: []string{"field (top level)", "got JSON array"}},
		{name: "top-level string", body: `"hello"`, wantErr: []string{"field (top level)", "got JSON string"}},
		{name: "wrong type project id", body: `{"com_project_id":5,"candidates":[]}`, wantErr: []string{"field com_project_id: expected string, got JSON number"}},
		{name: "wrong type send_invite", body: `{"send_invite":"yes","candidates":[]}`, wantErr: []string{"field send_invite: expected bool"}},
		{name: "wrong type candidates", body: `{"candidates":{"email":"a@example.com"}}`, wantErr: []string{"field candidates: expected []payload.Candidate, got JSON object"}},
		{name: "wrong type candidate element", body: `{"candidates":[{"email":"a@example.com"},"b@example.com"]}`, wantErr: []string{"field candidates[1]: expected payload.Candidate, got JSON string"}},
		{name: "wrong type email names index", body: `{"candidates":[{"email":"a@example.com"},{},{"email":true}]}`, wantErr: []string{"field candidates[2].email: expected string, got JSON bool"}},
		{name: "wrong type nested object", body: `{"candidates":[{"name":{"first":"A"}}]}`, wantErr: []string{"field candidates[0].name: expected string, got JSON object"}},
		{name: "wrong type after unknown nested arrays", body: `{"x":[[1,{"a":[2]}],{}],"candidates":[{},{"ats_candidate_id":7}]}`, wantErr: []string{"field candidates[1].ats_candidate_id: expected string, got JSON number"}},
		{name: "wrong type with spaces", body: "{ \"candidates\" : [ { } , { \"cv_link\" :\n 1.5 } ] }", wantErr: []string{"field candidates[1].cv_link: expected string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := payload.DecodeInviteRequest([]byte(tt.body))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("DecodeInviteRequest = %+v, want an error", got)
				}
				for _, frag := range tt.wantErr {
					if !strings.Contains(err.Error(), frag) {
						t.Errorf("error %q lacks %q", err, frag)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeInviteRequest = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeInviteRequest = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeInviteResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		check   func(t *testing.T, r *payload.InviteResponse)
		wantErr []string
	}{
		{name: "seed sample", body: seedResponse, check: func(t *testing.T, r *payload.InviteResponse) {
			if len(r.Results) != 1 {
				t.Fatalf("%d results", len(r.Results))
			}
			res := r.Results[0]
			if res.EmailAddress != "alex@example.com" || res.CVLink != "https://storage.googleapis.com/flowmingo-demo/cv/alex.pdf" {
				t.Errorf("result = %+v", res)
			}
			if res.Invitation == nil || *res.Invitation != (payload.Invitation{ID: "019c5eb3-fb50-707b-9833-0862efa4b275", Email: "alex@example.com", StatusText: "pending"}) {
				t.Errorf("Invitation = %+v", res.Invitation)
			}
			if res.Submission == nil || *res.Submission != (payload.Submission{ID: "019c5eb4-55ab-76fc-90ec-98930c56a7bd", StatusText: "need_interview"}) {
				t.Errorf("Submission = %+v", res.Submission)
			}
			if res.HasError() {
				t.Errorf("HasError() = true, errors %s", res.Errors())
			}
		}},
		{name: "empty results", body: `{"results":[]}`, check: func(t *testing.T, r *payload.InviteResponse) {
			if r.Results == nil || len(r.Results) != 0 {
				t.Errorf("Results = %#v, want empty, not nil", r.Results)
			}
		}},
		{name: "unknown fields tolerated", body: `{"request_id":"r1","results":[{"email_address":"a@example.com","score":9,"invitation":{"id":"i","extra":true}}],"meta":{}}`,
			check: func(t *testing.T, r *payload.InviteResponse) {
				if len(r.Results) != 1 || r.Results[0].Invitation == nil || r.Results[0].Invitation.ID != "i" {
					t.Errorf("Results = %+v", r.Results)
				}
			}},
		{name: "candidate entry object kept", body: `{"results":[{"cv_link":"https://x.example/cv","candidate_entry":{"id":"ce1","status":"queued"}}]}`,
			check: func(t *testing.T, r *payload.InviteResponse) {
				if got := string(r.Results[0].CandidateEntry); got != `{"id":"ce1","status":"queued"}` {
					t.Errorf("CandidateEntry = %s", got)
				}
			}},
		{name: "null entry is an empty result", body: `{"results":[null]}`, check: func(t *testing.T, r *payload.InviteResponse) {
			if len(r.Results) != 1 || r.Results[0].HasError() {
				t.Errorf("Results = %+v", r.Results)
			}
		}},

		{name: "missing results", body: `{"data":[]}`, wantErr: []string{"invite response", `no "results" array`}},
		{name: "null results", body: `{"results":null}`, wantErr: []string{`no "results" array`}},
		{name: "empty object", body: `{}`, wantErr: []string{`no "results" array`}},
		{name: "empty body", body: ``, wantErr: []string{"empty body"}},
		{name: "html error page", body: `<html>502 Bad Gateway</html>`, wantErr: []string{"malformed JSON at offset 1"}},
		{name: "truncated", body: `{"results":[{"email_address":"a@`, wantErr: []string{"malformed JSON"}},
		{name: "trailing data", body: `{"results":[]}x`, wantErr: []string{"unexpected data after the JSON value"}},
		{name: "results is an object", body: `{"results":{}}`, wantErr: []string{"field results: expected []payload.Result, got JSON object"}},
		{name: "top-level array", body: `[]`, wantErr: []string{"field (top level)"}},
		{name: "wrong type email_address names index", body: `{"results":[{},{"email_address":1}]}`, wantErr: []string{"field results[1].email_address: expected string, got JSON number"}},
		{name: "wrong type nested", body: `{"results":[{"invitation":{"id":5}}]}`, wantErr: []string{"field results[0].invitation.id: expected string"}},
		{name: "wrong type invitation", body: `{"results":[{"invitation":"yes"}]}`, wantErr: []string{"field results[0].invitation: expected payload.Invitation"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := payload.DecodeInviteResponse([]byte(tt.body))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("DecodeInviteResponse = %+v, want an error", got)
				}
				for _, frag := range tt.wantErr {
					if !strings.Contains(err.Error(), frag) {
						t.Errorf("error %q lacks %q", err, frag)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeInviteResponse = %v", err)
			}
			tt.check(t, got)
		})
	}
}
