package producer

import (
	"errors"
	"strings"

	"github.com/bulkinvite/bulkinvite/payload"
)

// Normalize returns c with white space trimmed from both ends of every field, so
// that a field of only white space becomes absent, and with every run of white
// space inside a name (name, firstname, lastname) that holds a tab or a line break
// turned into one space: a spreadsheet cell typed on two lines is a name on one.
// Other characters are left for validation to judge. Letter case is kept: the
// email goes to the vendor as given (de-duplication compares it case-insensitively).
func Normalize(c payload.Candidate) payload.Candidate {
	return payload.Candidate{
		ATSCandidateID: strings.TrimSpace(c.ATSCandidateID),
		Email:          strings.TrimSpace(c.Email),
		Name:           foldBreaks(strings.TrimSpace(c.Name)),
		Firstname:      foldBreaks(strings.TrimSpace(c.Firstname)),
		Lastname:       foldBreaks(strings.TrimSpace(c.Lastname)),
		CVLink:         strings.TrimSpace(c.CVLink),
	}
}

// isBreak reports whether r is a tab or a line break: the white space that has no
// place inside a name.
func isBreak(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', '\u0085', '\u2028', '\u2029':
		return true
	}
	return false
}

// foldBreaks turns every run of spaces, tabs and line breaks in s that holds a tab
// or a line break into a single space; runs of spaces alone are kept as they are.
func foldBreaks(s string) string {
	i := strings.IndexFunc(s, isBreak)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i >= 0 {
		b.WriteString(strings.TrimRight(s[:i], " "))
		b.WriteByte(' ')
		s = strings.TrimLeftFunc(s[i:], func(r rune) bool { return r == ' ' || isBreak(r) })
		i = strings.IndexFunc(s, isBreak)
	}
	b.WriteString(s)
	return b.String()
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
