package payload_test

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/bulkinvite/bulkinvite/payload"
)

const (
	uuidA = "019c5ea9-a792-7f0d-b671-4c3c1602094e"
	uuidB = "019c5eb3-fb50-707b-9833-0862efa4b275"
	uuidC = "019c5eb4-55ab-76fc-90ec-98930c56a7bd"
)

// wantPaths checks that err is a payload.Errors (or a *payload.FieldError) whose
// paths are exactly want, in order, and that each message contains the matching
// fragment of msgs (when given).
func wantPaths(tb testing.TB, err error, want []string, msgs []string) {
	tb.Helper()
	if len(want) == 0 {
		if err != nil {
			tb.Fatalf("err = %v, want nil", err)
		}
		return
	}
	if err == nil {
		tb.Fatalf("err = nil, want errors at %q", want)
	}
	var es payload.Errors
	var fe *payload.FieldError
	switch {
	case errors.As(err, &es):
	case errors.As(err, &fe):
		es = payload.Errors{fe}
	default:
		tb.Fatalf("err = %T %v, want payload.Errors or *payload.FieldError", err, err)
	}
	got := make([]string, len(es))
	for i, e := range es {
		got[i] = e.Path()
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		tb.Fatalf("paths = %q, want %q (err: %v)", got, want, err)
	}
	for i, m := range msgs {
		if !strings.Contains(es[i].Msg, m) {
			tb.Errorf("errors[%d].Msg = %q, want it to contain %q", i, es[i].Msg, m)
		}
		if !strings.HasPrefix(es[i].Error(), want[i]+": ") {
			tb.Errorf("errors[%d].Error() = %q, want it to start with %q", i, es[i].Error(), want[i]+": ")
		}
	}
}

func TestValidateCandidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		index int
		c     payload.Candidate
		paths []string
		msgs  []string
	}{
		{name: "email only", index: 0, c: payload.Candidate{Email: "alex@example.com"}},
		{name: "cv link only", index: 0, c: payload.Candidate{CVLink: "https://example.com/cv.pdf"}},
		{name: "everything", index: 2, c: payload.Candidate{
			ATSCandidateID: uuidA, Email: "alex@example.com", Name: "Alex Doe", Firstname: "Alex", Lastname: "Doe",
			CVLink: "https://storage.googleapis.com/flowmingo-demo/cv/alex.pdf?X-Goog-Signature=abc",
		}},
		{name: "upper-case uuid", index: 0, c: payload.Candidate{ATSCandidateID: strings.ToUpper(uuidA), Email: "a@example.com"}},
		{name: "plus address", index: 0, c: payload.Candidate{Email: "dana+invitation_error@example.com"}},
		{name: "upper-case https scheme", index: 0, c: payload.Candidate{CVLink: "HTTPS://example.com/cv.pdf"}},

		{name: "neither email nor cv link", index: 3, c: payload.Candidate{Name: "Nobody"},
			paths: []string{"candidates[3].email"}, msgs: []string{"required when cv_link is absent"}},
		{name: "empty candidate without index", index: -1, c: payload.Candidate{},
			paths: []string{"email"}, msgs: []string{"required"}},
		{name: "ats id not a uuid", index: 1, c: payload.Candidate{ATSCandidateID: "12345", Email: "a@example.com"},
			paths: []string{"candidates[1].ats_candidate_id"}, msgs: []string{`not a UUID: "12345"`}},
		{name: "ats id uuid without hyphens", index: 1, c: payload.Candidate{ATSCandidateID: strings.ReplaceAll(uuidA, "-", ""), Email: "a@example.com"},
			paths: []string{"candidates[1].ats_candidate_id"}},
		{name: "ats id urn form", index: 1, c: payload.Candidate{ATSCandidateID: "urn:uuid:" + uuidA, Email: "a@example.com"},
			paths: []string{"candidates[1].ats_candidate_id"}},
		{name: "ats id braces", index: 1, c: payload.Candidate{ATSCandidateID: "{" + uuidA + "}", Email: "a@example.com"},
			paths: []string{"candidates[1].ats_candidate_id"}},
		{name: "email without domain", index: 4, c: payload.Candidate{Email: "x@"},
			paths: []string{"candidates[4].email"}, msgs: []string{`not a valid email address: "x@"`}},
		{name: "email without at", index: 0, c: payload.Candidate{Email: "alex.example.com"},
			paths: []string{"candidates[0].email"}, msgs: []string{"not a valid email address"}},
		{name: "email with display name", index: 0, c: payload.Candidate{Email: "Alex <alex@example.com>"},
			paths: []string{"candidates[0].email"}},
		{name: "email with spaces", index: 0, c: payload.Candidate{Email: " alex@example.com"},
			paths: []string{"candidates[0].email"}},
		{name: "email domain without dot", index: 0, c: payload.Candidate{Email: "alex@localhost"},
			paths: []string{"candidates[0].email"}},
		{name: "email too long", index: 0, c: payload.Candidate{Email: strings.Repeat("a", 250) + "@example.com"},
			paths: []string{"candidates[0].email"}, msgs: []string{"longer than 254"}},
		{name: "http cv link", index: 5, c: payload.Candidate{CVLink: "http://example.com/cv.pdf"},
			paths: []string{"candidates[5].cv_link"}, msgs: []string{"must be an https URL"}},
		{name: "relative cv link", index: 0, c: payload.Candidate{CVLink: "cv.pdf"},
			paths: []string{"candidates[0].cv_link"}, msgs: []string{"must be an https URL"}},
		{name: "cv link without host", index: 0, c: payload.Candidate{CVLink: "https:///cv.pdf"},
			paths: []string{"candidates[0].cv_link"}, msgs: []string{"has no host"}},
		{name: "cv link not a URL", index: 0, c: payload.Candidate{CVLink: "https://exa mple.com/cv.pdf"},
			paths: []string{"candidates[0].cv_link"}, msgs: []string{"not a URL"}},
		{name: "every field wrong", index: 7, c: payload.Candidate{ATSCandidateID: "x", Email: "y", CVLink: "ftp://h/cv"},
			paths: []string{"candidates[7].ats_candidate_id", "candidates[7].email", "candidates[7].cv_link"}},
		{name: "bad email with good cv link still rejected", index: 0, c: payload.Candidate{Email: "nope", CVLink: "https://example.com/cv"},
			paths: []string{"candidates[0].email"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantPaths(t, payload.ValidateCandidate(tt.index, tt.c), tt.paths, tt.msgs)
		})
	}
}

