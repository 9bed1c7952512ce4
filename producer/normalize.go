package producer

import (
	"errors"
	"strings"

	"github.com/bulkinvite/bulkinvite/payload"
)

// Normalize returns c with white space trimmed from both ends of every field, so
// that a field of only white space becomes absent. Letter case is kept: the email
// goes to the vendor as given (de-duplication compares it case-insensitively).
func Normalize(c payload.Candidate) payload.Candidate {
	return payload.Candidate{
		ATSCandidateID: strings.TrimSpace(c.ATSCandidateID),
		Email:          strings.TrimSpace(c.Email),
		Name:           strings.TrimSpace(c.Name),
		Firstname:      strings.TrimSpace(c.Firstname),
		Lastname:       strings.TrimSpace(c.Lastname),
		CVLink:         strings.TrimSpace(c.CVLink),
	}
}

// NewRecord normalises c and validates it with payload.ValidateCandidate. A
// candidate that fails gets a RowError at row naming the first field at fault; its
// message lists every fault, as in
// `line 9: email: not a valid email address: "x@"; cv_link: must be an https URL: "http://cv"`.
// where is WhereLine or WhereCandidate.
func NewRecord(row int64, where string, c payload.Candidate) Record {
	c = Normalize(c)
	rec := Record{Row: row, Candidate: c}
	if err := payload.ValidateCandidate(-1, c); err != nil {
		rec.Err = rowError(row, where, err)
	}
	return rec
}

// rowError turns a validation error into a RowError.
func rowError(row int64, where string, err error) *RowError {
	var es payload.Errors
	var fe *payload.FieldError
	switch {
	case errors.As(err, &es) && len(es) > 0:
	case errors.As(err, &fe):
		es = payload.Errors{fe}
	default:
		return &RowError{Row: row, Where: where, Msg: err.Error()}
	}
	var msg strings.Builder
	msg.WriteString(es[0].Msg)
	for _, e := range es[1:] {
		msg.WriteString("; " + e.Path() + ": " + e.Msg)
	}
	return &RowError{Row: row, Where: where, Field: es[0].Field, Msg: msg.String()}
}
