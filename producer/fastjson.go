package producer

import (
	"strings"
	"unicode/utf8"

	"github.com/bulkinvite/bulkinvite/payload"
)

// fastCandidate decodes the common shape of a candidate object without
// encoding/json's reflection: an object whose keys are plain ASCII and whose
// values are strings without escapes or null, nothing after it but white space.
// It returns what json.Unmarshal into a payload.Candidate returns for such an
// object (keys matched exactly or else ignoring ASCII case, the last of a
// repeated key winning, null leaving a field as it is, unknown keys ignored);
// ok is false for anything else (an escape, invalid UTF-8, a number, a nested
// value, malformed JSON, ...), which the caller decodes with encoding/json,
// errors and all. FuzzFastCandidate checks the two agree.
func fastCandidate(b []byte) (c payload.Candidate, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return c, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return c, skipSpace(b, i+1) == len(b)
	}
	for {
		key, j, ok := plainString(b, i)
		if !ok || !isASCII(key) {
			return c, false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return c, false
		}
		i = skipSpace(b, i+1)
		field := candidateField(&c, key)
		switch {
		case i+4 <= len(b) && string(b[i:i+4]) == "null":
			i += 4
		case i < len(b) && b[i] == '"':
			v, j, ok := plainString(b, i)
			if !ok || !utf8.Valid(v) {
				return c, false
			}
			if field != nil {
				*field = string(v)
			}
			i = j
		default:
			return c, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return c, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return c, skipSpace(b, i+1) == len(b)
		default:
			return c, false
		}
	}
}

// candidateField is the field of c that key names, as encoding/json matches
// it for ASCII keys; nil for a key it ignores.
func candidateField(c *payload.Candidate, key []byte) *string {
	fields := [numFields]*string{&c.ATSCandidateID, &c.Email, &c.Name, &c.Firstname, &c.Lastname, &c.CVLink}
	for f, name := range fieldNames {
		if string(key) == name {
			return fields[f]
		}
	}
	for f, name := range fieldNames {
		if len(key) == len(name) && strings.EqualFold(string(key), name) {
			return fields[f]
		}
	}
	return nil
}

// plainString returns the contents of the JSON string at b[i] and the index
// after it; ok is false unless it is a string with no escape and no control
// character, closed before the end of b.
func plainString(b []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20:
			return nil, i, false
		}
	}
	return nil, i, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