// TestValidateCandidateText: every text field must be valid UTF-8 without control
// characters or bidirectional overrides, and has a length limit; the error names
// the field and says what is wrong without printing the character itself.
func TestValidateCandidateText(t *testing.T) {
	t.Parallel()
	const email = "alex@example.com"
	long := func(n int) string { return strings.Repeat("é", n) }
	tests := []struct {
		name  string
		c     payload.Candidate
		paths []string
		msgs  []string
	}{
		{name: "names in many scripts", c: payload.Candidate{Email: email, Name: "Zoë O'Brien-Łukasiewicz", Firstname: "李", Lastname: "محمد"}},
		{name: "right-to-left marks are fine", c: payload.Candidate{Email: email, Name: "\u200fשרה\u200e"}},
		{name: "name of exactly 200 characters", c: payload.Candidate{Email: email, Name: long(payload.MaxNameLen)}},
		{name: "cv link of exactly 2048 bytes", c: payload.Candidate{CVLink: "https://example.com/" + strings.Repeat("a", payload.MaxCVLinkLen-20)}},

		{name: "escape sequence in a name", c: payload.Candidate{Email: email, Name: "Alex \x1b[31mDoe"},
			paths: []string{"candidates[0].name"}, msgs: []string{"control character U+001B at character 6"}},
		{name: "NUL in a first name", c: payload.Candidate{Email: email, Firstname: "Al\x00ex"},
			paths: []string{"candidates[0].firstname"}, msgs: []string{"control character U+0000"}},
		{name: "BEL in a last name", c: payload.Candidate{Email: email, Lastname: "Doe\a"},
			paths: []string{"candidates[0].lastname"}, msgs: []string{"control character U+0007"}},
		{name: "DEL", c: payload.Candidate{Email: email, Name: "Alex\x7f"},
			paths: []string{"candidates[0].name"}, msgs: []string{"control character U+007F"}},
		{name: "C1 control", c: payload.Candidate{Email: email, Name: "Alex\u009bDoe"},
			paths: []string{"candidates[0].name"}, msgs: []string{"control character U+009B"}},
		{name: "line break in a name", c: payload.Candidate{Email: email, Name: "Alex\nDoe"},
			paths: []string{"candidates[0].name"}, msgs: []string{"control character U+000A"}},
		{name: "tab in a name", c: payload.Candidate{Email: email, Name: "Alex\tDoe"},
			paths: []string{"candidates[0].name"}, msgs: []string{"control character U+0009"}},
		{name: "right-to-left override", c: payload.Candidate{Email: email, Name: "Alex \u202eeoD"},
			paths: []string{"candidates[0].name"}, msgs: []string{"bidirectional control character U+202E at character 6"}},
		{name: "bidi isolate", c: payload.Candidate{Email: email, Lastname: "\u2067Doe\u2069"},
			paths: []string{"candidates[0].lastname"}, msgs: []string{"bidirectional control character U+2067"}},
		{name: "control character in an email", c: payload.Candidate{Email: "alex\x1b@example.com"},
			paths: []string{"candidates[0].email"}, msgs: []string{"control character U+001B"}},
		{name: "control character in a cv link", c: payload.Candidate{CVLink: "https://example.com/\u0085cv.pdf"},
			paths: []string{"candidates[0].cv_link"}, msgs: []string{"control character U+0085"}},
		{name: "Windows-1252 bytes in a name", c: payload.Candidate{Email: email, Name: "Jos\xe9 Garc\xeda"},
			paths: []string{"candidates[0].name"}, msgs: []string{`not valid UTF-8: byte 0xE9 after "Jos"`}},
		{name: "invalid UTF-8 in an email", c: payload.Candidate{Email: "jos\xe9@example.com"},
			paths: []string{"candidates[0].email"}, msgs: []string{"not valid UTF-8"}},
		{name: "invalid UTF-8 in an ats id", c: payload.Candidate{ATSCandidateID: "\xff", Email: email},
			paths: []string{"candidates[0].ats_candidate_id"}, msgs: []string{"not valid UTF-8: byte 0xFF at the start"}},
		{name: "name too long", c: payload.Candidate{Email: email, Name: long(payload.MaxNameLen + 1)},
			paths: []string{"candidates[0].name"}, msgs: []string{"longer than 200 characters (got 201)"}},
		{name: "first and last name too long", c: payload.Candidate{Email: email, Firstname: long(1000), Lastname: long(201)},
			paths: []string{"candidates[0].firstname", "candidates[0].lastname"}, msgs: []string{"got 1000", "got 201"}},
		{name: "cv link too long", c: payload.Candidate{CVLink: "https://example.com/" + strings.Repeat("a", payload.MaxCVLinkLen)},
			paths: []string{"candidates[0].cv_link"}, msgs: []string{"longer than 2048 bytes (got 2068)"}},
		{name: "every field at fault", c: payload.Candidate{ATSCandidateID: "\x00", Email: "\x00", Name: "\x00", Firstname: "\x00", Lastname: "\x00", CVLink: "\x00"},
			paths: []string{"candidates[0].ats_candidate_id", "candidates[0].email", "candidates[0].name", "candidates[0].firstname", "candidates[0].lastname", "candidates[0].cv_link"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := payload.ValidateCandidate(0, tt.c)
			wantPaths(t, err, tt.paths, tt.msgs)
			if err != nil && strings.ContainsFunc(err.Error(), func(r rune) bool {
				return r < 0x20 || r == 0x7f || r == 0x9b || r == 0x85 || r == 0x202e || r == 0x2067 || r == utf8.RuneError
			}) {
				t.Errorf("the error shows a raw control character or bad byte: %q", err)
			}
		})
	}
}

