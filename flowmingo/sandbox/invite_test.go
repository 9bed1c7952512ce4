package sandbox

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/configs"
	"github.com/bulkinvite/bulkinvite/payload"
)

// seedSampleRequest is the vendor's sample request (configs/sample-request.json).
var seedSampleRequest = string(configs.SampleRequestJSON)

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestSeedSampleRequest(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})

	r := b.invite(t, DefaultKey, seedSampleRequest)
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}

	// Exactly the documented shape (seed 3.4), nothing more.
	var raw struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Results) != 1 {
		t.Fatalf("results: %s", r.body)
	}
	res := raw.Results[0]
	if got, want := keysOf(res), []string{"cv_link", "email_address", "invitation", "submission"}; !reflect.DeepEqual(got, want) {
		t.Errorf("result fields %v, want %v", got, want)
	}
	if res["email_address"] != "alex@example.com" || res["cv_link"] != "https://storage.googleapis.com/flowmingo-demo/cv/alex.pdf" {
		t.Errorf("result echoes %v / %v", res["email_address"], res["cv_link"])
	}
	inv, _ := res["invitation"].(map[string]any)
	if got, want := keysOf(inv), []string{"email", "id", "status_text"}; !reflect.DeepEqual(got, want) {
		t.Errorf("invitation fields %v, want %v", got, want)
	}
	if id, _ := inv["id"].(string); !payload.IsUUID(id) || inv["email"] != "alex@example.com" || inv["status_text"] != "pending" {
		t.Errorf("invitation %v", inv)
	}
	sub, _ := res["submission"].(map[string]any)
	if got, want := keysOf(sub), []string{"id", "status_text"}; !reflect.DeepEqual(got, want) {
		t.Errorf("submission fields %v, want %v", got, want)
	}
	if id, _ := sub["id"].(string); !payload.IsUUID(id) || sub["status_text"] != "need_interview" {
		t.Errorf("submission %v", sub)
	}

	// And our own decoder reads it as a success.
	resp := r.response(t)
	if resp.Results[0].HasError() {
		t.Errorf("result has an error: %s", r.body)
	}

	st := b.sb.Stats()
	if st.Requests != 1 || st.ByStatus[200] != 1 || st.Candidates != 1 || st.Invites != 1 || st.Submissions != 1 || st.DuplicateInvites != 0 {
		t.Errorf("stats %+v", st)
	}
	if n := b.sb.InviteCount(demoSet, "Alex@Example.com"); n != 1 {
		t.Errorf("InviteCount %d, want 1", n)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	body := seedSampleRequest

	tests := []struct {
		name string
		key  string
		want int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"not fl_live", "sk_live_abcd.secret-value", http.StatusUnauthorized},
		{"no dot", "fl_live_abcdsecretvalue", http.StatusUnauthorized},
		{"empty prefix", "fl_live_.secret-value", http.StatusUnauthorized},
		{"empty secret", "fl_live_abcd.", http.StatusUnauthorized},
		{"unknown", "fl_live_abcd12345.n8G3zPNw9gWkK1Kj", http.StatusUnauthorized},
		{"deleted", DeletedKey, http.StatusUnauthorized},
		{"inactive", InactiveKey, http.StatusForbidden},
		{"expired", ExpiredKey, http.StatusForbidden},
		{"missing scope", NoScopeKey, http.StatusForbidden},
		{"active", DefaultKey, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.invite(t, tt.key, body)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.want, r.body)
			}
			if tt.want != http.StatusOK {
				r.errorBody(t)
				noKeyIn(t, r.body, tt.key)
			}
		})
	}
	if st := b.sb.Stats(); st.Invites != 1 {
		t.Errorf("only the active key invites; stats %+v", st)
	}
	// The banner's statuses are the ones answered.
	for _, k := range DefaultKeys() {
		if r := b.invite(t, k.Key, seedSampleRequest); r.status != keyStateStatus[k.State] {
			t.Errorf("%s: status %d, keyStateStatus says %d", k.State, r.status, keyStateStatus[k.State])
		}
	}
}

