package producer_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

func readCSV(tb testing.TB, in string) (*producer.CSVSource, []producer.Record, error) {
	tb.Helper()
	src, err := producer.NewCSVSource(strings.NewReader(in))
	if err != nil {
		tb.Fatalf("NewCSVSource: %v", err)
	}
	recs, err := readAll(tb, src)
	return src, recs, err
}

func TestCSVHeaderMatching(t *testing.T) {
	t.Parallel()
	const (
		email = "alex@example.com"
		cv    = "https://example.com/cv/alex.pdf"
	)
	tests := []struct {
		header string
		value  string
		want   payload.Candidate // what the column fills, besides the helper column
	}{
		{header: "ats_candidate_id", value: uuidA, want: payload.Candidate{ATSCandidateID: uuidA}},
		{header: "ATS Candidate ID", value: uuidA, want: payload.Candidate{ATSCandidateID: uuidA}},
		{header: "ats-candidate-id", value: uuidA, want: payload.Candidate{ATSCandidateID: uuidA}},
		{header: "AtsCandidateId", value: uuidA, want: payload.Candidate{ATSCandidateID: uuidA}},
		{header: "ats_id", value: uuidA, want: payload.Candidate{ATSCandidateID: uuidA}},
		{header: "ATS ID", value: uuidA, want: payload.Candidate{ATSCandidateID: uuidA}},
		{header: "candidate_id", value: uuidA, want: payload.Candidate{ATSCandidateID: uuidA}},
		{header: "Candidate Id", value: uuidA, want: payload.Candidate{ATSCandidateID: uuidA}},

		{header: "email", value: email, want: payload.Candidate{Email: email}},
		{header: "EMAIL", value: email, want: payload.Candidate{Email: email}},
		{header: " Email ", value: email, want: payload.Candidate{Email: email}},
		{header: "email_address", value: email, want: payload.Candidate{Email: email}},
		{header: "Email Address", value: email, want: payload.Candidate{Email: email}},
		{header: "EmailAddress", value: email, want: payload.Candidate{Email: email}},
		{header: "email-address", value: email, want: payload.Candidate{Email: email}},
		{header: "e-mail", value: email, want: payload.Candidate{Email: email}},
		{header: "E-Mail", value: email, want: payload.Candidate{Email: email}},
		{header: "mail", value: email, want: payload.Candidate{Email: email}},

		{header: "name", value: "Alex Doe", want: payload.Candidate{Name: "Alex Doe"}},
		{header: "Full Name", value: "Alex Doe", want: payload.Candidate{Name: "Alex Doe"}},
		{header: "full_name", value: "Alex Doe", want: payload.Candidate{Name: "Alex Doe"}},
		{header: "candidate_name", value: "Alex Doe", want: payload.Candidate{Name: "Alex Doe"}},
		{header: "Candidate Name", value: "Alex Doe", want: payload.Candidate{Name: "Alex Doe"}},

		{header: "firstname", value: "Alex", want: payload.Candidate{Firstname: "Alex"}},
		{header: "First Name", value: "Alex", want: payload.Candidate{Firstname: "Alex"}},
		{header: "first_name", value: "Alex", want: payload.Candidate{Firstname: "Alex"}},
		{header: "first-name", value: "Alex", want: payload.Candidate{Firstname: "Alex"}},
		{header: "FIRSTNAME", value: "Alex", want: payload.Candidate{Firstname: "Alex"}},
		{header: "first", value: "Alex", want: payload.Candidate{Firstname: "Alex"}},
		{header: "given_name", value: "Alex", want: payload.Candidate{Firstname: "Alex"}},
		{header: "Given Name", value: "Alex", want: payload.Candidate{Firstname: "Alex"}},

		{header: "lastname", value: "Doe", want: payload.Candidate{Lastname: "Doe"}},
		{header: "Last Name", value: "Doe", want: payload.Candidate{Lastname: "Doe"}},
		{header: "last_name", value: "Doe", want: payload.Candidate{Lastname: "Doe"}},
		{header: "last", value: "Doe", want: payload.Candidate{Lastname: "Doe"}},
		{header: "surname", value: "Doe", want: payload.Candidate{Lastname: "Doe"}},
		{header: "Surname", value: "Doe", want: payload.Candidate{Lastname: "Doe"}},
		{header: "family_name", value: "Doe", want: payload.Candidate{Lastname: "Doe"}},
		{header: "Family-Name", value: "Doe", want: payload.Candidate{Lastname: "Doe"}},

		{header: "cv_link", value: cv, want: payload.Candidate{CVLink: cv}},
		{header: "CV Link", value: cv, want: payload.Candidate{CVLink: cv}},
		{header: "cvlink", value: cv, want: payload.Candidate{CVLink: cv}},
		{header: "cv", value: cv, want: payload.Candidate{CVLink: cv}},
		{header: "CV", value: cv, want: payload.Candidate{CVLink: cv}},
		{header: "cv_url", value: cv, want: payload.Candidate{CVLink: cv}},
		{header: "CV URL", value: cv, want: payload.Candidate{CVLink: cv}},
		{header: "resume", value: cv, want: payload.Candidate{CVLink: cv}},
		{header: "Resume", value: cv, want: payload.Candidate{CVLink: cv}},
		{header: "resume_url", value: cv, want: payload.Candidate{CVLink: cv}},
		{header: "Resume URL", value: cv, want: payload.Candidate{CVLink: cv}},
		{header: "resume-link", value: cv, want: payload.Candidate{CVLink: cv}},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			t.Parallel()
			// A helper column keeps the row valid whatever the column under test feeds.
			helper, helperValue, wantC := "cv_link", cv, tt.want
			if wantC.CVLink != "" {
				helper, helperValue = "email", email
				wantC.Email = email
			} else {
				wantC.CVLink = cv
			}
			in := `"` + tt.header + `",` + helper + "\n" + tt.value + "," + helperValue + "\n"
			src, recs, err := readCSV(t, in)
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, producer.WhereLine, recs, []want{ok(2, wantC)})
			if len(src.Ignored()) != 0 {
				t.Errorf("Ignored() = %q, want none", src.Ignored())
			}
		})
	}
}

