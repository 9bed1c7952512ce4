package payload

import (
	"bytes"
	"encoding/json"
	"sort"
)

// InvitePath is the path of the vendor's invite endpoint, relative to the API base URL.
const InvitePath = "/company/integration/interview/candidate/invite/v1"

// InviteRequest is the body of POST {base}/company/integration/interview/candidate/invite/v1.
//
// Exactly one of ComInterviewSetID and ComProjectID must be set for the request to be
// useful; the vendor requires at least one. ComJobPostID is optional; omitted with a
// project id, the vendor picks the project's latest job post.
type InviteRequest struct {
	ComInterviewSetID string      `json:"com_interview_set_id,omitempty"`
	ComProjectID      string      `json:"com_project_id,omitempty"`
	ComJobPostID      string      `json:"com_job_post_id,omitempty"`
	Candidates        []Candidate `json:"candidates"`
	// InvitationMessage is optional; when present it has at least MinMessageLen
	// characters and may hold HTML and the {{candidate_name}}, {{position_name}},
	// {{company_name}} and {{interview_link}} placeholders.
	InvitationMessage string `json:"invitation_message,omitempty"`
	// SendInvite defaults to true at the vendor when nil.
	SendInvite *bool `json:"send_invite,omitempty"`
}

// Target returns the interview set / project / job post the request is aimed at.
func (r *InviteRequest) Target() Target {
	return Target{InterviewSetID: r.ComInterviewSetID, ProjectID: r.ComProjectID, JobPostID: r.ComJobPostID}
}

// Candidate is one entry of InviteRequest.Candidates. Every field is optional at the
// vendor, but a candidate with neither Email nor CVLink can do nothing useful.
type Candidate struct {
	ATSCandidateID string `json:"ats_candidate_id,omitempty"`
	Email          string `json:"email,omitempty"`
	Name           string `json:"name,omitempty"`
	Firstname      string `json:"firstname,omitempty"`
	Lastname       string `json:"lastname,omitempty"`
	CVLink         string `json:"cv_link,omitempty"`
}

// CVOnly reports whether the vendor will queue the candidate for CV (candidate-entry)
// processing instead of inviting it: no email, but a CV link.
func (c Candidate) CVOnly() bool { return c.Email == "" && c.CVLink != "" }

// InviteResponse is the body of a 200 answer: one result per requested candidate, in
// request order. Unknown fields are tolerated.
type InviteResponse struct {
	Results []Result `json:"results"`
}

// Invitation is the invitation record the vendor created for a candidate.
type Invitation struct {
	ID         string `json:"id"`
	Email      string `json:"email"`
	StatusText string `json:"status_text"`
}

// Submission is the submission record the vendor created for a candidate.
type Submission struct {
	ID         string `json:"id"`
	StatusText string `json:"status_text"`
}

// Names of the per-candidate error fields a result may carry, as the vendor spells them.
const (
	FieldErrorMessage               = "error_message"
	FieldInvitationErrorMessage     = "invitation_error_message"
	FieldApplicationErrorMessage    = "application_error_message"
	FieldSubmissionErrorMessage     = "submission_error_message"
	FieldCandidateEntryErrorMessage = "candidate_entry_error_message"
)

// ErrorFields lists every per-candidate error field, in the order their dead-letter
// reason is chosen when more than one is present.
var ErrorFields = []string{
	FieldInvitationErrorMessage,
	FieldApplicationErrorMessage,
	FieldSubmissionErrorMessage,
	FieldCandidateEntryErrorMessage,
	FieldErrorMessage,
}

// Result is one entry of InviteResponse.Results.
//
// The error fields are kept as raw JSON so that a dead letter can carry them verbatim,
// whatever type the vendor used. CandidateEntry holds whatever object the vendor
// returns for a CV-only candidate.
type Result struct {
	EmailAddress   string          `json:"email_address,omitempty"`
	CVLink         string          `json:"cv_link,omitempty"`
	Invitation     *Invitation     `json:"invitation,omitempty"`
	Submission     *Submission     `json:"submission,omitempty"`
	CandidateEntry json.RawMessage `json:"candidate_entry,omitempty"`

	ErrorMessage               json.RawMessage `json:"error_message,omitempty"`
	InvitationErrorMessage     json.RawMessage `json:"invitation_error_message,omitempty"`
	ApplicationErrorMessage    json.RawMessage `json:"application_error_message,omitempty"`
	SubmissionErrorMessage     json.RawMessage `json:"submission_error_message,omitempty"`
	CandidateEntryErrorMessage json.RawMessage `json:"candidate_entry_error_message,omitempty"`
}

// Errors returns the result's error fields that carry a value, keyed by the vendor's
// field name, verbatim. A field that is absent, null or the empty string carries no
// error. It returns nil when the result has no error.
func (r *Result) Errors() map[string]json.RawMessage {
	var out map[string]json.RawMessage
	for _, f := range ErrorFields {
		v := r.errorField(f)
		if isEmptyJSON(v) {
			continue
		}
		if out == nil {
			out = make(map[string]json.RawMessage, 1)
		}
		out[f] = v
	}
	return out
}

// HasError reports whether any error field carries a value.
func (r *Result) HasError() bool { return r.Errors() != nil }

// ErrorReason names the dead-letter reason for a failed result: the first error field
// present in ErrorFields order, mapped to its reason. It returns "" for a success.
func (r *Result) ErrorReason() Reason {
	for _, f := range ErrorFields {
		if !isEmptyJSON(r.errorField(f)) {
			return reasonForField[f]
		}
	}
	return ""
}

func (r *Result) errorField(name string) json.RawMessage {
	switch name {
	case FieldErrorMessage:
		return r.ErrorMessage
	case FieldInvitationErrorMessage:
		return r.InvitationErrorMessage
	case FieldApplicationErrorMessage:
		return r.ApplicationErrorMessage
	case FieldSubmissionErrorMessage:
		return r.SubmissionErrorMessage
	case FieldCandidateEntryErrorMessage:
		return r.CandidateEntryErrorMessage
	}
	return nil
}

func isEmptyJSON(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || bytes.Equal(v, []byte("null")) || bytes.Equal(v, []byte(`""`))
}

// SortedErrorFields returns the names of the error fields in m, sorted.
func SortedErrorFields(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