func TestAuthConfiguredKeys(t *testing.T) {
	t.Parallel()
	const mine = "fl_live_mine.s3cr3t"
	b := setup(t, Config{Keys: []KeyConfig{{Key: mine}}})
	if r := b.invite(t, mine, seedSampleRequest); r.status != http.StatusOK {
		t.Errorf("configured key (zero state = active): status %d", r.status)
	}
	if r := b.invite(t, DefaultKey, seedSampleRequest); r.status != http.StatusUnauthorized {
		t.Errorf("DefaultKey with Keys configured: status %d, want 401", r.status)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	const set = `"com_interview_set_id":"` + DemoInterviewSetID + `"`
	const uuid1 = "0b7c2f4e-8a51-4c1b-9e7e-3f2d9a6c1b01"

	tests := []struct {
		name   string
		body   string
		status int
		fields []string // 422: the errors' fields, in order; 400: words of the message
	}{
		{"no target", `{"candidates":[{"email":"a@example.com"}]}`, 422, []string{"com_interview_set_id"}},
		{"interview set not a UUID", `{"com_interview_set_id":"set-1","candidates":[{"email":"a@example.com"}]}`, 422, []string{"com_interview_set_id"}},
		{"project not a UUID", `{"com_project_id":"019c5eaa","candidates":[{"email":"a@example.com"}]}`, 422, []string{"com_project_id"}},
		{"job post not a UUID", `{"com_project_id":"` + DemoProjectID + `","com_job_post_id":"jp","candidates":[{"email":"a@example.com"}]}`, 422, []string{"com_job_post_id"}},
		{"empty candidates", `{` + set + `,"candidates":[]}`, 422, []string{"candidates"}},
		{"no candidates", `{` + set + `}`, 422, []string{"candidates"}},
		{"neither email nor cv_link", `{` + set + `,"candidates":[{"name":"Nobody"}]}`, 422, []string{"candidates[0].email"}},
		{"ats id not a UUID", `{` + set + `,"candidates":[{"email":"a@example.com","ats_candidate_id":"ats-1"}]}`, 422, []string{"candidates[0].ats_candidate_id"}},
		{"duplicate ats id", `{` + set + `,"candidates":[{"email":"a@example.com","ats_candidate_id":"` + uuid1 + `"},{"email":"b@example.com","ats_candidate_id":"` + strings.ToUpper(uuid1) + `"}]}`, 422, []string{"candidates[1].ats_candidate_id"}},
		{"bad email", `{` + set + `,"candidates":[{"email":"not-an-email"}]}`, 422, []string{"candidates[0].email"}},
		{"http cv_link", `{` + set + `,"candidates":[{"cv_link":"http://example.com/cv.pdf"}]}`, 422, []string{"candidates[0].cv_link"}},
		{"short message", `{` + set + `,"candidates":[{"email":"a@example.com"}],"invitation_message":"Hi there"}`, 422, []string{"invitation_message"}},
		{".invalid domain", `{` + set + `,"candidates":[{"email":"a@example.com"},{"email":"b@example.com"},{"email":"c@mail.example.invalid"}]}`, 422, []string{"candidates[2].email"}},
		{"every failure listed", `{` + set + `,"candidates":[{"email":"bad"},{"cv_link":"ftp://x/cv"},{"email":"d@x.INVALID"}]}`, 422, []string{"candidates[0].email", "candidates[1].cv_link", "candidates[2].email"}},
		{"malformed JSON", `{` + set + `,"candidates":[`, 400, []string{"malformed JSON"}},
		{"candidates as object", `{` + set + `,"candidates":{"email":"a@example.com"}}`, 400, []string{"candidates"}},
		{"send_invite as string", `{` + set + `,"candidates":[{"email":"a@example.com"}],"send_invite":"yes"}`, 400, []string{"send_invite"}},
		{"email as number", `{` + set + `,"candidates":[{"email":42}]}`, 400, []string{"email"}},
		{"trailing data", `{` + set + `,"candidates":[{"email":"a@example.com"}]} {}`, 400, []string{"after the JSON value"}},
		{"not an object", `[]`, 400, []string{"top level"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.invite(t, DefaultKey, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			e := r.errorBody(t)
			if tt.status == http.StatusBadRequest {
				for _, w := range tt.fields {
					if !strings.Contains(e.Message, w) {
						t.Errorf("message %q does not name %q", e.Message, w)
					}
				}
				return
			}
			var got []string
			for _, fe := range e.Errors {
				if fe.Message == "" {
					t.Errorf("error for %s has no message", fe.Field)
				}
				got = append(got, fe.Field)
			}
			if !reflect.DeepEqual(got, tt.fields) {
				t.Errorf("error fields %v, want %v; body %s", got, tt.fields, r.body)
			}
			for _, f := range tt.fields {
				if !strings.Contains(e.Message, f) {
					t.Errorf("message %q does not name %s", e.Message, f)
				}
			}
		})
	}
	st := b.sb.Stats()
	if st.Invites != 0 || st.Submissions != 0 || st.CVQueued != 0 || len(b.sb.Invites()) != 0 {
		t.Errorf("a rejected request recorded something: %+v", st)
	}
	if st.ValidationRejections != len(tests) {
		t.Errorf("ValidationRejections %d, want %d", st.ValidationRejections, len(tests))
	}
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{MaxBodyBytes: 1024})
	big := `{"com_interview_set_id":"` + DemoInterviewSetID + `","candidates":[{"email":"a@example.com","name":"` +
		strings.Repeat("x", 2048) + `"}]}`
	r := b.invite(t, DefaultKey, big)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413; body %s", r.status, r.body)
	}
	if e := r.errorBody(t); !strings.Contains(e.Message, "1024") {
		t.Errorf("message %q does not say the limit", e.Message)
	}
	if r := b.invite(t, DefaultKey, seedSampleRequest); r.status != http.StatusOK {
		t.Errorf("a body under the limit: status %d", r.status)
	}
}

