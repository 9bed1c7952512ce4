package producer

import (
	"encoding/json"
	"testing"

	"github.com/bulkinvite/bulkinvite/payload"
)

// fastCandidateSeeds are objects the fast path reads and objects it must leave
// to encoding/json.
var fastCandidateSeeds = []struct {
	in   string
	fast bool
}{
	{`{"name":"Alex Doe","email":"alex@example.com","cv_link":"https://example.com/alex.pdf"}`, true},
	{" \t{ \"EMAIL\" :\r\n\"a@example.com\" , \"Email\":\"b@example.com\"}\n", true},
	{`{"email":"a@example.com","email":null}`, true},
	{`{"ats_candidate_id":"x","firstname":"Zoë","lastname":"Ødegård","other":"y"}`, true},
	{`{}`, true},
	{`{"email":"a\u0040example.com"}`, false},
	{`{"email":7}`, false},
	{`{"x":[1,2],"email":"a@example.com"}`, false},
	{`{"emaıl":"a@example.com"}`, false},
	{"{\"name\":\"a\xffb\"}", false},
	{"{\"name\":\"a\tb\"}", false},
	{`{"email":"a@example.com"} x`, false},
	{`{"email":"a@example.com",}`, false},
	{`{"email":"a@example.com"`, false},
	{`{"email":nul}`, false},
	{`null`, false},
	{`"a@example.com"`, false},
	{`[]`, false},
}

// TestFastCandidate: the fast path takes the common shape and leaves the rest.
func TestFastCandidate(t *testing.T) {
	t.Parallel()
	for _, tc := range fastCandidateSeeds {
		if _, ok := fastCandidate([]byte(tc.in)); ok != tc.fast {
			t.Errorf("fastCandidate(%q): ok %v, want %v", tc.in, ok, tc.fast)
		}
	}
}

// FuzzFastCandidate: whatever the fast path reads, encoding/json reads the same.
func FuzzFastCandidate(f *testing.F) {
	for _, tc := range fastCandidateSeeds {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := fastCandidate(b)
		if !ok {
			return
		}
		var want *payload.Candidate
		if err := json.Unmarshal(b, &want); err != nil || want == nil {
			t.Fatalf("fastCandidate(%q) = %+v; encoding/json: %v, %v", b, got, want, err)
		}
		if got != *want {
			t.Fatalf("fastCandidate(%q) = %+v; encoding/json: %+v", b, got, *want)
		}
	})
}
