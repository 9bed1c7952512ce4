package flowmingo

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/bulkinvite/bulkinvite/payload"
)

// fastResults reads the results of a 200 body written the way the vendor
// writes it (docs/vendor-api.md), without reflection: one pass, the strings
// cut from one copy of the body, the raw error fields and candidate_entry as
// slices of b, and the invitations and submissions taken from one array each.
// It answers ok=false for anything outside the plain shape: an escape in a
// string (so none of them needs unquoting), text that is not UTF-8, a key
// twice or spelled in another case (encoding/json matches keys ignoring
// case), a value of a type the field does not take, a null result, no
// results, nesting deeper than maxFastDepth, malformed JSON or data after
// it. The caller then decodes with payload.DecodeInviteResponseOf, whose
// answer (results or error) is the reference: for a body fastResults takes,
// the two give equal results (FuzzFastResults checks it).
func fastResults(b []byte, n int) (_ []payload.Result, ok bool) {
	d := fastDecoder{b: b, s: string(b)}
	out := d.top(n)
	if !d.ok || len(out) == 0 {
		return nil, false
	}
	d.ws()
	if d.i != len(d.b) {
		return nil, false
	}
	return out, true
}

// maxFastDepth bounds the nesting fastResults reads inside a value it skips
// or keeps raw; deeper, it leaves the body to encoding/json.
const maxFastDepth = 64

// fastDecoder is fastResults's reader: b the body, s the same as one string,
// i the place, ok false from the first thing it does not take.
type fastDecoder struct {
	b    []byte
	s    string
	i    int
	ok   bool
	invs []payload.Invitation
	subs []payload.Submission
}

// top reads the body's object and returns its results.
func (d *fastDecoder) top(n int) []payload.Result {
	d.ok = true
	var out []payload.Result
	seen := false
	d.object(func(key []byte) {
		switch {
		case string(key) == "results" && !seen:
			seen = true
			out = d.results(n)
		case bytes.EqualFold(key, []byte("results")):
			d.ok = false
		default:
			d.skip(0)
		}
	})
	return out
}

// results reads the results array: objects only.
func (d *fastDecoder) results(n int) []payload.Result {
	out := make([]payload.Result, 0, n)
	d.invs = make([]payload.Invitation, 0, n)
	d.subs = make([]payload.Submission, 0, n)
	for more := d.open('[', ']'); more; more = d.more(']') {
		d.ws()
		out = append(out, payload.Result{})
		d.result(&out[len(out)-1])
	}
	if !d.ok {
		return nil
	}
	return out
}

// result reads one result's object.
func (d *fastDecoder) result(r *payload.Result) {
	// The places of resultKeys[4:], kept raw.
	raws := [...]*json.RawMessage{&r.CandidateEntry, &r.ErrorMessage, &r.InvitationErrorMessage,
		&r.ApplicationErrorMessage, &r.SubmissionErrorMessage, &r.CandidateEntryErrorMessage}
	var seen [10]bool
	d.object(func(key []byte) {
		k := -1
		for i, name := range resultKeys {
			if string(key) == name {
				k = i
				break
			}
		}
		switch {
		case k < 0:
			d.unknown(key, resultKeys)
			return
		case seen[k]:
			d.ok = false
			return
		}
		seen[k] = true
		switch k {
		case 0:
			d.str(&r.EmailAddress)
		case 1:
			d.str(&r.CVLink)
		case 2:
			r.Invitation = d.invitation()
		case 3:
			r.Submission = d.submission()
		default:
			*raws[k-4] = d.raw()
		}
	})
}

// resultKeys are the keys of payload.Result: the strings, the objects, then
// those kept raw.
var resultKeys = []string{"email_address", "cv_link", "invitation", "submission", "candidate_entry",
	payload.FieldErrorMessage, payload.FieldInvitationErrorMessage, payload.FieldApplicationErrorMessage,
	payload.FieldSubmissionErrorMessage, payload.FieldCandidateEntryErrorMessage}

// invitation reads an invitation object, or null (nil).
func (d *fastDecoder) invitation() *payload.Invitation {
	if d.null() {
		return nil
	}
	v := next(&d.invs)
	d.strings(invitationKeys, []*string{&v.ID, &v.Email, &v.StatusText})
	return v
}

var invitationKeys = []string{"id", "email", "status_text"}

// submission reads a submission object, or null (nil).
func (d *fastDecoder) submission() *payload.Submission {
	if d.null() {
		return nil
	}
	v := next(&d.subs)
	d.strings(submissionKeys, []*string{&v.ID, &v.StatusText})
	return v
}

var submissionKeys = []string{"id", "status_text"}

// next returns a new element of *slab, which starts over, 8 long, once full.
func next[T any](slab *[]T) *T {
	if len(*slab) == cap(*slab) {
		*slab = make([]T, 0, 8)
	}
	*slab = append(*slab, *new(T))
	return &(*slab)[len(*slab)-1]
}

