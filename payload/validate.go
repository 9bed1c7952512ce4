package payload

import (
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MinMessageLen is the vendor's minimum length, in characters, of invitation_message.
const MinMessageLen = 10

// Length limits of a candidate's text fields (ats_candidate_id is a UUID, so 36).
// The vendor states none; these keep a runaway value (a whole CV pasted into a
// name column, say) from reaching it, and are far above any real value.
const (
	// MaxEmailLen is the longest email address, in bytes (RFC 5321's limit).
	MaxEmailLen = 254
	// MaxNameLen is the longest name, firstname or lastname, in characters.
	MaxNameLen = 200
	// MaxCVLinkLen is the longest cv_link, in bytes.
	MaxCVLinkLen = 2048
)

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

// IsUUID reports whether s is a UUID in the canonical 8-4-4-4-12 hex form:
// 36 bytes, '-' at 8, 13, 18 and 23, hex digits of either case elsewhere, any
// version and variant (what github.com/google/uuid's Parse accepts at that
// length; checked here without it, for it is on every row of an import).
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		switch c := s[i]; i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// ValidateEmail reports why s is not a usable email address, or nil.
func ValidateEmail(s string) error {
	if s == "" {
		return fmt.Errorf("empty")
	}
	if len(s) > MaxEmailLen {
		return fmt.Errorf("longer than %d bytes (got %d)", MaxEmailLen, len(s))
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
// an absolute https URL with a host, at most MaxCVLinkLen bytes long.
func ValidateCVLink(s string) error {
	if len(s) > MaxCVLinkLen {
		return fmt.Errorf("longer than %d bytes (got %d)", MaxCVLinkLen, len(s))
	}
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

// ValidateText reports why s cannot be passed on as a candidate's field, or nil:
// it is not valid UTF-8, or it holds a control character (C0, including tab and
// line breaks; DEL; C1) or a bidirectional embedding, override or isolate
// (U+202A-U+202E, U+2066-U+2069), which can make a terminal, a log, a spreadsheet
// or an invitation email show something other than what is there. The error says
// what it found and where, never the character itself. Right-to-left marks
// (U+200E, U+200F, U+061C) are allowed: real names need them.
func ValidateText(s string) error {
	if err := validateUTF8(s); err != nil {
		return err
	}
	n := 0
	for _, r := range s {
		n++
		switch {
		case IsControl(r):
			return fmt.Errorf("contains the control character U+%04X at character %d", r, n)
		case IsBidiControl(r):
			return fmt.Errorf("contains the bidirectional control character U+%04X at character %d", r, n)
		}
	}
	return nil
}

// IsControl reports whether r is a C0 control (U+0000-U+001F, which includes tab,
// line feed and carriage return), DEL (U+007F) or a C1 control (U+0080-U+009F).
func IsControl(r rune) bool { return r < 0x20 || 0x7f <= r && r <= 0x9f }

// IsBidiControl reports whether r is a bidirectional embedding, override or
// isolate: U+202A-U+202E or U+2066-U+2069.
func IsBidiControl(r rune) bool { return 0x202a <= r && r <= 0x202e || 0x2066 <= r && r <= 0x2069 }

// validateUTF8 says where s stops being UTF-8: the first bad byte and the text
// before it, so that a person can find it.
func validateUTF8(s string) error {
	if utf8.ValidString(s) {
		return nil
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			where := "at the start"
			if i > 0 {
				where = "after " + quoteTail(s[:i])
			}
			return fmt.Errorf("not valid UTF-8: byte 0x%02X %s; is the input in another encoding, such as Windows-1252 or Latin-1? Save it as UTF-8", s[i], where)
		}
		i += size
	}
	return nil
}

// quoteTail quotes the end of s (valid UTF-8), cut at a character's start.
func quoteTail(s string) string {
	const max = 24
	if len(s) <= max {
		return strconv.Quote(s)
	}
	i := len(s) - max
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return strconv.Quote("..." + s[i:])
}

// ValidateCandidate checks one candidate per docs/vendor-api.md, plus our own
// hygiene rules (see ValidateText and the Max*Len limits); index is its position,
// used in the errors' paths (-1 to leave it out). A field at fault is named once, by
// its first fault, in the order ats_candidate_id, email, name, firstname, lastname,
// cv_link.
func ValidateCandidate(index int, c Candidate) error {
	var errs Errors
	add := func(field, msg string) { errs = append(errs, &FieldError{Index: index, Field: field, Msg: msg}) }
	if c.Email == "" && c.CVLink == "" {
		add("email", "required when cv_link is absent (a candidate needs an email to be invited or a cv_link to be queued)")
	}
	for _, f := range [...]struct {
		name, v string
		check   func(string) error
	}{
		{"ats_candidate_id", c.ATSCandidateID, validateATSID},
		{"email", c.Email, ValidateEmail},
		{"name", c.Name, validateName},
		{"firstname", c.Firstname, validateName},
		{"lastname", c.Lastname, validateName},
		{"cv_link", c.CVLink, ValidateCVLink},
	} {
		if f.v == "" {
			continue
		}
		err := ValidateText(f.v)
		if err == nil {
			err = f.check(f.v)
		}
		if err != nil {
			add(f.name, err.Error())
		}
	}
	return errs.OrNil()
}

func validateATSID(s string) error {
	if !IsUUID(s) {
		return fmt.Errorf("not a UUID: %s", quote(s))
	}
	return nil
}

func validateName(s string) error {
	if n := utf8.RuneCountInString(s); n > MaxNameLen {
		return fmt.Errorf("longer than %d characters (got %d)", MaxNameLen, n)
	}
	return nil
}

// ValidateMessage checks invitation_message: empty (absent) or valid UTF-8 of at
// least MinMessageLen characters. Line breaks and tabs are fine in a message.
func ValidateMessage(m string) error {
	if err := validateUTF8(m); err != nil {
		return &FieldError{Index: -1, Field: "invitation_message", Msg: err.Error()}
	}
	if m != "" && utf8.RuneCountInString(m) < MinMessageLen {
		return &FieldError{Index: -1, Field: "invitation_message",
			Msg: fmt.Sprintf("must be at least %d characters, got %d", MinMessageLen, utf8.RuneCountInString(m))}
	}
	return nil
}

// ValidateRequest checks a whole request per docs/vendor-api.md: the target, the
// message, at least one candidate, each candidate, and ats_candidate_id unique within
// the request. The error is an Errors listing every failure.
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
