package payload

import "strings"

// Target is where candidates are invited: an interview set, or a project with an
// optional job post. It is the vendor's com_* fields, named for our own use.
type Target struct {
	InterviewSetID string `json:"com_interview_set_id,omitempty"`
	ProjectID      string `json:"com_project_id,omitempty"`
	JobPostID      string `json:"com_job_post_id,omitempty"`
}

// IsZero reports whether no target id is set.
func (t Target) IsZero() bool { return t == Target{} }

// Key is a stable, canonical string for the target, used to key the invite ledger:
// the same target always gives the same key, whatever the letter case of its UUIDs.
func (t Target) Key() string {
	var b strings.Builder
	if t.InterviewSetID != "" {
		b.WriteString("is:" + strings.ToLower(t.InterviewSetID))
	}
	if t.ProjectID != "" {
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString("p:" + strings.ToLower(t.ProjectID))
	}
	if t.JobPostID != "" {
		b.WriteString("/jp:" + strings.ToLower(t.JobPostID))
	}
	return b.String()
}

// String is the target as a person reads it.
func (t Target) String() string {
	switch {
	case t.InterviewSetID != "":
		return "interview set " + t.InterviewSetID
	case t.JobPostID != "":
		return "project " + t.ProjectID + " job post " + t.JobPostID
	default:
		return "project " + t.ProjectID
	}
}

// Validate checks the target's ids per docs/vendor-api.md: an interview set or a
// project is required, and every id given is a UUID.
func (t Target) Validate() error {
	var errs Errors
	if t.InterviewSetID == "" && t.ProjectID == "" {
		errs = append(errs, &FieldError{Index: -1, Field: "com_interview_set_id", Msg: "required when com_project_id is absent"})
	}
	for _, f := range []struct{ name, v string }{
		{"com_interview_set_id", t.InterviewSetID},
		{"com_project_id", t.ProjectID},
		{"com_job_post_id", t.JobPostID},
	} {
		if f.v != "" && !IsUUID(f.v) {
			errs = append(errs, &FieldError{Index: -1, Field: f.name, Msg: "not a UUID: " + quote(f.v)})
		}
	}
	return errs.OrNil()
}

// Request builds an InviteRequest for the target.
func (t Target) Request(cands []Candidate, message string, sendInvite *bool) *InviteRequest {
	return &InviteRequest{
		ComInterviewSetID: t.InterviewSetID,
		ComProjectID:      t.ProjectID,
		ComJobPostID:      t.JobPostID,
		Candidates:        cands,
		InvitationMessage: message,
		SendInvite:        sendInvite,
	}
}