// strings reads an object whose keys are strings into the places into, the
// value of keys[i] into into[i], each key at most once (at most 4 keys).
func (d *fastDecoder) strings(keys []string, into []*string) {
	var seen [4]bool
	d.object(func(key []byte) {
		for i, k := range keys {
			if string(key) != k {
				continue
			}
			if seen[i] {
				d.ok = false
				return
			}
			seen[i] = true
			d.str(into[i])
			return
		}
		d.unknown(key, keys)
	})
}

// unknown skips the value of a key the struct does not have, unless
// encoding/json would take the key for one of known ignoring case (or might:
// a key with non-ASCII text).
func (d *fastDecoder) unknown(key []byte, known []string) {
	if !asciiOnly(key) {
		d.ok = false
		return
	}
	for _, k := range known {
		if bytes.EqualFold(key, []byte(k)) {
			d.ok = false
			return
		}
	}
	d.skip(0)
}

func asciiOnly(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// object reads an object (after whitespace), calling field with each key once
// the reader stands before its value; field reads the value.
func (d *fastDecoder) object(field func(key []byte)) {
	for more := d.open('{', '}'); more; more = d.more('}') {
		d.ws()
		lo, hi := d.quoted()
		d.ws()
		if !d.ok || !d.at(':') {
			d.ok = false
			return
		}
		d.i++
		d.ws()
		field(d.b[lo:hi])
	}
}

// open reads (after whitespace) the bracket o that opens an object or an
// array, and the closing c at once if it is empty; it reports whether an
// element follows.
func (d *fastDecoder) open(o, c byte) bool {
	d.ws()
	if !d.at(o) {
		d.ok = false
		return false
	}
	d.i++
	d.ws()
	if d.at(c) {
		d.i++
		return false
	}
	return true
}

// more reads what follows an element of an object or array closed by c: a
// comma (true: another element) or c (false).
func (d *fastDecoder) more(c byte) bool {
	if !d.ok {
		return false
	}
	d.ws()
	switch {
	case d.at(','):
		d.i++
		return true
	case d.at(c):
		d.i++
		return false
	}
	d.ok = false
	return false
}

// str reads a string into *into, or null (leaving it as it is).
func (d *fastDecoder) str(into *string) {
	if d.null() {
		return
	}
	lo, hi := d.quoted()
	if d.ok {
		*into = d.s[lo:hi]
	}
}

// quoted reads a string without escapes and returns where its text is.
func (d *fastDecoder) quoted() (lo, hi int) {
	if !d.at('"') {
		d.ok = false
		return 0, 0
	}
	lo = d.i + 1
	wide := false
	for i := lo; i < len(d.b); i++ {
		switch c := d.b[i]; {
		case c == '"':
			if wide && !utf8.Valid(d.b[lo:i]) {
				d.ok = false
				return 0, 0
			}
			d.i = i + 1
			return lo, i
		case c == '\\' || c < ' ':
			d.ok = false
			return 0, 0
		case c >= utf8.RuneSelf:
			wide = true
		}
	}
	d.ok = false
	return 0, 0
}

// null reads a null if one is there.
func (d *fastDecoder) null() bool {
	if bytes.HasPrefix(d.b[d.i:], []byte("null")) {
		d.i += 4
		return true
	}
	return false
}

// raw reads any value and returns its bytes, as json.RawMessage takes them.
func (d *fastDecoder) raw() json.RawMessage {
	lo := d.i
	d.skip(0)
	if !d.ok {
		return nil
	}
	return d.b[lo:d.i:d.i]
}

// skip reads any value, checking that it is well formed.
func (d *fastDecoder) skip(depth int) {
	if depth > maxFastDepth || d.i >= len(d.b) {
		d.ok = false
		return
	}
	switch c := d.b[d.i]; {
	case c == '{':
		d.object(func([]byte) { d.skip(depth + 1) })
	case c == '[':
		for more := d.open('[', ']'); more; more = d.more(']') {
			d.ws()
			d.skip(depth + 1)
		}
	case c == '"':
		d.quoted()
	case c == '-' || (c >= '0' && c <= '9'):
		d.number()
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(d.b[d.i:], []byte(lit)) {
				d.i += len(lit)
				return
			}
		}
		d.ok = false
	}
}

// number reads a JSON number.
func (d *fastDecoder) number() {
	if d.at('-') {
		d.i++
	}
	switch {
	case d.at('0'):
		d.i++
	case d.i < len(d.b) && d.b[d.i] >= '1' && d.b[d.i] <= '9':
		d.digits()
	default:
		d.ok = false
		return
	}
	if d.at('.') {
		d.i++
		if !d.digits() {
			d.ok = false
			return
		}
	}
	if d.at('e') || d.at('E') {
		d.i++
		if d.at('+') || d.at('-') {
			d.i++
		}
		if !d.digits() {
			d.ok = false
		}
	}
}

// digits reads one digit or more.
func (d *fastDecoder) digits() bool {
	lo := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > lo
}

func (d *fastDecoder) at(c byte) bool { return d.i < len(d.b) && d.b[d.i] == c }

func (d *fastDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}
