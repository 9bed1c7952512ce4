package payload_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/bulkinvite/bulkinvite/payload"
)

// resultFrom decodes one result entry, the way it arrives from the vendor.
func resultFrom(tb testing.TB, entry string) payload.Result {
	tb.Helper()
	resp, err := payload.DecodeInviteResponse([]byte(`{"results":[` + entry + `]}`))
	if err != nil {
		tb.Fatalf("decode %s: %v", entry, err)
	}
	if len(resp.Results) != 1 {
		tb.Fatalf("decode %s: %d results, want 1", entry, len(resp.Results))
	}
	return resp.Results[0]
}

func TestResultErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		entry  string
		want   map[string]string // field -> raw JSON, verbatim
		reason payload.Reason
	}{
		{name: "success", entry: `{"email_address":"a@example.com","invitation":{"id":"i","email":"a@example.com","status_text":"pending"}}`},
		{name: "error_message", entry: `{"error_message":"boom"}`,
			want: map[string]string{"error_message": `"boom"`}, reason: payload.ReasonCandidateError},
		{name: "invitation_error_message", entry: `{"invitation_error_message":"already invited"}`,
			want: map[string]string{"invitation_error_message": `"already invited"`}, reason: payload.ReasonInvitationError},
		{name: "application_error_message", entry: `{"application_error_message":"closed"}`,
			want: map[string]string{"application_error_message": `"closed"`}, reason: payload.ReasonApplicationError},
		{name: "submission_error_message", entry: `{"submission_error_message":"x"}`,
			want: map[string]string{"submission_error_message": `"x"`}, reason: payload.ReasonSubmissionError},
		{name: "candidate_entry_error_message", entry: `{"candidate_entry_error_message":"cv unreachable"}`,
			want: map[string]string{"candidate_entry_error_message": `"cv unreachable"`}, reason: payload.ReasonCandidateEntryError},
		{name: "null is no error", entry: `{"error_message":null,"invitation_error_message":null}`},
		{name: "empty string is no error", entry: `{"error_message":"","application_error_message":""}`},
		{name: "null with spaces is no error", entry: `{"error_message": null }`},
		{name: "whitespace string is an error", entry: `{"error_message":" "}`,
			want: map[string]string{"error_message": `" "`}, reason: payload.ReasonCandidateError},
		{name: "object kept verbatim", entry: `{"submission_error_message":{"code":7,"detail":["a","b"]}}`,
			want: map[string]string{"submission_error_message": `{"code":7,"detail":["a","b"]}`}, reason: payload.ReasonSubmissionError},
		{name: "array kept verbatim", entry: `{"error_message":["x","y"]}`,
			want: map[string]string{"error_message": `["x","y"]`}, reason: payload.ReasonCandidateError},
		{name: "number kept verbatim", entry: `{"error_message":42}`,
			want: map[string]string{"error_message": `42`}, reason: payload.ReasonCandidateError},
		{name: "false kept verbatim", entry: `{"invitation_error_message":false}`,
			want: map[string]string{"invitation_error_message": `false`}, reason: payload.ReasonInvitationError},
		{name: "escaped string kept verbatim", entry: `{"error_message":"bad \"quote\" \u00e9"}`,
			want: map[string]string{"error_message": `"bad \"quote\" \u00e9"`}, reason: payload.ReasonCandidateError},
		{name: "invitation wins over everything", entry: `{"error_message":"e","candidate_entry_error_message":"c","submission_error_message":"s","application_error_message":"a","invitation_error_message":"i"}`,
			want: map[string]string{
				"error_message": `"e"`, "candidate_entry_error_message": `"c"`, "submission_error_message": `"s"`,
				"application_error_message": `"a"`, "invitation_error_message": `"i"`,
			}, reason: payload.ReasonInvitationError},
		{name: "application wins over submission", entry: `{"submission_error_message":"s","application_error_message":"a"}`,
			want: map[string]string{"submission_error_message": `"s"`, "application_error_message": `"a"`}, reason: payload.ReasonApplicationError},
		{name: "submission wins over candidate entry", entry: `{"candidate_entry_error_message":"c","submission_error_message":"s"}`,
			want: map[string]string{"candidate_entry_error_message": `"c"`, "submission_error_message": `"s"`}, reason: payload.ReasonSubmissionError},
		{name: "candidate entry wins over error_message", entry: `{"error_message":"e","candidate_entry_error_message":"c"}`,
			want: map[string]string{"error_message": `"e"`, "candidate_entry_error_message": `"c"`}, reason: payload.ReasonCandidateEntryError},
		{name: "null first field does not win", entry: `{"invitation_error_message":null,"error_message":"e"}`,
			want: map[string]string{"error_message": `"e"`}, reason: payload.ReasonCandidateError},
		{name: "error next to a success object", entry: `{"invitation":{"id":"i"},"application_error_message":"a"}`,
			want: map[string]string{"application_error_message": `"a"`}, reason: payload.ReasonApplicationError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := resultFrom(t, tt.entry)
			got := r.Errors()
			if tt.want == nil {
				if got != nil {
					t.Errorf("Errors() = %s, want nil", got)
				}
			} else {
				gotS := make(map[string]string, len(got))
				for k, v := range got {
					gotS[k] = string(v)
				}
				if !reflect.DeepEqual(gotS, tt.want) {
					t.Errorf("Errors() = %q, want %q", gotS, tt.want)
				}
			}
			if r.HasError() != (tt.want != nil) {
				t.Errorf("HasError() = %v, want %v", r.HasError(), tt.want != nil)
			}
			if got := r.ErrorReason(); got != tt.reason {
				t.Errorf("ErrorReason() = %q, want %q", got, tt.reason)
			}
			if tt.reason != "" && !tt.reason.Valid() {
				t.Errorf("reason %q is not Valid()", tt.reason)
			}
		})
	}
}

