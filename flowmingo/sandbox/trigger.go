package sandbox

import (
	"strings"

	"github.com/bulkinvite/bulkinvite/payload"
)

// Per-candidate triggers. A tag is one '+'-separated part of an email's local part
// after the first, compared ignoring case: "alex+invitation_error@example.com"
// carries the tag TagInvitationError, "alex+errors@example.com" carries none.
const (
	// TagError in an email sets error_message.
	TagError = "+error"
	// TagInvitationError in an email sets invitation_error_message.
	TagInvitationError = "+invitation_error"
	// TagApplicationError in an email sets application_error_message.
	TagApplicationError = "+application_error"
	// TagSubmissionError in an email sets submission_error_message.
	TagSubmissionError = "+submission_error"
	// FailCVMarker in the cv_link of a CV-only candidate (no email) sets
	// candidate_entry_error_message. It has no effect on a candidate with an email.
	FailCVMarker = "fail-cv"
	// InvalidDomainSuffix ends an email domain the sandbox refuses: a request with
	// such a candidate is answered 422 naming that candidate's email, although
	// payload.ValidateRequest accepts it.
	InvalidDomainSuffix = ".invalid"
)

var tagFields = map[string]string{
	TagError[1:]:            payload.FieldErrorMessage,
	TagInvitationError[1:]:  payload.FieldInvitationErrorMessage,
	TagApplicationError[1:]: payload.FieldApplicationErrorMessage,
	TagSubmissionError[1:]:  payload.FieldSubmissionErrorMessage,
}

// TriggeredErrors returns the per-candidate error fields (payload.Field*) the
// sandbox sets in c's result, in payload.ErrorFields order, or nil when c is
// invited or queued. A candidate with several tags gets several fields.
func TriggeredErrors(c payload.Candidate) []string {
	set := map[string]bool{}
	if c.Email != "" {
		local := c.Email
		if at := strings.LastIndexByte(local, '@'); at >= 0 {
			local = local[:at]
		}
		parts := strings.Split(strings.ToLower(local), "+")
		for _, tag := range parts[1:] {
			if f, ok := tagFields[tag]; ok {
				set[f] = true
			}
		}
	} else if c.CVLink != "" && strings.Contains(strings.ToLower(c.CVLink), FailCVMarker) {
		set[payload.FieldCandidateEntryErrorMessage] = true
	}
	if len(set) == 0 {
		return nil
	}
	var out []string
	for _, f := range payload.ErrorFields {
		if set[f] {
			out = append(out, f)
		}
	}
	return out
}

// invalidDomain reports whether email's domain ends in InvalidDomainSuffix.
func invalidDomain(email string) bool {
	at := strings.LastIndexByte(email, '@')
	return at >= 0 && strings.HasSuffix(strings.ToLower(email[at+1:]), InvalidDomainSuffix)
}
