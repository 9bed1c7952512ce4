package flowmingo

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/payload"
)

func TestMatchResults(t *testing.T) {
	t.Parallel()
	ok := func(email, cv string) payload.Result { return payload.Result{EmailAddress: email, CVLink: cv} }
	failed := func(email string) payload.Result {
		return payload.Result{EmailAddress: email, ErrorMessage: json.RawMessage(`"nope"`)}
	}
	for _, tc := range []struct {
		name    string
		cands   []payload.Candidate
		results []payload.Result
		want    []Kind
		detail  []string // per candidate, a part of Detail ("" = Detail must be empty)
	}{
		{
			name:    "same order",
			cands:   []payload.Candidate{alice, bob, carol},
			results: []payload.Result{ok("alice@example.com", ""), ok("bob@example.com", bob.CVLink), ok("", carol.CVLink)},
			want:    []Kind{Invited, Invited, CVQueued},
		},
		{
			name:    "email differs in case and surrounding space",
			cands:   []payload.Candidate{{Email: " Alice@Example.COM"}},
			results: []payload.Result{ok("alice@example.com ", "")},
			want:    []Kind{Invited},
		},
		{
			name:    "mismatched email",
			cands:   []payload.Candidate{alice},
			results: []payload.Result{ok("mallory@example.com", "")},
			want:    []Kind{Unknown},
			detail:  []string{`result at position 0: result email_address "mallory@example.com" does not match candidate email "alice@example.com"`},
		},
		{
			name:    "result without email for a candidate with one",
			cands:   []payload.Candidate{bob},
			results: []payload.Result{ok("", bob.CVLink)},
			want:    []Kind{Unknown},
			detail:  []string{`result has no email_address, candidate email is "bob@example.com"`},
		},
		{
			name:    "swapped entries",
			cands:   []payload.Candidate{alice, bob},
			results: []payload.Result{ok("bob@example.com", ""), ok("alice@example.com", "")},
			want:    []Kind{Unknown, Unknown},
			detail:  []string{"does not match", "does not match"},
		},
		{
			name:    "a failed entry that does not match is unknown, not failed",
			cands:   []payload.Candidate{alice},
			results: []payload.Result{failed("bob@example.com")},
			want:    []Kind{Unknown},
			detail:  []string{"does not match"},
		},
		{
			name:    "fewer results: every candidate unknown",
			cands:   []payload.Candidate{alice, bob, carol},
			results: []payload.Result{ok("alice@example.com", ""), ok("bob@example.com", "")},
			want:    []Kind{Unknown, Unknown, Unknown},
			detail:  []string{"vendor returned 2 results for 3 candidates", "vendor returned 2 results for 3 candidates", "vendor returned 2 results for 3 candidates"},
		},
		{
			name:    "more results: every candidate unknown",
			cands:   []payload.Candidate{alice},
			results: []payload.Result{ok("alice@example.com", ""), ok("bob@example.com", "")},
			want:    []Kind{Unknown},
			detail:  []string{"vendor returned 2 results for 1 candidates"},
		},
		{
			name:    "no results",
			cands:   []payload.Candidate{alice},
			results: nil,
			want:    []Kind{Unknown},
			detail:  []string{"vendor returned 0 results for 1 candidates"},
		},
		{
			name:    "CV-only candidate with the cv_link echoed",
			cands:   []payload.Candidate{carol},
			results: []payload.Result{{CVLink: carol.CVLink, CandidateEntry: json.RawMessage(`{"id":"ce"}`)}},
			want:    []Kind{CVQueued},
		},
		{
			name:    "CV-only candidate without the cv_link echoed",
			cands:   []payload.Candidate{carol},
			results: []payload.Result{{}},
			want:    []Kind{CVQueued},
		},
		{
			name:    "CV-only candidate answered with an email",
			cands:   []payload.Candidate{carol},
			results: []payload.Result{ok("alice@example.com", carol.CVLink)},
			want:    []Kind{Unknown},
			detail:  []string{`result email_address "alice@example.com" for a candidate without email`},
		},
		{
			name:    "CV-only candidate failed",
			cands:   []payload.Candidate{carol},
			results: []payload.Result{{CVLink: carol.CVLink, CandidateEntryErrorMessage: json.RawMessage(`"cv not reachable"`)}},
			want:    []Kind{Failed},
		},
		{
			name:    "cv_link mismatch",
			cands:   []payload.Candidate{bob},
			results: []payload.Result{ok("bob@example.com", "https://cv.example.com/someone-else.pdf")},
			want:    []Kind{Unknown},
			detail:  []string{`result cv_link "https://cv.example.com/someone-else.pdf" does not match candidate cv_link "https://cv.example.com/bob.pdf"`},
		},
		{
			name:    "CV-only cv_link mismatch",
			cands:   []payload.Candidate{carol},
			results: []payload.Result{ok("", bob.CVLink)},
			want:    []Kind{Unknown},
			detail:  []string{"does not match candidate cv_link"},
		},
		{
			name:    "cv_link reported for a candidate sent without one is tolerated",
			cands:   []payload.Candidate{alice},
			results: []payload.Result{ok("alice@example.com", "https://cv.example.com/known.pdf")},
			want:    []Kind{Invited},
		},
		{
			name:    "email candidate, success without invitation object (send_invite false)",
			cands:   []payload.Candidate{alice},
			results: []payload.Result{ok("alice@example.com", "")},
			want:    []Kind{Invited},
		},
		{
			name:    "long values are cut in the detail",
			cands:   []payload.Candidate{alice},
			results: []payload.Result{ok(strings.Repeat("m", 500)+"@example.com", "")},
			want:    []Kind{Unknown},
			detail:  []string{`mmm..." does not match`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := matchResults(tc.cands, tc.results)
			if len(got) != len(tc.cands) {
				t.Fatalf("%d results for %d candidates", len(got), len(tc.cands))
			}
			for i, r := range got {
				if r.Kind != tc.want[i] {
					t.Errorf("candidate %d: %s, want %s (%q)", i, r.Kind, tc.want[i], r.Detail)
				}
				wantDetail := ""
				if tc.detail != nil {
					wantDetail = tc.detail[i]
				}
				if (wantDetail == "") != (r.Detail == "") || !strings.Contains(r.Detail, wantDetail) {
					t.Errorf("candidate %d: Detail %q, want it to contain %q", i, r.Detail, wantDetail)
				}
				checkResultInvariants(t, tc.cands[i], r)
				if len(tc.results) == len(tc.cands) && (r.Result == nil || r.Result.EmailAddress != tc.results[i].EmailAddress) {
					t.Errorf("candidate %d: Result %+v, want the entry at its position", i, r.Result)
				}
				if len(tc.results) != len(tc.cands) && r.Result != nil {
					t.Errorf("candidate %d: Result %+v set although positions cannot be trusted", i, r.Result)
				}
			}
			if len(tc.results) == len(tc.cands) {
				for i, r := range got {
					if r.Result != &tc.results[i] {
						t.Errorf("candidate %d: Result is a copy, want the entry given at its position", i)
					}
				}
			}
		})
	}
}