func TestDefaultBodyLimit(t *testing.T) {
	t.Parallel()
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if s.maxBody != DefaultMaxBodyBytes || DefaultMaxBodyBytes != 10<<20 {
		t.Errorf("maxBody %d", s.maxBody)
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		want        int
	}{
		{"other path", http.MethodPost, "/company/integration/interview/candidate/invite/v2", "application/json", 404},
		{"root", http.MethodGet, "/", "", 404},
		{"GET invite", http.MethodGet, payload.InvitePath, "", 405},
		{"PUT invite", http.MethodPut, payload.InvitePath, "application/json", 405},
		{"no content type", http.MethodPost, payload.InvitePath, "", 415},
		{"text content type", http.MethodPost, payload.InvitePath, "text/plain", 415},
		{"json with charset", http.MethodPost, payload.InvitePath, "application/json; charset=utf-8", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := b.doErr(t.Context(), tt.method, tt.path, DefaultKey, tt.contentType, []byte(seedSampleRequest))
			if err != nil {
				t.Fatal(err)
			}
			if r.status != tt.want {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.want, r.body)
			}
			if tt.want == 405 && r.header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow %q", r.header.Get("Allow"))
			}
			if tt.want != 200 {
				r.errorBody(t)
			}
		})
	}
}

func TestTargets(t *testing.T) {
	t.Parallel()
	const (
		extraSet     = "019c6000-0000-7000-8000-000000000001"
		extraProject = "019c6000-0000-7000-8000-000000000002"
		oldJobPost   = "019c6000-0000-7000-8000-000000000003"
		newJobPost   = "019c6000-0000-7000-8000-000000000004"
		emptyProject = "019c6000-0000-7000-8000-000000000005"
		unknown      = "019c6000-0000-7000-8000-0000000000ff"
	)
	b := setup(t, Config{
		InterviewSets: []string{extraSet},
		Projects: []Project{
			{ID: extraProject, JobPostIDs: []string{oldJobPost, newJobPost}},
			{ID: emptyProject},
		},
	})

	tests := []struct {
		name   string
		target payload.Target
		want   int
		names  string // in the 404 message
		// resolved is where a 200 records the invite.
		resolved payload.Target
	}{
		{"unknown interview set", payload.Target{InterviewSetID: unknown}, 404, "interview set", payload.Target{}},
		{"unknown project", payload.Target{ProjectID: unknown}, 404, "project", payload.Target{}},
		{"job post not in project", payload.Target{ProjectID: DemoProjectID, JobPostID: newJobPost}, 404, "job post", payload.Target{}},
		{"job post without project", payload.Target{InterviewSetID: DemoInterviewSetID, JobPostID: DemoJobPostID}, 404, "job post", payload.Target{}},
		{"project without job posts", payload.Target{ProjectID: emptyProject}, 404, "no job post", payload.Target{}},
		{"demo interview set", demoSet, 200, "", demoSet},
		{"demo interview set, upper case", payload.Target{InterviewSetID: strings.ToUpper(DemoInterviewSetID)}, 200, "", demoSet},
		{"configured interview set", payload.Target{InterviewSetID: extraSet}, 200, "", payload.Target{InterviewSetID: extraSet}},
		{"demo project picks its job post", demoProject, 200, "", payload.Target{ProjectID: DemoProjectID, JobPostID: DemoJobPostID}},
		{"project picks the latest job post", payload.Target{ProjectID: extraProject}, 200, "", payload.Target{ProjectID: extraProject, JobPostID: newJobPost}},
		{"project with an older job post", payload.Target{ProjectID: extraProject, JobPostID: oldJobPost}, 200, "", payload.Target{ProjectID: extraProject, JobPostID: oldJobPost}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			email := "target" + string(rune('a'+i)) + "@example.com"
			r := b.inviteReq(t, request(tt.target, email))
			if r.status != tt.want {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.want, r.body)
			}
			if tt.want == 404 {
				if e := r.errorBody(t); !strings.Contains(e.Message, tt.names) {
					t.Errorf("message %q does not say %q", e.Message, tt.names)
				}
				return
			}
			if n := b.sb.InviteCount(tt.resolved, email); n != 1 {
				t.Errorf("InviteCount(%v) = %d, want 1", tt.resolved, n)
			}
			if n := b.sb.InviteCount(tt.target, email); n != 1 {
				t.Errorf("InviteCount(%v) as sent = %d, want 1", tt.target, n)
			}
		})
	}
}