func TestValidateCandidateQuotesLongValuesShort(t *testing.T) {
	t.Parallel()
	err := payload.ValidateCandidate(0, payload.Candidate{Email: "a@example.com", ATSCandidateID: strings.Repeat("z", 10_000)})
	if err == nil {
		t.Fatal("err = nil, want a not-a-UUID error")
	}
	if len(err.Error()) > 200 {
		t.Errorf("error is %d bytes long, want a value cut short: %.300s", len(err.Error()), err)
	}
}

func TestValidateMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		m     string
		paths []string
		msgs  []string
	}{
		{name: "absent", m: ""},
		{name: "exactly ten", m: "0123456789"},
		{name: "ten runes of multibyte text", m: "ÄÖÜäöüßéèê"},
		{name: "html with placeholders", m: "<p>Dear {{candidate_name}}</p>"},
		{name: "nine", m: "012345678", paths: []string{"invitation_message"}, msgs: []string{"at least 10 characters, got 9"}},
		{name: "nine multibyte runes is nine", m: "ÄÖÜäöüßéè", paths: []string{"invitation_message"}, msgs: []string{"got 9"}},
		{name: "one space", m: " ", paths: []string{"invitation_message"}},
		{name: "line breaks and tabs are fine", m: "<p>Dear {{candidate_name}},</p>\n\t<p>Hello</p>\r\n"},
		{name: "invalid UTF-8", m: "Dear {{candidate_name}}, bienvenue \xe0 bord",
			paths: []string{"invitation_message"}, msgs: []string{`not valid UTF-8: byte 0xE0 after "...idate_name}}, bienvenue "`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantPaths(t, payload.ValidateMessage(tt.m), tt.paths, tt.msgs)
		})
	}
}

func TestTargetValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target payload.Target
		paths  []string
		msgs   []string
	}{
		{name: "interview set", target: payload.Target{InterviewSetID: uuidA}},
		{name: "project", target: payload.Target{ProjectID: uuidA}},
		{name: "project and job post", target: payload.Target{ProjectID: uuidA, JobPostID: uuidB}},
		{name: "both set", target: payload.Target{InterviewSetID: uuidA, ProjectID: uuidB}},
		{name: "none", target: payload.Target{},
			paths: []string{"com_interview_set_id"}, msgs: []string{"required when com_project_id is absent"}},
		{name: "job post alone", target: payload.Target{JobPostID: uuidA},
			paths: []string{"com_interview_set_id"}},
		{name: "interview set not a uuid", target: payload.Target{InterviewSetID: "set-1"},
			paths: []string{"com_interview_set_id"}, msgs: []string{`not a UUID: "set-1"`}},
		{name: "project not a uuid", target: payload.Target{ProjectID: "p"},
			paths: []string{"com_project_id"}, msgs: []string{"not a UUID"}},
		{name: "job post not a uuid", target: payload.Target{ProjectID: uuidA, JobPostID: "jp"},
			paths: []string{"com_job_post_id"}, msgs: []string{"not a UUID"}},
		{name: "every id wrong", target: payload.Target{InterviewSetID: "a", ProjectID: "b", JobPostID: "c"},
			paths: []string{"com_interview_set_id", "com_project_id", "com_job_post_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantPaths(t, tt.target.Validate(), tt.paths, tt.msgs)
		})
	}
}