// checkResultInvariants checks what every CandidateResult promises about its fields.
func checkResultInvariants(tb testing.TB, c payload.Candidate, r CandidateResult) {
	tb.Helper()
	switch r.Kind {
	case Invited, CVQueued:
		if r.Reason != "" || r.Errors != nil || r.Detail != "" || r.Result == nil || r.Result.HasError() {
			tb.Errorf("%s with Reason %q, Errors %s, Detail %q, Result %v", r.Kind, r.Reason, r.Errors, r.Detail, r.Result)
		}
		if (r.Kind == Invited) != (strings.TrimSpace(c.Email) != "") {
			tb.Errorf("%s for candidate with email %q", r.Kind, c.Email)
		}
	case Failed:
		if !r.Reason.Valid() || len(r.Errors) == 0 || r.Detail != "" || r.Result == nil || r.Reason != r.Result.ErrorReason() {
			tb.Errorf("failed with Reason %q, Errors %s, Detail %q, Result %v", r.Reason, r.Errors, r.Detail, r.Result)
		}
	case Unknown:
		if r.Reason != payload.ReasonUnknownOutcome || r.Errors != nil || r.Detail == "" {
			tb.Errorf("unknown with Reason %q, Errors %s, Detail %q", r.Reason, r.Errors, r.Detail)
		}
	default:
		tb.Errorf("kind %d", int(r.Kind))
	}
}
