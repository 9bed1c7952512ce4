package flowmingo

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bulkinvite/bulkinvite/payload"
)

// fuzzCandidates makes up to 8 candidates from spec, one a line: "cv:URL" is a
// CV-only candidate, "EMAIL|URL" one with both, anything else an email.
func fuzzCandidates(spec string) []payload.Candidate {
	var cands []payload.Candidate
	for i, line := range strings.Split(spec, "\n") {
		if i == 8 {
			break
		}
		switch {
		case strings.HasPrefix(line, "cv:"):
			cands = append(cands, payload.Candidate{CVLink: line[3:]})
		case strings.Contains(line, "|"):
			email, cv, _ := strings.Cut(line, "|")
			cands = append(cands, payload.Candidate{Email: email, CVLink: cv})
		default:
			cands = append(cands, payload.Candidate{Email: line})
		}
	}
	return cands
}

// FuzzDecodeResponse feeds arbitrary 200 bodies through what Invite does with them:
// redaction, decoding and matching. It must never panic, and whatever it returns must
// keep CandidateResult's promises.
func FuzzDecodeResponse(f *testing.F) {
	for _, seed := range []struct{ body, cands string }{
		{`{"results":[{"email_address":"alice@example.com","invitation":{"id":"i","email":"alice@example.com","status_text":"pending"},"submission":{"id":"s","status_text":"need_interview"}}]}`, "alice@example.com"},
		{`{"results":[{"cv_link":"https://cv.example.com/c.pdf","candidate_entry":{"id":"c"}}]}`, "cv:https://cv.example.com/c.pdf"},
		{`{"results":[{"email_address":"A@x.io","error_message":{"code":1}},{"email_address":"b@x.io","invitation_error_message":"dup"}]}`, "a@x.io\nb@x.io|https://x.io/b.pdf"},
		{`{"results":[{"email_address":"a@x.io","submission_error_message":null,"application_error_message":""}]}`, "a@x.io"},
		{`{"results":[{"email_address":"` + unicodeEscaped(testKey) + `","candidate_entry_error_message":["` + testKey + `"]}]}`, "a@x.io"},
		{`{"results":[]}`, "a@x.io"},
		{`{"results":null}`, "a@x.io"},
		{`{"results":[{}, {}, {}]}`, "a@x.io\ncv:x"},
		{`{"results":[{"email_address":5}]}`, "a@x.io"},
		{`{"results":[{"invitation":"x"}]} trailing`, "a@x.io"},
		{`<html>502</html>`, "a@x.io"},
		{``, ``},
		{`{"results":[{"email_address":"\ud800"}]}`, "\xff"},
	} {
		f.Add([]byte(seed.body), seed.cands)
	}
	f.Fuzz(func(t *testing.T, body []byte, spec string) {
		cands := fuzzCandidates(spec)
		red := newRedactor(NewAPIKey(testKey))
		res, err := decodeResults(red.json(body), cands)
		if err != nil {
			if res != nil {
				t.Fatalf("results along with error %v", err)
			}
			return
		}
		if len(res) != len(cands) {
			t.Fatalf("%d results for %d candidates", len(res), len(cands))
		}
		for i, r := range res {
			checkResultInvariants(t, cands[i], r)
		}
		if strings.Contains(spec, testSecret) {
			return // the candidates themselves hold it; Detail may quote them
		}
		out, err := json.Marshal(res)
		if err != nil {
			t.Fatalf("results do not marshal: %v", err)
		}
		if strings.Contains(string(out), testSecret) {
			t.Fatalf("secret in the results: %s", out)
		}
		for _, r := range res {
			if strings.Contains(r.Detail, testSecret) {
				t.Fatalf("secret in Detail %q", r.Detail)
			}
		}
	})
}

// FuzzExtractMessage feeds arbitrary error bodies to the message extraction: it must
// never panic, and the message is one line of valid UTF-8, short, without the secret.
func FuzzExtractMessage(f *testing.F) {
	for _, seed := range []string{
		`{"message":"bad"}`, `{"message":["a","b"]}`, `{"error":{"message":"x"}}`, `{"detail":[{"msg":"m"}]}`,
		"<html>\n</html>", `{"message":"` + unicodeEscaped(testKey) + `"}`, "key " + testKey, "\xff\xfe", "",
		`{"message":[[[[[[["deep"]]]]]]]}`, `{"errors":[{"field":"candidates[3].email","message":"no"}]}`,
		`{"detail":[{"loc":["body","candidates",1],"msg":"m"}]}`, `{"message":["candidates.0.email bad"]}`,
	} {
		f.Add([]byte(seed))
	}
	red := newRedactor(NewAPIKey(testKey))
	f.Fuzz(func(t *testing.T, body []byte) {
		m := extractMessage(body, red)
		if len(m) > maxMessageBytes || !utf8.ValidString(m) || strings.ContainsAny(m, "\n\r\t") || strings.Contains(m, testSecret) {
			t.Fatalf("message %q from %q", m, body)
		}
		if b := red.json(body); strings.Contains(string(b), testSecret) {
			t.Fatalf("secret left in %q", b)
		}
		fields := fieldErrors(body, red)
		if len(fields) > maxFieldErrors {
			t.Fatalf("%d field errors", len(fields))
		}
		for _, fe := range fields {
			for _, s := range []string{fe.Field, fe.Message} {
				if len(s) > maxMessageBytes || !utf8.ValidString(s) || strings.ContainsAny(s, "\n\r\t") || strings.Contains(s, testSecret) {
					t.Fatalf("field error %+v from %q", fe, body)
				}
			}
		}
	})
}
