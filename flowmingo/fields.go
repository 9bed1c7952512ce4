package flowmingo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// FieldError is one entry of the list of errors a 400/422 body may carry.
type FieldError struct {
	// Field is the path the vendor named, e.g. "candidates[2].email" or
	// "body.candidates.2.email"; empty when the entry names none.
	Field string
	// Candidate is the index, in the request's candidates, of the candidate the
	// entry is about, or -1 when it is not about one candidate.
	Candidate int
	// Message is the entry's message, redacted and cut short.
	Message string
}

// maxFieldErrors bounds the entries read from one body.
const maxFieldErrors = 1000

// candidatePath matches a path into one candidate: candidates[2], candidates.2,
// body.candidates.2 (FastAPI's loc joined with dots).
var candidatePath = regexp.MustCompile(`^(?:body\.)?candidates(?:\[(\d+)\]|\.(\d+))(?:$|[.\[ :])`)

// fieldErrors reads the per-field entries of a 400/422 body in the shapes APIs
// commonly use: {"errors": [{"field"|"path": ..., "message": ...}]}, FastAPI's
// {"detail": [{"loc": [...], "msg": ...}]}, and NestJS's {"message": ["candidates.0.email
// must be an email", ...]} (whose strings name their field first). The vendor's
// format is not documented: nil when the body has none of these.
func fieldErrors(body []byte, r redactor) []FieldError {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil
	}
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return nil
	}
	var out []FieldError
	add := func(field, msg string) {
		if len(out) >= maxFieldErrors {
			return
		}
		fe := FieldError{Field: truncate(oneLine(r.string(field)), maxMessageBytes), Candidate: -1, Message: truncate(oneLine(r.string(msg)), maxMessageBytes)}
		if m := candidatePath.FindStringSubmatch(field); m != nil {
			if n, err := strconv.Atoi(m[1] + m[2]); err == nil {
				fe.Candidate = n
			}
		}
		out = append(out, fe)
	}
	for _, key := range []string{"errors", "detail"} {
		list, _ := v[key].([]any)
		for _, e := range list {
			obj, ok := e.(map[string]any)
			if !ok {
				continue
			}
			add(pathOf(obj), firstString(obj, "message", "msg", "error"))
		}
	}
	if msgs, ok := v["message"].([]any); ok && len(out) == 0 {
		for _, e := range msgs {
			s, ok := e.(string)
			if !ok {
				continue
			}
			field, _, _ := strings.Cut(strings.TrimSpace(s), " ")
			if !candidatePath.MatchString(field + " ") {
				field = "" // a sentence: its field, if any, is not ours to guess
			}
			add(field, s)
		}
	}
	return out
}

// pathOf is an entry's field path: "field" or "path" as a string, or "loc" as a
// list joined with dots.
func pathOf(obj map[string]any) string {
	if s := firstString(obj, "field", "path"); s != "" {
		return s
	}
	loc, _ := obj["loc"].([]any)
	parts := make([]string, 0, len(loc))
	for _, p := range loc {
		parts = append(parts, fmt.Sprint(p))
	}
	return strings.Join(parts, ".")
}

func firstString(obj map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := obj[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// NamedCandidates returns the candidates the error names, by index into the
// request of n candidates, each with its entries' messages, when every entry of
// the body names a candidate (ok). ok is false when the body lists no entries, or
// some entry is about something else (the request as a whole, or a field it does
// not name).
func (e *ValidationError) NamedCandidates(n int) (named map[int][]string, ok bool) {
	if len(e.Fields) == 0 {
		return nil, false
	}
	named = map[int][]string{}
	for _, f := range e.Fields {
		if f.Candidate < 0 || f.Candidate >= n {
			return nil, false
		}
		named[f.Candidate] = append(named[f.Candidate], f.Message)
	}
	return named, true
}

// AboutRequest reports whether every entry of the body names a field outside the
// candidates (the target, the message): the request is refused as a whole, and
// would be refused for any part of its candidates.
func (e *ValidationError) AboutRequest() bool {
	if len(e.Fields) == 0 {
		return false
	}
	for _, f := range e.Fields {
		if f.Field == "" || f.Candidate >= 0 || strings.HasPrefix(strings.TrimPrefix(f.Field, "body."), "candidates") {
			return false
		}
	}
	return true
}
