package flowmingo

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/bulkinvite/bulkinvite/payload"
)

// Kind is what happened to one candidate of a request that the vendor answered with
// a 200. The zero value is Unknown, so that a CandidateResult nobody filled in never
// reads as a success.
type Kind int

// The kinds of CandidateResult.
const (
	// Unknown: no result could be matched to the candidate, so whether the vendor
	// acted on it is not known (docs/vendor-api.md: dead-lettered as
	// unknown_outcome, never counted as done).
	Unknown Kind = iota
	// Invited: a candidate with an email came back without any error field.
	Invited
	// CVQueued: a candidate without an email (CV only) came back without any error
	// field: the vendor queued it for CV processing.
	CVQueued
	// Failed: the candidate's result carries at least one error field.
	Failed
)

func (k Kind) String() string {
	switch k {
	case Unknown:
		return "unknown"
	case Invited:
		return "invited"
	case CVQueued:
		return "cv_queued"
	case Failed:
		return "failed"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// CandidateResult is the outcome of one candidate of a request, at the same index as
// the candidate.
type CandidateResult struct {
	Kind Kind
	// Reason is the dead-letter reason: for Failed, the result's
	// payload.Result.ErrorReason; for Unknown, payload.ReasonUnknownOutcome; empty
	// for Invited and CVQueued.
	Reason payload.Reason
	// Errors are the vendor's error fields of a Failed result, keyed by field name,
	// verbatim (except that the API key is redacted if the vendor echoed it). nil
	// for every other kind.
	Errors map[string]json.RawMessage
	// Detail says, for Unknown, why no result could be matched, e.g. `result
	// email_address "b@x.io" does not match candidate email "a@x.io"`. Empty for the
	// other kinds.
	Detail string
	// Result is the vendor's entry at the candidate's position: always set for
	// Invited, CVQueued and Failed; for Unknown, set when the entry exists but does
	// not agree with the candidate, nil when positions could not be trusted.
	Result *payload.Result
}

// decodeResults reads a 200 body (already redacted) and matches its results to
// cands. The error says why the body is unusable. A body of the plain shape
// the vendor writes is read by fastResults; any other by encoding/json.
func decodeResults(body []byte, cands []payload.Candidate) ([]CandidateResult, error) {
	if results, ok := fastResults(body, len(cands)); ok {
		return matchResults(cands, results), nil
	}
	resp, err := payload.DecodeInviteResponseOf(body, len(cands))
	if err != nil {
		return nil, err
	}
	return matchResults(cands, resp.Results), nil
}

// matchResults pairs results with cands by position, per docs/vendor-api.md: the
// vendor's entries carry no candidate id, only email_address and cv_link to check
// against.
//
// When the vendor returns a different number of results than candidates were sent,
// an entry may be missing or extra anywhere, so no position can be trusted: every
// candidate is Unknown. Otherwise each candidate is checked against its entry
// (see agreement), and is Unknown if they disagree, Failed if the entry has an error
// field, else Invited (it has an email) or CVQueued (it has none). A success needs no
// invitation or submission object: with send_invite false the vendor may create
// none, and the absence of every error field is what docs/vendor-api.md calls
// success.
//
// results become the CandidateResults': each Result points at its entry, not a
// copy (decodeResults passes the slice it decoded, which nobody else holds).
func matchResults(cands []payload.Candidate, results []payload.Result) []CandidateResult {
	out := make([]CandidateResult, len(cands))
	if len(results) != len(cands) {
		detail := fmt.Sprintf("vendor returned %d results for %d candidates, so results cannot be matched by position", len(results), len(cands))
		for i := range out {
			out[i] = CandidateResult{Kind: Unknown, Reason: payload.ReasonUnknownOutcome, Detail: detail}
		}
		return out
	}
	for i, c := range cands {
		r := &results[i]
		if why := agreement(c, r); why != "" {
			out[i] = CandidateResult{Kind: Unknown, Reason: payload.ReasonUnknownOutcome,
				Detail: fmt.Sprintf("result at position %d: %s", i, why), Result: r}
			continue
		}
		switch {
		case r.HasError():
			out[i] = CandidateResult{Kind: Failed, Reason: r.ErrorReason(), Errors: r.Errors(), Result: r}
		case strings.TrimSpace(c.Email) != "":
			out[i] = CandidateResult{Kind: Invited, Result: r}
		default:
			out[i] = CandidateResult{Kind: CVQueued, Result: r}
		}
	}
	return out
}

// agreement returns "" when result r can be the answer for candidate c, else why not.
// Emails are compared ignoring case and surrounding space; a candidate with an email
// needs the same email_address back, and a candidate without one needs none. cv_link
// is compared exactly, and only when both sides have one: the vendor may leave it out
// (or report a CV it already had for a known candidate).
func agreement(c payload.Candidate, r *payload.Result) string {
	ce, re := strings.TrimSpace(c.Email), strings.TrimSpace(r.EmailAddress)
	switch {
	case ce != "" && re == "":
		return "result has no email_address, candidate email is " + quote(ce)
	case ce != "" && !strings.EqualFold(ce, re):
		return "result email_address " + quote(re) + " does not match candidate email " + quote(ce)
	case ce == "" && re != "":
		return "result email_address " + quote(re) + " for a candidate without email"
	}
	cc, rc := strings.TrimSpace(c.CVLink), strings.TrimSpace(r.CVLink)
	if cc != "" && rc != "" && cc != rc {
		return "result cv_link " + quote(rc) + " does not match candidate cv_link " + quote(cc)
	}
	return ""
}

// quote shows an outside value in a message, cut short so a huge value cannot flood
// a log line.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		return strconv.Quote(truncate(s, max))
	}
	return strconv.Quote(s)
}