func TestValidateRequest(t *testing.T) {
	t.Parallel()
	good := func() *payload.InviteRequest {
		return &payload.InviteRequest{
			ComInterviewSetID: uuidA,
			Candidates: []payload.Candidate{
				{ATSCandidateID: uuidB, Email: "alex@example.com"},
				{ATSCandidateID: uuidC, CVLink: "https://example.com/cv.pdf"},
			},
		}
	}
	tests := []struct {
		name   string
		mutate func(r *payload.InviteRequest)
		paths  []string
		msgs   []string
	}{
		{name: "good", mutate: func(*payload.InviteRequest) {}},
		{name: "good with message and send_invite false", mutate: func(r *payload.InviteRequest) {
			r.InvitationMessage = "Hello {{candidate_name}}!"
			f := false
			r.SendInvite = &f
		}},
		{name: "no target", mutate: func(r *payload.InviteRequest) { r.ComInterviewSetID = "" },
			paths: []string{"com_interview_set_id"}},
		{name: "bad project", mutate: func(r *payload.InviteRequest) { r.ComProjectID = "nope" },
			paths: []string{"com_project_id"}},
		{name: "bad job post", mutate: func(r *payload.InviteRequest) { r.ComJobPostID = "nope" },
			paths: []string{"com_job_post_id"}},
		{name: "short message", mutate: func(r *payload.InviteRequest) { r.InvitationMessage = "Hi" },
			paths: []string{"invitation_message"}, msgs: []string{"at least 10"}},
		{name: "no candidates", mutate: func(r *payload.InviteRequest) { r.Candidates = nil },
			paths: []string{"candidates"}, msgs: []string{"at least 1 candidate"}},
		{name: "empty candidates", mutate: func(r *payload.InviteRequest) { r.Candidates = []payload.Candidate{} },
			paths: []string{"candidates"}},
		{name: "bad candidate names its index", mutate: func(r *payload.InviteRequest) {
			r.Candidates = append(r.Candidates, payload.Candidate{}, payload.Candidate{Email: "x@"})
		}, paths: []string{"candidates[2].email", "candidates[3].email"}},
		{name: "duplicate ats id", mutate: func(r *payload.InviteRequest) {
			r.Candidates = append(r.Candidates, payload.Candidate{ATSCandidateID: uuidB, Email: "b@example.com"})
		}, paths: []string{"candidates[2].ats_candidate_id"}, msgs: []string{"duplicate of candidates[0].ats_candidate_id"}},
		{name: "duplicate ats id differing in case", mutate: func(r *payload.InviteRequest) {
			r.Candidates = append(r.Candidates, payload.Candidate{ATSCandidateID: strings.ToUpper(uuidC), Email: "b@example.com"})
		}, paths: []string{"candidates[2].ats_candidate_id"}, msgs: []string{"duplicate of candidates[1]"}},
		{name: "third copy names the first", mutate: func(r *payload.InviteRequest) {
			r.Candidates = append(r.Candidates,
				payload.Candidate{ATSCandidateID: uuidB, Email: "b@example.com"},
				payload.Candidate{ATSCandidateID: uuidB, Email: "c@example.com"})
		}, paths: []string{"candidates[2].ats_candidate_id", "candidates[3].ats_candidate_id"},
			msgs: []string{"candidates[0]", "candidates[0]"}},
		{name: "empty ats ids are not duplicates", mutate: func(r *payload.InviteRequest) {
			r.Candidates = []payload.Candidate{{Email: "a@example.com"}, {Email: "b@example.com"}}
		}},
		{name: "every failure listed in order", mutate: func(r *payload.InviteRequest) {
			r.ComInterviewSetID = ""
			r.InvitationMessage = "short"
			r.Candidates[0].Email = "bad"
			r.Candidates[1].CVLink = "http://example.com/cv"
		}, paths: []string{"com_interview_set_id", "invitation_message", "candidates[0].email", "candidates[1].cv_link"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := good()
			tt.mutate(r)
			err := payload.ValidateRequest(r)
			wantPaths(t, err, tt.paths, tt.msgs)
			if err != nil {
				var es payload.Errors
				if !errors.As(err, &es) {
					t.Fatalf("ValidateRequest error is %T, want payload.Errors", err)
				}
				if len(es) > 1 && !strings.HasPrefix(err.Error(), strconv.Itoa(len(es))+" errors: ") {
					t.Errorf("Error() = %q, want a count prefix", err.Error())
				}
			}
		})
	}
}