func TestCandidateTriggers(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	cands := []struct {
		c    payload.Candidate
		want []string // error fields; nil for a success
	}{
		{payload.Candidate{Email: "ok@example.com"}, nil},
		{payload.Candidate{Email: "a" + TagInvitationError + "@example.com"}, []string{payload.FieldInvitationErrorMessage}},
		{payload.Candidate{Email: "a" + TagApplicationError + "@example.com"}, []string{payload.FieldApplicationErrorMessage}},
		{payload.Candidate{Email: "a" + TagSubmissionError + "@example.com"}, []string{payload.FieldSubmissionErrorMessage}},
		{payload.Candidate{Email: "a" + TagError + "@example.com"}, []string{payload.FieldErrorMessage}},
		{payload.Candidate{Email: "a+errors@example.com"}, nil},
		{payload.Candidate{Email: "A+Invitation_Error@Example.com"}, []string{payload.FieldInvitationErrorMessage}},
		{payload.Candidate{Email: "a+submission_error+error@example.com"}, []string{payload.FieldSubmissionErrorMessage, payload.FieldErrorMessage}},
		{payload.Candidate{CVLink: "https://cv.example.com/b.pdf"}, nil},
		{payload.Candidate{CVLink: "https://cv.example.com/" + FailCVMarker + "/c.pdf"}, []string{payload.FieldCandidateEntryErrorMessage}},
		{payload.Candidate{Email: "d@example.com", CVLink: "https://cv.example.com/fail-cv.pdf"}, nil},
	}
	req := &payload.InviteRequest{ComInterviewSetID: DemoInterviewSetID}
	for _, c := range cands {
		req.Candidates = append(req.Candidates, c.c)
	}
	resp := b.inviteReq(t, req).response(t)
	if len(resp.Results) != len(cands) {
		t.Fatalf("%d results for %d candidates", len(resp.Results), len(cands))
	}
	wantErrors, wantInvites := 0, 0
	for i, c := range cands {
		res := resp.Results[i]
		if res.EmailAddress != c.c.Email || res.CVLink != c.c.CVLink {
			t.Errorf("[%d] result is for %q/%q, want %q/%q", i, res.EmailAddress, res.CVLink, c.c.Email, c.c.CVLink)
		}
		if got := TriggeredErrors(c.c); !reflect.DeepEqual(got, c.want) {
			t.Errorf("[%d] TriggeredErrors = %v, want %v", i, got, c.want)
		}
		got := payload.SortedErrorFields(res.Errors())
		want := append([]string(nil), c.want...)
		sort.Strings(want)
		if len(got) == 0 {
			got = nil
		}
		if len(want) == 0 {
			want = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("[%d] %v: error fields %v, want %v", i, c.c, got, want)
		}
		switch {
		case c.want != nil:
			wantErrors++
			if res.Invitation != nil || res.Submission != nil || res.CandidateEntry != nil {
				t.Errorf("[%d] a failed candidate got records: %+v", i, res)
			}
		case c.c.Email == "":
			var ce candidateEntry
			if err := json.Unmarshal(res.CandidateEntry, &ce); err != nil || !payload.IsUUID(ce.ID) || ce.StatusText != CandidateEntryQueued {
				t.Errorf("[%d] candidate_entry %s (%v)", i, res.CandidateEntry, err)
			}
			if res.Invitation != nil || res.Submission != nil {
				t.Errorf("[%d] a CV-only candidate got an invitation or submission", i)
			}
		default:
			wantInvites++
			if res.Invitation == nil || res.Invitation.StatusText != InvitationPending || res.Invitation.Email != c.c.Email ||
				res.Submission == nil || res.Submission.StatusText != SubmissionNeedInterview || res.CandidateEntry != nil {
				t.Errorf("[%d] success %+v", i, res)
			}
		}
	}
	st := b.sb.Stats()
	if st.CandidateErrors != wantErrors || st.Invites != wantInvites || st.CVQueued != 1 || st.Candidates != len(cands) {
		t.Errorf("stats %+v; want %d errors, %d invites, 1 CV queued", st, wantErrors, wantInvites)
	}
	if n := b.sb.InviteCount(demoSet, "a"+TagInvitationError+"@example.com"); n != 0 {
		t.Errorf("a failed candidate counts as invited: %d", n)
	}
	if n := len(b.sb.Invites()); n != wantInvites {
		t.Errorf("Invites() has %d, want %d", n, wantInvites)
	}
}

func TestTriggeredErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    payload.Candidate
		want []string
	}{
		{"plain", payload.Candidate{Email: "a@example.com"}, nil},
		{"tag as first part", payload.Candidate{Email: "error+a@example.com"}, nil},
		{"tag in the domain", payload.Candidate{Email: "a@error.example.com"}, nil},
		{"longer tag", payload.Candidate{Email: "a+error_x@example.com"}, nil},
		{"error", payload.Candidate{Email: "a+error@example.com"}, []string{payload.FieldErrorMessage}},
		{"error after other tags", payload.Candidate{Email: "a+x+error@example.com"}, []string{payload.FieldErrorMessage}},
		{"application", payload.Candidate{Email: "a+application_error@example.com"}, []string{payload.FieldApplicationErrorMessage}},
		{"all four, ErrorFields order", payload.Candidate{Email: "a+error+submission_error+application_error+invitation_error@example.com"},
			[]string{payload.FieldInvitationErrorMessage, payload.FieldApplicationErrorMessage, payload.FieldSubmissionErrorMessage, payload.FieldErrorMessage}},
		{"fail-cv, CV only", payload.Candidate{CVLink: "https://x.example.com/FAIL-CV.pdf"}, []string{payload.FieldCandidateEntryErrorMessage}},
		{"fail-cv with email", payload.Candidate{Email: "a@example.com", CVLink: "https://x.example.com/fail-cv.pdf"}, nil},
		{"empty", payload.Candidate{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := TriggeredErrors(tt.c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("TriggeredErrors(%+v) = %v, want %v", tt.c, got, tt.want)
			}
		})
	}
}