func TestCSVIgnoredColumns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string
		row    string
		want   payload.Candidate
		ign    []string
	}{
		{name: "unknown columns named once in order",
			header: "Department,email,Notes,Phone,Notes", row: "Sales,a@example.com,n1,+1,n2",
			want: payload.Candidate{Email: "a@example.com"}, ign: []string{"Department", "Notes", "Phone"}},
		{name: "second email column loses",
			header: "Email Address,E-Mail", row: "first@example.com,second@example.com",
			want: payload.Candidate{Email: "first@example.com"}, ign: []string{`E-Mail (another email column: "Email Address" is used)`}},
		{name: "second cv column loses",
			header: "email,resume,cv_link", row: "a@example.com,https://a.example/1,https://a.example/2",
			want: payload.Candidate{Email: "a@example.com", CVLink: "https://a.example/1"}, ign: []string{`cv_link (another cv_link column: "resume" is used)`}},
		{name: "column without a name",
			header: "email,,name", row: "a@example.com,x,Alex",
			want: payload.Candidate{Email: "a@example.com", Name: "Alex"}, ign: []string{"(column 2, no name)"}},
		{name: "nothing ignored", header: "email,cv_link", row: "a@example.com,",
			want: payload.Candidate{Email: "a@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src, recs, err := readCSV(t, tt.header+"\n"+tt.row+"\n"+tt.row+"\n")
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, producer.WhereLine, recs, []want{ok(2, tt.want), ok(3, tt.want)})
			if got := src.Ignored(); !reflect.DeepEqual(got, tt.ign) {
				t.Errorf("Ignored() = %q, want %q", got, tt.ign)
			}
		})
	}
}

func TestNewCSVSourceErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "empty", in: "", want: []string{"the file is empty"}},
		{name: "only blank lines", in: "\n\r\n\n", want: []string{"the file is empty"}},
		{name: "only a BOM", in: "\ufeff", want: []string{"the file is empty"}},
		{name: "no email and no cv_link column", in: "name,phone\nAlex,+1\n",
			want: []string{"line 1 has no email or cv_link column", `found "name", "phone"`, "email_address", "cv_url"}},
		{name: "data without a header", in: "alex@example.com,https://example.com/cv\n",
			want: []string{"no email or cv_link column", `"alex@example.com"`, "the first row must name the columns"}},
		{name: "header after blank lines names its line", in: "\n\nfoo,bar\n", want: []string{"line 3 has no email"}},
		{name: "bare quote in the header", in: "em\"ail,cv\n", want: []string{"line 1", `'"' inside a field`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src, err := producer.NewCSVSource(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("NewCSVSource = %v, want an error", src)
			}
			if !errors.Is(err, producer.ErrCSVHeader) {
				t.Errorf("errors.Is(%v, ErrCSVHeader) = false", err)
			}
			for _, frag := range tt.want {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error %q lacks %q", err, frag)
				}
			}
		})
	}
}