func TestErrorsFormatting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		es    payload.Errors
		want  string
		isNil bool
	}{
		{name: "empty", es: nil, want: "no errors", isNil: true},
		{name: "one", es: payload.Errors{{Index: 2, Field: "email", Msg: "bad"}}, want: "candidates[2].email: bad"},
		{name: "two", es: payload.Errors{{Index: -1, Field: "candidates", Msg: "empty"}, {Index: 0, Field: "cv_link", Msg: "bad"}},
			want: "2 errors: candidates: empty; candidates[0].cv_link: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.es.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if got := tt.es.OrNil(); (got == nil) != tt.isNil {
				t.Errorf("OrNil() = %v, want nil: %v", got, tt.isNil)
			}
		})
	}
}

func TestIsUUID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{name: "v7", s: uuidA, want: true},
		{name: "upper", s: strings.ToUpper(uuidA), want: true},
		{name: "nil uuid", s: "00000000-0000-0000-0000-000000000000", want: true},
		{name: "empty", s: ""},
		{name: "no hyphens", s: strings.ReplaceAll(uuidA, "-", "")},
		{name: "non hex", s: "019c5ea9-a792-7f0d-b671-4c3c1602094g"},
		{name: "hyphen moved", s: "019c5ea9a-792-7f0d-b671-4c3c1602094e"},
		{name: "trailing space", s: uuidA + " "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := payload.IsUUID(tt.s); got != tt.want {
				t.Errorf("IsUUID(%q) = %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}

// uuidParseIsUUID is IsUUID as it was, through github.com/google/uuid.
func uuidParseIsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// TestIsUUIDAsUUIDParse: IsUUID accepts and rejects what the check through
// uuid.Parse did: the canonical form in either case, every version and
// variant; not braces, the urn:uuid: prefix, missing or moved dashes, or any
// other byte at any position.
func TestIsUUIDAsUUIDParse(t *testing.T) {
	const v = "0b5c2a52-8a6e-4d44-9d63-2f4d0a6f6a11"
	cases := []string{
		v, strings.ToUpper(v), "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
		"FfFfFfFf-aAbB-cCdD-eEfF-0123456789aB",
		"{" + v + "}", "urn:uuid:" + v, "URN:UUID:" + v, strings.ReplaceAll(v, "-", ""),
		"{" + strings.ReplaceAll(v, "-", "") + "}", v[:35], v + "0", " " + v[1:], v[:35] + "\n",
		strings.Replace(v, "-", "", 1) + "0", "0" + strings.Replace(v, "-", "", 1),
		strings.Replace(v, "-", "_", 1), v[:8] + "0" + v[9:], "", "-", strings.Repeat("-", 36),
		"0b5c2a52-8a6e-4d44-9d63-2f4d0a6f6a1g", "0b5c2a5G-8a6e-4d44-9d63-2f4d0a6f6a11",
		"0b5c2a52-8a6e-4d44-9d632-f4d0a6f6a11", "0b5c2a528-a6e-4d44-9d63-2f4d0a6f6a11",
		"0b5c2a52-8a6e-4d44-9d63-2f4d0a6f6aé", "0b5c2a52-8a6e-4d44-9d63-2f4d0a6f6a\x00\x00",
	}
	for i := range 36 { // every byte at every position of a valid one
		for c := range 256 {
			cases = append(cases, v[:i]+string([]byte{byte(c)})+v[i+1:])
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	const alphabet = "0123456789abcdefABCDEFgG-{}:xu "
	for range 20_000 { // random strings near the form: 34 to 38 bytes
		b := make([]byte, 34+r.IntN(5))
		for i := copy(b, v); i < len(b); i++ {
			b[i] = '0'
		}
		for range 1 + r.IntN(3) {
			b[r.IntN(len(b))] = alphabet[r.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	accepted := 0
	for _, s := range cases {
		want := uuidParseIsUUID(s)
		if got := payload.IsUUID(s); got != want {
			t.Errorf("IsUUID(%q) = %v, uuid.Parse says %v", s, got, want)
		}
		if want {
			accepted++
		}
	}
	if accepted < 1000 || accepted == len(cases) {
		t.Errorf("%d of %d cases accepted: the cases do not exercise both answers", accepted, len(cases))
	}
}