func TestSendInviteFalse(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	no := false
	req := demoSet.Request([]payload.Candidate{{Email: "quiet@example.com"}}, "", &no)
	r := b.inviteReq(t, req)
	resp := r.response(t)
	res := resp.Results[0]
	if res.Invitation != nil || strings.Contains(string(r.body), `"invitation"`) {
		t.Errorf("send_invite false created an invitation: %s", r.body)
	}
	if res.Submission == nil || res.Submission.StatusText != SubmissionNeedInterview {
		t.Errorf("no submission: %s", r.body)
	}
	st := b.sb.Stats()
	if st.Invites != 0 || st.Submissions != 1 {
		t.Errorf("stats %+v", st)
	}
	invs := b.sb.Invites()
	if len(invs) != 1 || invs[0].InvitationID != "" || invs[0].SubmissionID != res.Submission.ID {
		t.Errorf("Invites() %+v", invs)
	}
}

func TestCVOnlyQueued(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	r := b.inviteReq(t, demoSet.Request([]payload.Candidate{{CVLink: "https://cv.example.com/z.pdf"}}, "", nil))
	var raw struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(r.body, &raw); err != nil || len(raw.Results) != 1 {
		t.Fatalf("%s: %v", r.body, err)
	}
	res := raw.Results[0]
	if got, want := keysOf(res), []string{"candidate_entry", "cv_link", "email_address"}; !reflect.DeepEqual(got, want) {
		t.Errorf("fields %v, want %v", got, want)
	}
	if res["email_address"] != nil {
		t.Errorf("email_address %v, want null", res["email_address"])
	}
	ce, _ := res["candidate_entry"].(map[string]any)
	if ce["status_text"] != "queued" {
		t.Errorf("candidate_entry %v", ce)
	}
	if st := b.sb.Stats(); st.CVQueued != 1 || st.Invites != 0 || st.Submissions != 0 {
		t.Errorf("stats %+v", st)
	}
	if n := len(b.sb.Invites()); n != 0 {
		t.Errorf("Invites() has %d", n)
	}
}

func TestDuplicateInvites(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	steps := []struct {
		target payload.Target
		email  string
		dups   int
	}{
		{demoSet, "alex@example.com", 0},
		{demoSet, "ALEX@Example.COM", 1},     // same person, other case, same target
		{demoProject, "alex@example.com", 1}, // other target: not a duplicate
		{payload.Target{ProjectID: DemoProjectID, JobPostID: DemoJobPostID}, "Alex@example.com", 2}, // the project's latest job post is that target
		{demoSet, "blake@example.com", 2},
	}
	for i, st := range steps {
		if r := b.inviteReq(t, request(st.target, st.email)); r.status != 200 {
			t.Fatalf("step %d: status %d", i, r.status)
		}
		if got := b.sb.Stats().DuplicateInvites; got != st.dups {
			t.Errorf("step %d (%v %s): DuplicateInvites %d, want %d", i, st.target, st.email, got, st.dups)
		}
	}
	if n := b.sb.InviteCount(demoSet, "alex@EXAMPLE.com"); n != 2 {
		t.Errorf("InviteCount(set) %d, want 2", n)
	}
	if n := b.sb.InviteCount(demoProject, "alex@example.com"); n != 2 {
		t.Errorf("InviteCount(project) %d, want 2", n)
	}
	var flagged []bool
	for _, inv := range b.sb.Invites() {
		flagged = append(flagged, inv.Duplicate)
	}
	if want := []bool{false, true, false, true, false}; !reflect.DeepEqual(flagged, want) {
		t.Errorf("Invite.Duplicate %v, want %v", flagged, want)
	}
}
