package payload

import (
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// MinMessageLen is the vendor's minimum length, in characters, of invitation_message.
const MinMessageLen = 10

// FieldError is one validation failure, naming the field and, for a candidate, its
// index in the request (Index is -1 for a request-level field).
type FieldError struct {
	Index int    // candidate index, or -1
	Field string // the vendor's field name, e.g. "email"
	Msg   string
}

// Path is the field's location, e.g. "candidates[3].email" or "com_project_id".
func (e *FieldError) Path() string {
	if e.Index < 0 {
		return e.Field
	}
	return "candidates[" + strconv.Itoa(e.Index) + "]." + e.Field
}

func (e *FieldError) Error() string { return e.Path() + ": " + e.Msg }

// Errors is a list of validation failures; it is an error when not empty.
type Errors []*FieldError

func (es Errors) Error() string {
	switch len(es) {
	case 0:
		return "no errors"
	case 1:
		return es[0].Error()
	}
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return fmt.Sprintf("%d errors: %s", len(es), strings.Join(parts, "; "))
}

// OrNil returns es as an error, or nil when it is empty.
func (es Errors) OrNil() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// IsUUID reports whether s is a UUID in the canonical 8-4-4-4-12 hex form.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// ValidateEmail reports why s is not a usable email address, or nil.
func ValidateEmail(s string) error {
	if s == "" {
		return fmt.Errorf("empty")
	}
	if len(s) > 254 {
		return fmt.Errorf("longer than 254 characters")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return fmt.Errorf("not a valid email address: %s", quote(s))
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || !strings.Contains(s[at+1:], ".") {
		return fmt.Errorf("not a valid email address: %s", quote(s))
	}
	return nil
}

// ValidateCVLink reports why s is not a link the vendor can fetch, or nil: it must be
// an absolute https URL with a host.
func ValidateCVLink(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %s", quote(s))
	}
	if u.Scheme != "https" {
		return fmt.Errorf("must be an https URL: %s", quote(s))
	}
	if u.Host == "" {
		return fmt.Errorf("has no host: %s", quote(s))
	}
	return nil
}

// ValidateCandidate checks one candidate per API.md; index is its position, used in
// the errors' paths (-1 to leave it out).
func ValidateCandidate(index int, c Candidate) error {
	var errs Errors
	add := func(field, msg string) { errs = append(errs, &FieldError{Index: index, Field: field, Msg: msg}) }
	if c.Email == "" && c.CVLink == "" {
		add("email", "required when cv_link is absent (a candidate needs an email to be invited or a cv_link to be queued)")
	}
	if c.ATSCandidateID != "" && !IsUUID(c.ATSCandidateID) {
		add("ats_candidate_id", "not a UUID: "+quote(c.ATSCandidateID))
	}
	if c.Email != "" {
		if err := ValidateEmail(c.Email); err != nil {
			add("email", err.Error())
		}
	}
	if c.CVLink != "" {
		if err := ValidateCVLink(c.CVLink); err != nil {
			add("cv_link", err.Error())
		}
	}
	return errs.OrNil()
}

// ValidateMessage checks invitation_message: empty (absent) or at least
// MinMessageLen characters.
func ValidateMessage(m string) error {
	if m != "" && utf8.RuneCountInString(m) < MinMessageLen {
		return &FieldError{Index: -1, Field: "invitation_message",
			Msg: fmt.Sprintf("must be at least %d characters, got %d", MinMessageLen, utf8.RuneCountInString(m))}
	}
	return nil
}

// ValidateRequest checks a whole request per API.md: the target, the message, at
// least one candidate, each candidate, and ats_candidate_id unique within the request.
// The error is an Errors listing every failure.
func ValidateRequest(r *InviteRequest) error {
	var errs Errors
	collect := func(err error) {
		switch e := err.(type) {
		case nil:
		case Errors:
			errs = append(errs, e...)
		case *FieldError:
			errs = append(errs, e)
		}
	}
	collect(r.Target().Validate())
	collect(ValidateMessage(r.InvitationMessage))
	if len(r.Candidates) == 0 {
		errs = append(errs, &FieldError{Index: -1, Field: "candidates", Msg: "must contain at least 1 candidate"})
	}
	seen := make(map[string]int, len(r.Candidates))
	for i, c := range r.Candidates {
		collect(ValidateCandidate(i, c))
		if c.ATSCandidateID == "" {
			continue
		}
		id := strings.ToLower(c.ATSCandidateID)
		if j, dup := seen[id]; dup {
			errs = append(errs, &FieldError{Index: i, Field: "ats_candidate_id",
				Msg: fmt.Sprintf("duplicate of candidates[%d].ats_candidate_id %s", j, quote(c.ATSCandidateID))})
			continue
		}
		seen[id] = i
	}
	return errs.OrNil()
}

// quote shows a user's value in an error, cut short so that a huge value cannot
// flood a log line.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}
