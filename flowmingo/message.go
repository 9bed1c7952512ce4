package flowmingo

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"unicode/utf8"
)

// maxMessageBytes caps a message taken from a response body.
const maxMessageBytes = 500

// redactor removes the secret part of an API key from text the vendor sent back: a
// server that echoes the X-API-Key header in an error must not put the key into our
// errors, logs or dead letters. The secret becomes "****", so an echoed key reads
// as its masked form fl_live_<prefix>.****.
type redactor struct {
	secret string // the part after the first "." that follows KeyPrefix; "" = nothing to hide
}

const redacted = "****"

func newRedactor(k APIKey) redactor {
	key := k.Reveal()
	if rest, ok := strings.CutPrefix(key, KeyPrefix); ok {
		if _, secret, ok := strings.Cut(rest, "."); ok && secret != "" {
			return redactor{secret: secret}
		}
	}
	// Not of the usual form (New refuses such keys): hide all of it.
	return redactor{secret: key}
}

func (r redactor) string(s string) string {
	if r.secret == "" {
		return s
	}
	return strings.ReplaceAll(s, r.secret, redacted)
}

// json redacts b, which may or may not be JSON. The secret is replaced where it
// appears literally, keeping the rest verbatim. If b holds escapes, the decoded
// strings are checked too, since "\u0041" hides an "A" from a byte search; when one
// still holds the secret, b is decoded, redacted and encoded again (losing its
// original formatting and any duplicate key, which is the price of not leaking).
// Invalid JSON, or more than one JSON value, with the secret escaped comes back as
// the JSON string "****".
func (r redactor) json(b []byte) []byte {
	if r.secret == "" || len(b) == 0 {
		return b
	}
	if bytes.Contains(b, []byte(r.secret)) {
		b = bytes.ReplaceAll(b, []byte(r.secret), []byte(redacted))
	}
	if bytes.IndexByte(b, '\\') < 0 {
		return b
	}
	if !r.inTokens(b) {
		return b
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return []byte(`"` + redacted + `"`)
	}
	if _, err := dec.Token(); err != io.EOF { // more than one value: do not drop the rest silently
		return []byte(`"` + redacted + `"`)
	}
	v = r.walk(v)
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`"` + redacted + `"`)
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n"))
}

// inTokens reports whether a string of the JSON in b, key or value, holds the secret
// once decoded. Tokens are read one by one, so that a duplicate key, which decoding
// into a map would drop, is seen too.
func (r redactor) inTokens(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return false // the end, or not JSON: there are no decoded strings to hide
		}
		if s, ok := tok.(string); ok && strings.Contains(s, r.secret) {
			return true
		}
	}
}

// walk redacts every string, key or value, of a decoded JSON value.
func (r redactor) walk(v any) any {
	switch x := v.(type) {
	case string:
		return r.string(x)
	case []any:
		for i := range x {
			x[i] = r.walk(x[i])
		}
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[r.string(k)] = r.walk(e)
		}
		return out
	}
	return v
}

// messageFields are the fields an error body's message is taken from, in order of
// preference: "message" (NestJS and most others; may be a list), "error" (a string,
// or an object with its own "message"), "detail" (FastAPI; may be a list of objects
// with "msg"), "msg", "errors".
var messageFields = []string{"message", "error", "detail", "msg", "errors"}

// extractMessage returns the explanation in an error body, redacted, on one line and
// at most maxMessageBytes long: the first message field of a JSON object, else the
// body's text.
func extractMessage(body []byte, r redactor) string {
	body = bytes.TrimSpace(body)
	var msg string
	if len(body) > 0 && body[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v map[string]any
		if dec.Decode(&v) == nil {
			msg = messageFrom(v, 0)
		}
	}
	if msg == "" {
		msg = string(body)
	}
	// Redact before cutting, so a cut cannot leave half a secret behind.
	return truncate(oneLine(r.string(msg)), maxMessageBytes)
}

func messageFrom(v any, depth int) string {
	if depth > 4 {
		return ""
	}
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case []any:
		var parts []string
		size := 0
		for _, e := range x {
			if m := messageFrom(e, depth+1); m != "" {
				parts = append(parts, m)
				size += len(m)
			}
			if size > maxMessageBytes {
				break
			}
		}
		return strings.Join(parts, "; ")
	case map[string]any:
		for _, f := range messageFields {
			if m := messageFrom(x[f], depth+1); m != "" {
				return m
			}
		}
	}
	return ""
}

// oneLine makes s valid UTF-8 and collapses every run of white space (newlines of an
// HTML error page included) into one space.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ToValidUTF8(s, "\uFFFD")), " ")
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut with "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
