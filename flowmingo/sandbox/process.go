package sandbox

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/bulkinvite/bulkinvite/payload"
)

// Status texts of the records the sandbox creates.
const (
	InvitationPending       = "pending"
	SubmissionNeedInterview = "need_interview"
	CandidateEntryQueued    = "queued"
)

// validate is payload.ValidateRequest plus the sandbox's InvalidDomainSuffix rule.
func validate(req *payload.InviteRequest) payload.Errors {
	var errs payload.Errors
	if err := payload.ValidateRequest(req); err != nil {
		if !errors.As(err, &errs) {
			errs = payload.Errors{{Index: -1, Field: "(request)", Msg: err.Error()}}
		}
	}
	for i, c := range req.Candidates {
		if c.Email != "" && invalidDomain(c.Email) {
			errs = append(errs, &payload.FieldError{Index: i, Field: "email",
				Msg: fmt.Sprintf("the domain of %q does not accept invitations (sandbox: domain ends in %s)", c.Email, InvalidDomainSuffix)})
		}
	}
	return errs
}

// findTarget resolves t or says, for a 404, what is not found.
func (s *Server) findTarget(t payload.Target) (payload.Target, string) {
	rt := s.resolve(t)
	if rt.InterviewSetID != "" && !s.interviewSets[rt.InterviewSetID] {
		return rt, "interview set " + t.InterviewSetID + " not found"
	}
	if rt.ProjectID == "" {
		if rt.JobPostID != "" {
			return rt, "job post " + t.JobPostID + " not found: com_job_post_id needs com_project_id"
		}
		return rt, ""
	}
	jps, ok := s.projects[rt.ProjectID]
	if !ok {
		return rt, "project " + t.ProjectID + " not found"
	}
	if rt.JobPostID == "" {
		return rt, "project " + t.ProjectID + " has no job post"
	}
	for _, jp := range jps {
		if jp == rt.JobPostID {
			return rt, ""
		}
	}
	return rt, "job post " + t.JobPostID + " not found in project " + t.ProjectID
}

// resolve lower-cases the target's ids and fills in a known project's latest job post.
func (s *Server) resolve(t payload.Target) payload.Target {
	t = payload.Target{
		InterviewSetID: strings.ToLower(t.InterviewSetID),
		ProjectID:      strings.ToLower(t.ProjectID),
		JobPostID:      strings.ToLower(t.JobPostID),
	}
	if jps := s.projects[t.ProjectID]; t.ProjectID != "" && t.JobPostID == "" && len(jps) > 0 {
		t.JobPostID = jps[len(jps)-1]
	}
	return t
}

// response is the body of a 200 answer.
type response struct {
	Results []result `json:"results"`
}

// result is one entry of response.Results; nil pointers are JSON null.
type result struct {
	EmailAddress   *string             `json:"email_address"`
	CVLink         *string             `json:"cv_link"`
	Invitation     *payload.Invitation `json:"invitation,omitempty"`
	Submission     *payload.Submission `json:"submission,omitempty"`
	CandidateEntry *candidateEntry     `json:"candidate_entry,omitempty"`

	ErrorMessage               string `json:"error_message,omitempty"`
	InvitationErrorMessage     string `json:"invitation_error_message,omitempty"`
	ApplicationErrorMessage    string `json:"application_error_message,omitempty"`
	SubmissionErrorMessage     string `json:"submission_error_message,omitempty"`
	CandidateEntryErrorMessage string `json:"candidate_entry_error_message,omitempty"`
}

type candidateEntry struct {
	ID         string `json:"id"`
	StatusText string `json:"status_text"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// setError sets the result's error field named f.
func (r *result) setError(f string) {
	switch f {
	case payload.FieldErrorMessage:
		r.ErrorMessage = "candidate could not be processed (sandbox trigger " + TagError + ")"
	case payload.FieldInvitationErrorMessage:
		r.InvitationErrorMessage = "invitation could not be created (sandbox trigger " + TagInvitationError + ")"
	case payload.FieldApplicationErrorMessage:
		r.ApplicationErrorMessage = "application could not be created (sandbox trigger " + TagApplicationError + ")"
	case payload.FieldSubmissionErrorMessage:
		r.SubmissionErrorMessage = "submission could not be created (sandbox trigger " + TagSubmissionError + ")"
	case payload.FieldCandidateEntryErrorMessage:
		r.CandidateEntryErrorMessage = "CV could not be fetched (sandbox trigger " + FailCVMarker + ")"
	}
}

// process records the request's invites and CV entries and builds its results.
// It also decides whether the reply is lost, so that the decision and the
// recording are one step.
func (s *Server) process(req *payload.InviteRequest, target payload.Target, seq int64) ([]result, bool, LostReplyMode) {
	sendInvite := req.SendInvite == nil || *req.SendInvite
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	results := make([]result, len(req.Candidates))
	for i, c := range req.Candidates {
		res := result{EmailAddress: nullable(c.Email), CVLink: nullable(c.CVLink)}
		if fields := TriggeredErrors(c); fields != nil {
			for _, f := range fields {
				res.setError(f)
			}
			s.stats.CandidateErrors++
			results[i] = res
			continue
		}
		if c.Email == "" {
			res.CandidateEntry = &candidateEntry{ID: newID(), StatusText: CandidateEntryQueued}
			s.stats.CVQueued++
			results[i] = res
			continue
		}
		inv := Invite{Target: target, Email: c.Email, SubmissionID: newID(), Request: seq, At: now}
		if sendInvite {
			inv.InvitationID = newID()
			res.Invitation = &payload.Invitation{ID: inv.InvitationID, Email: c.Email, StatusText: InvitationPending}
			s.stats.Invites++
		}
		res.Submission = &payload.Submission{ID: inv.SubmissionID, StatusText: SubmissionNeedInterview}
		s.stats.Submissions++
		k := inviteKey(target, c.Email)
		if s.inviteCount[k] > 0 {
			inv.Duplicate = true
			s.stats.DuplicateInvites++
		}
		s.inviteCount[k]++
		s.invites = append(s.invites, inv)
		results[i] = res
	}
	lost, mode := s.loseReplyLocked()
	return results, lost, mode
}
