package producer_test

import (
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

func TestJSONLSource(t *testing.T) {
	t.Parallel()
	alex := payload.Candidate{Email: "alex@example.com"}
	bo := payload.Candidate{Email: "bo@example.com"}
	tests := []struct {
		name string
		in   string
		want []want
	}{
		{name: "empty", in: ""},
		{name: "blank lines only", in: "\n  \n\r\n\t\n"},
		{name: "plain", in: `{"email":"alex@example.com"}` + "\n" + `{"cv_link":"https://example.com/cv.pdf","name":"Bo"}` + "\n",
			want: []want{ok(1, alex), ok(2, payload.Candidate{CVLink: "https://example.com/cv.pdf", Name: "Bo"})}},
		{name: "every field", in: `{"ats_candidate_id":"` + uuidA + `","email":"alex@example.com","name":"Alex Doe","firstname":"Alex","lastname":"Doe","cv_link":"https://example.com/cv.pdf"}`,
			want: []want{ok(1, payload.Candidate{ATSCandidateID: uuidA, Email: "alex@example.com", Name: "Alex Doe", Firstname: "Alex", Lastname: "Doe", CVLink: "https://example.com/cv.pdf"})}},
		{name: "no final line end", in: `{"email":"alex@example.com"}`, want: []want{ok(1, alex)}},
		{name: "blank lines skipped, line numbers kept", in: "\n" + `{"email":"alex@example.com"}` + "\n\n   \n" + `{"email":"bo@example.com"}` + "\n\n",
			want: []want{ok(2, alex), ok(5, bo)}},
		{name: "CRLF and BOM", in: "\ufeff" + `{"email":"alex@example.com"}` + "\r\n" + `{"email":"bo@example.com"}` + "\r\n",
			want: []want{ok(1, alex), ok(2, bo)}},
		{name: "unknown fields tolerated", in: `{"email":"alex@example.com","phone":"+1","tags":["a",{"b":1}]}`, want: []want{ok(1, alex)}},
		{name: "nulls are absent", in: `{"email":"alex@example.com","name":null,"cv_link":null}`, want: []want{ok(1, alex)}},
		{name: "trimmed", in: `{"email":"  alex@example.com\t","name":"  "}`, want: []want{ok(1, alex)}},
		{name: "indented object on one line", in: `   { "email" : "alex@example.com" }   `, want: []want{ok(1, alex)}},

		{name: "bad line in the middle, reading goes on",
			in:   `{"email":"alex@example.com"}` + "\n" + `{"email": "bo@example.com",` + "\n" + `{"email":"bo@example.com"}` + "\n",
			want: []want{ok(1, alex), rejected(2, "", "not valid JSON"), ok(3, bo)}},
		{name: "array line", in: `[{"email":"alex@example.com"}]`, want: []want{rejected(1, "", "not a JSON object (got an array)")}},
		{name: "string line", in: `"alex@example.com"`, want: []want{rejected(1, "", "not a JSON object (got a string)")}},
		{name: "number line", in: `42`, want: []want{rejected(1, "", "not a JSON object (got a number)")}},
		{name: "null line", in: `null`, want: []want{rejected(1, "", "not a JSON object (got null)")}},
		{name: "true line", in: `true`, want: []want{rejected(1, "", "not a JSON object (got true or false)")}},
		{name: "plain text line", in: `alex@example.com`, want: []want{rejected(1, "", "not valid JSON")}},
		{name: "a CSV by mistake", in: "email,name\nalex@example.com,Alex\n",
			want: []want{rejected(1, "", "not valid JSON"), rejected(2, "", "not valid JSON")}},
		{name: "two objects on a line", in: `{"email":"alex@example.com"} {"email":"bo@example.com"}`, want: []want{rejected(1, "", "not valid JSON")}},
		{name: "email of the wrong type names the field", in: `{"email":42}`, want: []want{rejected(1, "email", "expected a string, got a number")}},
		{name: "ats id of the wrong type names the field", in: `{"email":"alex@example.com","ats_candidate_id":12345}`,
			want: []want{{row: 1, field: "ats_candidate_id", msg: "expected a string, got a number", c: alex}}},
		{name: "name as an object names the field", in: `{"email":"alex@example.com","name":{"first":"Alex"}}`,
			want: []want{rejected(1, "name", "expected a string, got an object")}},
		{name: "cv_link as an array", in: `{"cv_link":["https://example.com/cv.pdf"]}`, want: []want{rejected(1, "cv_link", "expected a string, got an array")}},
		{name: "email as a bool", in: `{"email":true}`, want: []want{rejected(1, "email", "expected a string, got true or false")}},
		{name: "neither email nor cv_link", in: `{"name":"Nobody"}`, want: []want{rejected(1, "email", "required when cv_link is absent")}},
		{name: "empty object", in: `{}`, want: []want{rejected(1, "email", "required")}},
		{name: "bad email", in: `{"email":"x@"}`, want: []want{rejected(1, "email", `not a valid email address: "x@"`)}},
		{name: "http cv link", in: `{"cv_link":"http://example.com/cv.pdf"}`, want: []want{rejected(1, "cv_link", "must be an https URL")}},
		{name: "bad ats id", in: `{"email":"alex@example.com","ats_candidate_id":"1"}`, want: []want{rejected(1, "ats_candidate_id", "not a UUID")}},
		{name: "invalid UTF-8 in a name names the line and field, reading goes on",
			in:   "{\"email\":\"alex@example.com\",\"name\":\"Jos\xe9 Garc\xeda\"}\n{\"email\":\"bo@example.com\"}\n",
			want: []want{rejected(1, "name", `not valid UTF-8: byte 0xE9 after "Jos"`), ok(2, bo)}},
		{name: "invalid UTF-8 in a key matched ignoring case", in: "{\"EMAIL\":\"alex@example.com\",\"LastName\":\"\xffDoe\"}",
			want: []want{rejected(1, "lastname", "not valid UTF-8: byte 0xFF at the start")}},
		{name: "invalid UTF-8 in an email", in: "{\"email\":\"jos\xe9@example.com\"}",
			want: []want{rejected(1, "email", "not valid UTF-8")}},
		{name: "invalid UTF-8 in an unknown field is ignored", in: "{\"email\":\"alex@example.com\",\"notes\":\"caf\xe9\"}",
			want: []want{ok(1, alex)}},
		{name: "an escaped control character rejects the line", in: `{"email":"alex@example.com","name":"\u001b[31mAlex"}`,
			want: []want{rejected(1, "name", "control character U+001B at character 1")}},
		{name: "an escaped line break in a name becomes a space", in: `{"email":"alex@example.com","name":"Alex\r\nDoe"}`,
			want: []want{ok(1, payload.Candidate{Email: "alex@example.com", Name: "Alex Doe"})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			recs, err := readAll(t, producer.NewJSONLSource(strings.NewReader(tt.in)))
			if err != nil {
				t.Fatalf("fatal error: %v", err)
			}
			checkRecords(t, producer.WhereLine, recs, tt.want)
		})
	}
}

func TestJSONLOverlongLineIsRejected(t *testing.T) {
	t.Parallel()
	in := `{"email":"alex@example.com"}` + "\n" +
		`{"email":"bo@example.com","notes":"` + strings.Repeat("x", producer.MaxRecordBytes) + `"}` + "\n" +
		`{"email":"cy@example.com"}` + "\n" +
		`{"notes":"` + strings.Repeat("y", producer.MaxRecordBytes) + `"}` // last line, no line end
	recs, err := readAll(t, producer.NewJSONLSource(strings.NewReader(in)))
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, producer.WhereLine, recs, []want{
		ok(1, payload.Candidate{Email: "alex@example.com"}),
		rejected(2, "", "line longer than"),
		ok(3, payload.Candidate{Email: "cy@example.com"}),
		rejected(4, "", "line longer than"),
	})
}

func TestJSONLLongLineWithinLimit(t *testing.T) {
	t.Parallel()
	in := `{"email":"alex@example.com","notes":"` + strings.Repeat("x", producer.MaxRecordBytes/2) + `"}` + "\n" + `{"email":"bo@example.com"}`
	recs, err := readAll(t, producer.NewJSONLSource(strings.NewReader(in)))
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, producer.WhereLine, recs, []want{ok(1, payload.Candidate{Email: "alex@example.com"}), ok(2, payload.Candidate{Email: "bo@example.com"})})
}