func TestResultErrorsReencodeVerbatim(t *testing.T) {
	t.Parallel()
	r := resultFrom(t, `{"error_message":{"b":1,"a":[true,null]}}`)
	out, err := json.Marshal(r.Errors())
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"error_message":{"b":1,"a":[true,null]}}`; string(out) != want {
		t.Errorf("re-encoded errors = %s, want %s", out, want)
	}
}

func TestErrorFieldsCoverEveryReason(t *testing.T) {
	t.Parallel()
	seen := map[payload.Reason]bool{}
	for _, f := range payload.ErrorFields {
		r := resultFrom(t, `{"`+f+`":"x"}`)
		reason := r.ErrorReason()
		if reason == "" || !reason.Valid() {
			t.Errorf("field %s: reason %q", f, reason)
		}
		if seen[reason] {
			t.Errorf("field %s: reason %q used twice", f, reason)
		}
		seen[reason] = true
	}
	if len(payload.ErrorFields) != 5 {
		t.Errorf("ErrorFields has %d entries, want the vendor's 5", len(payload.ErrorFields))
	}
}

func TestSortedErrorFields(t *testing.T) {
	t.Parallel()
	m := map[string]json.RawMessage{"submission_error_message": nil, "error_message": nil, "application_error_message": nil}
	got := payload.SortedErrorFields(m)
	want := []string{"application_error_message", "error_message", "submission_error_message"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SortedErrorFields = %q, want %q", got, want)
	}
	if got := payload.SortedErrorFields(nil); len(got) != 0 {
		t.Errorf("SortedErrorFields(nil) = %q, want empty", got)
	}
}

func TestReasonValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    payload.Reason
		want bool
	}{
		{name: "candidate_error", r: "candidate_error", want: true},
		{name: "unknown_outcome", r: payload.ReasonUnknownOutcome, want: true},
		{name: "empty", r: ""},
		{name: "wrong case", r: "Validation"},
		{name: "field name is not a reason", r: "error_message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.r.Valid(); got != tt.want {
				t.Errorf("Reason(%q).Valid() = %v, want %v", tt.r, got, tt.want)
			}
		})
	}
}

func TestCandidateCVOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    payload.Candidate
		want bool
	}{
		{name: "cv only", c: payload.Candidate{CVLink: "https://x.example/cv"}, want: true},
		{name: "email and cv", c: payload.Candidate{Email: "a@example.com", CVLink: "https://x.example/cv"}},
		{name: "email only", c: payload.Candidate{Email: "a@example.com"}},
		{name: "nothing", c: payload.Candidate{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.c.CVOnly(); got != tt.want {
				t.Errorf("CVOnly() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestInviteRequestJSONOmitsAbsentFields(t *testing.T) {
	t.Parallel()
	req := payload.Target{ProjectID: uuidA}.Request([]payload.Candidate{{Email: "a@example.com"}}, "", nil)
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"com_project_id":"` + uuidA + `","candidates":[{"email":"a@example.com"}]}`
	if string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	f := false
	req = payload.Target{InterviewSetID: uuidA}.Request([]payload.Candidate{{CVLink: "https://x.example/cv"}}, "0123456789", &f)
	b, err = json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	want = `{"com_interview_set_id":"` + uuidA + `","candidates":[{"cv_link":"https://x.example/cv"}],"invitation_message":"0123456789","send_invite":false}`
	if string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	if got := req.Target(); got != (payload.Target{InterviewSetID: uuidA}) {
		t.Errorf("Target() = %+v", got)
	}
}
