package flowmingo

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/payload"
)

// answerOf50 is the vendor's answer to a request of 50, every candidate
// invited, in the sandbox's compact form.
func answerOf50(tb testing.TB) []byte {
	tb.Helper()
	var b strings.Builder
	b.WriteString(`{"results":[`)
	for i := range 50 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"email_address":"candidate%[1]d@example.com","invitation":{"id":"019c5ec0-0000-7000-8000-%012[1]d",`+
			`"email":"candidate%[1]d@example.com","status_text":"pending"},"submission":{"id":"019c5ec1-0000-7000-8000-%012[1]d","status_text":"need_interview"}}`, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// fastSeeds are bodies of the vendor's shape and near it, for the tests and
// the fuzz target's corpus.
var fastSeeds = []string{
	`{"results":[{"email_address":"alice@example.com","invitation":{"id":"i","email":"alice@example.com","status_text":"pending"},"submission":{"id":"s","status_text":"need_interview"}}]}`,
	` { "results" : [ { "email_address" : "a@x.io" , "cv_link" : "https://x.io/a.pdf" } ] , "meta" : { "n" : [1, -2.5e+3, true, false, null, "x"] } } `,
	`{"results":[{"cv_link":"https://cv.example.com/c.pdf","candidate_entry":{"id":"c","n":[1,{"a":null}]}}]}`,
	`{"results":[{"email_address":"A@x.io","error_message":{"code":1}},{"email_address":"b@x.io","invitation_error_message":"dup"}]}`,
	`{"results":[{"email_address":"a@x.io","submission_error_message":null,"application_error_message":"","candidate_entry_error_message":[1,2]}]}`,
	`{"results":[{"email_address":null,"invitation":null,"submission":null,"extra":0}]}`,
	`{"results":[{"invitation":{"id":"i","extra":{"x":[]}},"submission":{"status_text":"s"}}]}`,
	`{"results":[{"email_address":"bjørn@example.no"}]}`,
	// Each below is left to encoding/json.
	`{"results":[{"email_address":"a\u0040x.io"}]}`,
	`{"results":[{"Email_Address":"a@x.io"}]}`,
	`{"Results":[{"email_address":"a@x.io"}]}`,
	`{"results":[{"email_address":"a@x.io","email_address":"b@x.io"}]}`,
	`{"results":[{"email_address":"a@x.io"}],"results":[]}`,
	`{"results":[{"invitation":{"id":"i","ID":"j"}}]}`,
	`{"results":[{"email_address":5}]}`,
	`{"results":[{"invitation":"x"}]}`,
	`{"results":[null]}`,
	`{"results":[]}`,
	`{"results":null}`,
	`{}`,
	`{"results":[{}]} trailing`,
	"{\"results\":[{\"email_address\":\"\xff\"}]}",
	`{"results":[{"error_message":01}]}`,
	`{"results":[{"error_message":[1,]}]}`,
	`{"results":[{"error_message":tru}]}`,
	`{"results":[{"email_address":"a@x.io",}]}`,
	`{"results":[{"ſ":"x","kelvin\u212a":1}]}`,
	`<html>502</html>`,
	``,
}

// TestFastResultsMatchEncodingJSON: for every body fastResults takes, its
// results equal encoding/json's (payload.DecodeInviteResponseOf); the vendor's
// plain answer is taken, and the bodies that need encoding/json's rules are
// left to it.
func TestFastResultsMatchEncodingJSON(t *testing.T) {
	t.Parallel()
	taken := map[string]bool{string(answerOf50(t)): true}
	for _, s := range fastSeeds[:8] {
		taken[s] = true
	}
	for _, s := range append(fastSeeds, string(answerOf50(t))) {
		got, ok := fastResults([]byte(s), 1)
		if ok != taken[s] {
			t.Errorf("fastResults(%.60q) ok = %v, want %v", s, ok, taken[s])
		}
		if ok {
			checkSameAsEncodingJSON(t, []byte(s), got)
		}
	}
}

func checkSameAsEncodingJSON(tb testing.TB, body []byte, got []payload.Result) {
	tb.Helper()
	want, err := payload.DecodeInviteResponseOf(body, 1)
	if err != nil {
		tb.Fatalf("fastResults took %q, which encoding/json refuses: %v", body, err)
	}
	if !reflect.DeepEqual(got, want.Results) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want.Results)
		tb.Fatalf("fastResults(%q) =\n%s\nencoding/json:\n%s", body, g, w)
	}
}

// FuzzFastResults: whatever body fastResults takes, encoding/json reads the
// same results from it.
func FuzzFastResults(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	f.Add(answerOf50(f))
	f.Fuzz(func(t *testing.T, body []byte) {
		if got, ok := fastResults(body, 4); ok {
			checkSameAsEncodingJSON(t, body, got)
		}
	})
}

// BenchmarkDecodeResults: the vendor's answer to a request of 50 read and
// matched as Invite does.
func BenchmarkDecodeResults(b *testing.B) {
	body := answerOf50(b)
	cands := make([]payload.Candidate, 50)
	for i := range cands {
		cands[i].Email = fmt.Sprintf("candidate%d@example.com", i)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := decodeResults(body, cands)
		if err != nil || res[49].Kind != Invited {
			b.Fatal(err, res[49])
		}
	}
}