func TestCSVSource(t *testing.T) {
	t.Parallel()
	alex := payload.Candidate{Email: "alex@example.com"}
	cvOnly := payload.Candidate{CVLink: "https://example.com/cv.pdf"}
	tests := []struct {
		name string
		in   string
		want []want
	}{
		{name: "plain", in: "email,cv_link\nalex@example.com,\n,https://example.com/cv.pdf\n",
			want: []want{ok(2, alex), ok(3, cvOnly)}},
		{name: "no final line end", in: "email\nalex@example.com", want: []want{ok(2, alex)}},
		{name: "BOM", in: "\ufeffemail,cv_link\nalex@example.com,\n", want: []want{ok(2, alex)}},
		{name: "BOM before a quoted header", in: "\ufeff\"email\",\"cv_link\"\nalex@example.com,\n", want: []want{ok(2, alex)}},
		{name: "CRLF", in: "email,name\r\nalex@example.com,Alex\r\nbo@example.com,Bo\r\n",
			want: []want{ok(2, payload.Candidate{Email: "alex@example.com", Name: "Alex"}), ok(3, payload.Candidate{Email: "bo@example.com", Name: "Bo"})}},
		{name: "quoted fields with newlines keep line numbers; a name's line breaks become a space",
			in: "name,email\n\"Alex\nDoe\",alex@example.com\n\"Bo\r\n\r\nBo\",bo@example.com\ncy,cy@example.com\n",
			want: []want{
				ok(2, payload.Candidate{Name: "Alex Doe", Email: "alex@example.com"}),
				ok(4, payload.Candidate{Name: "Bo Bo", Email: "bo@example.com"}),
				ok(7, payload.Candidate{Name: "cy", Email: "cy@example.com"}),
			}},
		{name: "tabs and line breaks in names become one space, other spaces are kept",
			in:   "email,name,first name,last name\nalex@example.com,\"Alex \t Doe\",\"Al\u2028ex\",\"van  der\r\nDoe\"\n",
			want: []want{ok(2, payload.Candidate{Email: "alex@example.com", Name: "Alex Doe", Firstname: "Al ex", Lastname: "van  der Doe"})}},
		{name: "control characters reject the row, reading goes on",
			in: "email,name,last name\nalex@example.com,\"Alex\x1b[31m\",Doe\nbo@example.com,Bo,\"Doe\x00\"\ncy@example.com,Cy,\n",
			want: []want{
				rejected(2, "name", "contains the control character U+001B at character 5"),
				rejected(3, "lastname", "contains the control character U+0000 at character 4"),
				ok(4, payload.Candidate{Email: "cy@example.com", Name: "Cy"}),
			}},
		{name: "a bidirectional override rejects the row", in: "email,name\nalex@example.com,\"\u202eeoD xelA\"\n",
			want: []want{rejected(2, "name", "bidirectional control character U+202E at character 1")}},
		{name: "invalid UTF-8 rejects the row, naming the field",
			in: "email,first name,cv\nalex@example.com,Jos\xe9,\nbo@example.com,Bo,\n",
			want: []want{
				rejected(2, "firstname", `not valid UTF-8: byte 0xE9 after "Jos"; is the input in another encoding`),
				ok(3, payload.Candidate{Email: "bo@example.com", Firstname: "Bo"}),
			}},
		{name: "invalid UTF-8 in an ignored column is ignored", in: "email,notes\nalex@example.com,caf\xe9\n", want: []want{ok(2, alex)}},
		{name: "a name too long", in: "email,name\nalex@example.com," + strings.Repeat("x", payload.MaxNameLen+1) + "\n",
			want: []want{rejected(2, "name", "longer than 200 characters (got 201)")}},
		{name: "a cv link too long", in: "cv\nhttps://example.com/" + strings.Repeat("x", payload.MaxCVLinkLen) + "\n",
			want: []want{rejected(2, "cv_link", "longer than 2048 bytes")}},
		{name: "quoted comma and escaped quote", in: "name,email\n\"Doe, \"\"Alex\"\"\",alex@example.com\n",
			want: []want{ok(2, payload.Candidate{Name: `Doe, "Alex"`, Email: "alex@example.com"})}},
		{name: "ragged rows", in: "email,name,cv_link\nalex@example.com\nbo@example.com,Bo\n",
			want: []want{ok(2, alex), ok(3, payload.Candidate{Email: "bo@example.com", Name: "Bo"})}},
		{name: "extra fields ignored", in: "email\nalex@example.com,x,y,z\n", want: []want{ok(2, alex)}},
		{name: "empty lines skipped, line numbers kept", in: "email\n\nalex@example.com\n\n\r\n\nbo@example.com\n",
			want: []want{ok(3, alex), ok(7, payload.Candidate{Email: "bo@example.com"})}},
		{name: "rows of empty fields skipped", in: "email,name\n,\n  ,\t\nalex@example.com,\n", want: []want{ok(4, alex)}},
		{name: "fields trimmed, blank becomes absent",
			in:   "ats_id,email,name,firstname,lastname,cv_link\n  " + uuidA + " , alex@example.com ,\" Alex Doe \", ,\t,  \n",
			want: []want{ok(2, payload.Candidate{ATSCandidateID: uuidA, Email: "alex@example.com", Name: "Alex Doe"})}},
		{name: "email case kept", in: "email\nAlex@Example.COM\n", want: []want{ok(2, payload.Candidate{Email: "Alex@Example.COM"})}},
		{name: "no de-duplication", in: "email\nalex@example.com\nALEX@example.com\nalex@example.com\n",
			want: []want{ok(2, alex), ok(3, payload.Candidate{Email: "ALEX@example.com"}), ok(4, alex)}},
		{name: "semicolon separated after blank lines", in: "\n\r\nEmail;Name\nalex@example.com;Alex\n",
			want: []want{ok(4, payload.Candidate{Email: "alex@example.com", Name: "Alex"})}},
		{name: "semicolon separated", in: "Email;Name\nalex@example.com;Alex\n",
			want: []want{ok(2, payload.Candidate{Email: "alex@example.com", Name: "Alex"})}},
		{name: "tab separated keeps empty fields", in: "name\temail\tcv\n\talex@example.com\t\n",
			want: []want{ok(2, alex)}},
		{name: "only one column", in: "cv\nhttps://example.com/cv.pdf\n", want: []want{ok(2, cvOnly)}},

		{name: "neither email nor cv_link", in: "email,cv_link,name\n,,Nobody\n",
			want: []want{rejected(2, "email", "required when cv_link is absent")}},
		{name: "neither, without a cv_link column", in: "email,name\n,Nobody\n",
			want: []want{rejected(2, "email", "required when cv_link is absent")}},
		{name: "bad ats id", in: "ats_candidate_id,email\n12345,alex@example.com\n",
			want: []want{rejected(2, "ats_candidate_id", `not a UUID: "12345"`)}},
		{name: "bad email", in: "email\nx@\n", want: []want{rejected(2, "email", `not a valid email address: "x@"`)}},
		{name: "http cv link", in: "cv_url\nhttp://example.com/cv.pdf\n",
			want: []want{rejected(2, "cv_link", "must be an https URL")}},
		{name: "every fault listed, first named", in: "ats_id,email,cv\nx,y,http://h/cv\n",
			want: []want{rejected(2, "ats_candidate_id", `not a UUID: "x"; email: not a valid email address: "y"; cv_link: must be an https URL`)}},
		{name: "rejected row keeps what was read", in: "email,name\nx@, Alex \n",
			want: []want{{row: 2, field: "email", msg: "not a valid", c: payload.Candidate{Email: "x@", Name: "Alex"}}}},
		{name: "reject in the middle, reading goes on", in: "email\nalex@example.com\nnope\nbo@example.com\n",
			want: []want{ok(2, alex), rejected(3, "email", "not a valid"), ok(4, payload.Candidate{Email: "bo@example.com"})}},
		{name: "bare quote rejects the row, reading goes on", in: "name,email\nAl\"ex,alex@example.com\nBo,bo@example.com\n",
			want: []want{rejected(2, "", `'"' inside a field that is not quoted (line 2, column 3)`), ok(3, payload.Candidate{Name: "Bo", Email: "bo@example.com"})}},
		{name: "stray quote after a quoted field rejects the row", in: "name,email\n\"Al\"ex,alex@example.com\nBo,bo@example.com\n",
			want: []want{rejected(2, "", "stray or missing '\"'"), ok(3, payload.Candidate{Name: "Bo", Email: "bo@example.com"})}},
		{name: "unterminated quote at the end rejects its row", in: "email,name\nalex@example.com,Alex\nbo@example.com,\"Bo\nmore\n",
			want: []want{ok(2, payload.Candidate{Email: "alex@example.com", Name: "Alex"}), rejected(3, "", "stray or missing")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, recs, err := readCSV(t, tt.in)
			if err != nil {
				t.Fatalf("fatal error: %v", err)
			}
			checkRecords(t, producer.WhereLine, recs, tt.want)
		})
	}
}

