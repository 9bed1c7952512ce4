package payload

// Reason says why a candidate was dead-lettered. The values are part of the
// user-facing contract (docs/architecture.md, "The contract"): scripts filter on them.
type Reason string

// The dead-letter reasons.
const (
	ReasonCandidateError      Reason = "candidate_error"       // error_message
	ReasonInvitationError     Reason = "invitation_error"      // invitation_error_message
	ReasonApplicationError    Reason = "application_error"     // application_error_message
	ReasonSubmissionError     Reason = "submission_error"      // submission_error_message
	ReasonCandidateEntryError Reason = "candidate_entry_error" // candidate_entry_error_message
	ReasonValidation          Reason = "validation"            // the API answered 400/422 for this candidate
	ReasonTargetNotFound      Reason = "target_not_found"      // the API answered 404 for the target
	ReasonRetriesExhausted    Reason = "retries_exhausted"     // transient failures until the attempt limit
	ReasonUnknownOutcome      Reason = "unknown_outcome"       // no matching result, or a reply lost (at-most-once)
)

// Reasons lists every reason, for validating filters.
var Reasons = []Reason{
	ReasonCandidateError, ReasonInvitationError, ReasonApplicationError, ReasonSubmissionError,
	ReasonCandidateEntryError, ReasonValidation, ReasonTargetNotFound, ReasonRetriesExhausted,
	ReasonUnknownOutcome,
}

var reasonForField = map[string]Reason{
	FieldErrorMessage:               ReasonCandidateError,
	FieldInvitationErrorMessage:     ReasonInvitationError,
	FieldApplicationErrorMessage:    ReasonApplicationError,
	FieldSubmissionErrorMessage:     ReasonSubmissionError,
	FieldCandidateEntryErrorMessage: ReasonCandidateEntryError,
}

// Valid reports whether r is one of Reasons.
func (r Reason) Valid() bool {
	for _, x := range Reasons {
		if r == x {
			return true
		}
	}
	return false
}

// Outcome is a candidate's final state in a batch. The values are contract.
type Outcome string

// The final outcomes. Every accepted candidate ends in exactly one.
const (
	OutcomeInvited          Outcome = "invited"
	OutcomeCVQueued         Outcome = "cv_queued"
	OutcomeDeadLettered     Outcome = "dead_lettered"
	OutcomeSkippedDuplicate Outcome = "skipped_duplicate"
	// OutcomeCancelled is a candidate not yet sent when its batch was cancelled.
	OutcomeCancelled Outcome = "cancelled"
)
