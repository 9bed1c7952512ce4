package producer_test

import (
	"io"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/configs"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

// seedRequest is the vendor's sample request (configs/sample-request.json).
var seedRequest = string(configs.SampleRequestJSON)

func TestJSONSourceSeedRequest(t *testing.T) {
	t.Parallel()
	src := producer.NewJSONSource(strings.NewReader(seedRequest))
	rec, err := src.Next()
	if err != nil {
		t.Fatal(err)
	}
	m := src.Meta()
	if m.Target != (payload.Target{InterviewSetID: "019c5ea9-a792-7f0d-b671-4c3c1602094e"}) {
		t.Errorf("after the first record, Meta().Target = %+v", m.Target)
	}
	checkRecords(t, producer.WhereCandidate, []producer.Record{rec}, []want{ok(1, payload.Candidate{
		Name: "Alex Doe", Email: "alex@example.com", CVLink: "https://storage.googleapis.com/flowmingo-demo/cv/alex.pdf",
	})})
	if _, err := src.Next(); err != io.EOF {
		t.Fatalf("second Next = %v, want io.EOF", err)
	}
	m = src.Meta()
	if !strings.HasPrefix(m.InvitationMessage, "<p>Dear <b><span>{{candidate_name}}</span></b>,</p>\n<p>We are") ||
		!strings.Contains(m.InvitationMessage, `<a href="{{interview_link}}">`) || !strings.HasSuffix(m.InvitationMessage, "{{company_name}}\n</p>") {
		t.Errorf("InvitationMessage = %q", m.InvitationMessage)
	}
	if m.SendInvite == nil || !*m.SendInvite {
		t.Errorf("SendInvite = %v, want true", m.SendInvite)
	}
	if err := payload.ValidateMessage(m.InvitationMessage); err != nil {
		t.Error(err)
	}
	if err := m.Target.Validate(); err != nil {
		t.Error(err)
	}
}

func TestJSONSourceMetaAfterCandidatesKnownAtEOF(t *testing.T) {
	t.Parallel()
	in := `{"candidates":[{"email":"alex@example.com"},{"email":"bo@example.com"}],
	        "com_project_id":"` + uuidA + `","com_job_post_id":" ` + uuidB + ` ","invitation_message":"  Hello {{candidate_name}}  ","send_invite":false}`
	src := producer.NewJSONSource(strings.NewReader(in))
	for i := range 2 {
		rec, err := src.Next()
		if err != nil || rec.Err != nil {
			t.Fatalf("record %d: %+v, %v", i, rec, err)
		}
		if m := src.Meta(); m != (producer.Meta{}) {
			t.Errorf("before EOF, Meta() = %+v, want nothing yet", m)
		}
	}
	if _, err := src.Next(); err != io.EOF {
		t.Fatalf("Next = %v, want io.EOF", err)
	}
	m := src.Meta()
	if m.Target != (payload.Target{ProjectID: uuidA, JobPostID: uuidB}) {
		t.Errorf("Target = %+v (ids are trimmed)", m.Target)
	}
	if m.InvitationMessage != "  Hello {{candidate_name}}  " {
		t.Errorf("InvitationMessage = %q, want it verbatim", m.InvitationMessage)
	}
	if m.SendInvite == nil || *m.SendInvite {
		t.Errorf("SendInvite = %v, want false", m.SendInvite)
	}
}

func TestJSONSource(t *testing.T) {
	t.Parallel()
	alex := payload.Candidate{Email: "alex@example.com"}
	bo := payload.Candidate{Email: "bo@example.com"}
	f := false
	tests := []struct {
		name string
		in   string
		want []want
		meta producer.Meta
	}{
		{name: "array", in: `[{"email":"alex@example.com"},{"cv_link":" https://example.com/cv.pdf "}]`,
			want: []want{ok(1, alex), ok(2, payload.Candidate{CVLink: "https://example.com/cv.pdf"})}},
		{name: "empty array", in: ` [ ] `},
		{name: "BOM and white space", in: "\ufeff\n[\n {\"email\":\"alex@example.com\"}\n]\n", want: []want{ok(1, alex)}},
		{name: "request with empty candidates", in: `{"com_project_id":"` + uuidA + `","candidates":[]}`,
			meta: producer.Meta{Target: payload.Target{ProjectID: uuidA}}},
		{name: "unknown keys skipped, however nested", in: `{"batch_id":"b1","x":{"candidates":[1,2,{"a":[[]]}]},"com_project_id":"` + uuidA + `","y":[{"email":"no"}],"candidates":[{"email":"alex@example.com","extra":[1]}],"z":null}`,
			want: []want{ok(1, alex)}, meta: producer.Meta{Target: payload.Target{ProjectID: uuidA}}},
		{name: "keys match ignoring case", in: `{"Com_Project_ID":"` + uuidA + `","CANDIDATES":[{"Email":"alex@example.com"}],"Send_Invite":false}`,
			want: []want{ok(1, alex)}, meta: producer.Meta{Target: payload.Target{ProjectID: uuidA}, SendInvite: &f}},
		{name: "null request fields are absent", in: `{"com_project_id":null,"send_invite":null,"invitation_message":null,"candidates":[]}`},
		{name: "an ignored value nested as deep as allowed",
			in:   `{"x":` + strings.Repeat(`[{"a":`, producer.MaxJSONDepth/2) + `1` + strings.Repeat(`}]`, producer.MaxJSONDepth/2) + `,"candidates":[{"email":"alex@example.com"}]}`,
			want: []want{ok(1, alex)}},

		{name: "wrong element types are rejected, reading goes on",
			in: `[{"email":"alex@example.com"},"bo@example.com",42,null,[{"email":"x"}],true,{"email":7},{"email":"bo@example.com"}]`,
			want: []want{
				ok(1, alex),
				rejected(2, "", "not a JSON object (got a string)"),
				rejected(3, "", "not a JSON object (got a number)"),
				rejected(4, "", "not a JSON object (got null)"),
				rejected(5, "", "not a JSON object (got an array)"),
				rejected(6, "", "not a JSON object (got true or false)"),
				rejected(7, "email", "expected a string, got a number"),
				ok(8, bo),
			}},
		{name: "validation rejects name the candidate and field",
			in: `{"com_interview_set_id":"` + uuidA + `","candidates":[{"name":"Nobody"},{"email":"x@"},{"cv_link":"http://example.com/cv"},{"ats_candidate_id":"1","email":"alex@example.com"}]}`,
			want: []want{
				rejected(1, "email", "required when cv_link is absent"),
				rejected(2, "email", `not a valid email address: "x@"`),
				rejected(3, "cv_link", "must be an https URL"),
				rejected(4, "ats_candidate_id", "not a UUID"),
			}, meta: producer.Meta{Target: payload.Target{InterviewSetID: uuidA}}},
		{name: "invalid UTF-8 rejects the candidate, naming the field",
			in:   "[{\"email\":\"alex@example.com\"},{\"email\":\"bo@example.com\",\"firstname\":\"Jos\xe9\"},{\"email\":\"bo@example.com\",\"x\":\"\xff\"}]",
			want: []want{ok(1, alex), rejected(2, "firstname", `not valid UTF-8: byte 0xE9 after "Jos"`), ok(3, bo)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := producer.NewJSONSource(strings.NewReader(tt.in))
			recs, err := readAll(t, src)
			if err != nil {
				t.Fatalf("fatal error: %v", err)
			}
			checkRecords(t, producer.WhereCandidate, recs, tt.want)
			got := src.Meta()
			if got.Target != tt.meta.Target || got.InvitationMessage != tt.meta.InvitationMessage ||
				(got.SendInvite == nil) != (tt.meta.SendInvite == nil) || (got.SendInvite != nil && *got.SendInvite != *tt.meta.SendInvite) {
				t.Errorf("Meta() = %+v, want %+v", got, tt.meta)
			}
		})
	}
}

func TestJSONSourceFatal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		records int // records before the fatal error
		want    []string
	}{
		{name: "empty", in: "", want: []string{"the input is empty"}},
		{name: "white space", in: " \n ", want: []string{"the input is empty"}},
		{name: "top-level string", in: `"alex@example.com"`, want: []string{"offset", "the top-level value is a string"}},
		{name: "top-level number", in: `1`, want: []string{"the top-level value is a number"}},
		{name: "not JSON", in: `email,name`, want: []string{"malformed at offset 0"}},
		{name: "truncated array", in: `[{"email":"alex@example.com"},{"email":"bo@exa`, records: 1,
			want: []string{"ends early, at offset 30", "after 1 complete candidates", "truncated"}},
		{name: "truncated after a comma", in: `[{"email":"alex@example.com"},`, records: 1, want: []string{"ends early, at offset 30", "after 1 complete candidates"}},
		{name: "truncated request", in: `{"com_project_id":"` + uuidA + `","candidates":[{"email":"alex@example.com"}`, records: 1,
			want: []string{"ends early", "the candidates array"}},
		{name: "truncated after candidates", in: `{"candidates":[{"email":"alex@example.com"}], "com_project_id":`, records: 1,
			want: []string{"ends early", "the request object"}},
		{name: "malformed element", in: `[{"email":"alex@example.com"},{"email":}]`, records: 1,
			want: []string{"malformed at candidate 2 (offset 30)", "invalid character '}'"}},
		{name: "missing comma", in: `[{"email":"alex@example.com"} {"email":"bo@example.com"}]`, records: 1,
			want: []string{"malformed at candidate 2"}},
		{name: "trailing data", in: `[{"email":"alex@example.com"}] [{"email":"bo@example.com"}]`, records: 1,
			want: []string{"unexpected data after the top-level JSON value"}},
		{name: "trailing garbage", in: `[] x`, want: []string{"unexpected data after"}},
		{name: "object without candidates", in: `{"com_project_id":"` + uuidA + `"}`, want: []string{`no "candidates" array`}},
		{name: "one candidate object, a JSONL line", in: `{"email":"alex@example.com"}`,
			want: []string{`no "candidates" array`, "JSON Lines", ".jsonl"}},
		{name: "candidates is an object", in: `{"candidates":{"email":"alex@example.com"}}`,
			want: []string{"candidates is an object; expected an array"}},
		{name: "candidates is null", in: `{"candidates":null}`, want: []string{"candidates is null"}},
		{name: "candidates twice", in: `{"candidates":[{"email":"alex@example.com"}],"candidates":[]}`, records: 1,
			want: []string{`"candidates" appears twice`}},
		{name: "project id of the wrong type", in: `{"com_project_id":5,"candidates":[]}`,
			want: []string{"com_project_id (offset 17): expected a string, got a number"}},
		{name: "send_invite of the wrong type", in: `{"send_invite":"yes","candidates":[]}`,
			want: []string{"send_invite", "expected true or false, got a string"}},
		{name: "message of the wrong type after the candidates", in: `{"candidates":[{"email":"alex@example.com"}],"invitation_message":["x"]}`, records: 1,
			want: []string{"invitation_message", "expected a string, got an array"}},
		{name: "invitation_message not UTF-8", in: "{\"invitation_message\":\"Bienvenue \xe0 bord, {{candidate_name}}\",\"candidates\":[]}",
			want: []string{"invitation_message (offset 21)", `not valid UTF-8: byte 0xE0 after "Bienvenue "`}},
		{name: "an ignored value nested too deep", in: `{"candidates":[],"x":` + strings.Repeat("[", producer.MaxJSONDepth+1) + strings.Repeat("]", producer.MaxJSONDepth+1) + `}`,
			want: []string{`the value of "x" (offset 20) is nested deeper than 64 levels`}},
		{name: "an over-long string in an ignored value", in: `{"x":{"y":"` + strings.Repeat("x", 2*producer.MaxRecordBytes) + `"},"candidates":[]}`,
			want: []string{`at offset 9 (inside "x") is larger than`}},
		{name: "oversized candidate", in: `[{"email":"alex@example.com","notes":"` + strings.Repeat("x", 2*producer.MaxRecordBytes) + `"}]`,
			want: []string{"candidate 1", "larger than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			recs, err := readAll(t, producer.NewJSONSource(strings.NewReader(tt.in)))
			if err == nil {
				t.Fatalf("no fatal error; %d records", len(recs))
			}
			t.Logf("fatal error: %v", err)
			if len(recs) != tt.records {
				t.Errorf("%d records before the error, want %d", len(recs), tt.records)
			}
			for _, frag := range tt.want {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error %q lacks %q", err, frag)
				}
			}
		})
	}
}

func TestJSONSourceSkipsLargeUnknownValuesWithoutLimit(t *testing.T) {
	t.Parallel()
	// An ignored key's value is skipped token by token: its total size is not bounded
	// by MaxRecordBytes, only each token's.
	var b strings.Builder
	b.WriteString(`{"attachments":[`)
	for i := 0; b.Len() < 2*producer.MaxRecordBytes; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"name":"file.pdf","size":12345}`)
	}
	b.WriteString(`],"candidates":[{"email":"alex@example.com"}]}`)
	recs, err := readAll(t, producer.NewJSONSource(strings.NewReader(b.String())))
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, producer.WhereCandidate, recs, []want{ok(1, payload.Candidate{Email: "alex@example.com"})})
}