func TestCSVRunawayQuoteIsFatal(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("email,name\nalex@example.com,Alex\nbo@example.com,\"Bo\n")
	for b.Len() < 2*producer.MaxRecordBytes {
		b.WriteString("cy@example.com,Cy\n")
	}
	_, recs, err := readCSV(t, b.String())
	checkRecords(t, producer.WhereLine, recs, []want{ok(2, payload.Candidate{Email: "alex@example.com", Name: "Alex"})})
	if err == nil {
		t.Fatal("no fatal error for a runaway quoted field")
	}
	for _, frag := range []string{"after line 2", "larger than", "closing '\"'"} {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("error %q lacks %q", err, frag)
		}
	}
}

func TestCSVLongRecordWithinLimit(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", producer.MaxRecordBytes/2)
	_, recs, err := readCSV(t, "email,notes\nalex@example.com,\""+long+"\"\nbo@example.com,\n")
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, producer.WhereLine, recs, []want{ok(2, payload.Candidate{Email: "alex@example.com"}), ok(3, payload.Candidate{Email: "bo@example.com"})})
}

// TestSampleCandidatesCSV keeps configs/sample-candidates.csv, which the demo and
// the README use, telling the story they tell.
func TestSampleCandidatesCSV(t *testing.T) {
	t.Parallel()
	src, closer, err := producer.Open(filepath.Join("..", "configs", "sample-candidates.csv"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	recs, err := readAll(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if got := src.(*producer.CSVSource).Ignored(); !reflect.DeepEqual(got, []string{"Department"}) {
		t.Errorf("Ignored() = %q, want [Department]", got)
	}
	var (
		rejectedLines []int64
		cvOnly        int
		emails        = map[string]int64{}
		atsIDs        = map[string]int64{}
		dupes         []int64
		tags          = map[string]bool{}
	)
	for _, r := range recs {
		if r.Err != nil {
			rejectedLines = append(rejectedLines, r.Row)
			continue
		}
		c := r.Candidate
		if c.CVOnly() {
			cvOnly++
		}
		if c.ATSCandidateID != "" {
			if prev, dup := atsIDs[c.ATSCandidateID]; dup {
				t.Errorf("line %d repeats the ats id of line %d", r.Row, prev)
			}
			atsIDs[c.ATSCandidateID] = r.Row
		}
		if c.Email == "" {
			continue
		}
		key := strings.ToLower(c.Email)
		if _, dup := emails[key]; dup {
			dupes = append(dupes, r.Row)
		}
		emails[key] = r.Row
		for _, tag := range []string{"+invitation_error@", "+application_error@", ".invalid"} {
			if strings.Contains(key, tag) {
				tags[tag] = true
			}
		}
	}
	if len(recs) < 10 || len(recs)-len(rejectedLines)-len(dupes)-len(tags) < 4 {
		t.Errorf("%d rows, want about a dozen with several plain good ones", len(recs))
	}
	if !reflect.DeepEqual(rejectedLines, []int64{9, 10}) {
		t.Errorf("rejected lines %v, want [9 10] (no email and no cv_link; a malformed email)", rejectedLines)
	}
	if cvOnly != 1 {
		t.Errorf("%d CV-only rows, want 1", cvOnly)
	}
	if len(dupes) != 1 {
		t.Errorf("duplicate emails on lines %v, want one", dupes)
	}
	if len(tags) != 3 {
		t.Errorf("sandbox triggers present: %v, want +invitation_error, +application_error and .invalid", tags)
	}
}
