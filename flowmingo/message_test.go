package flowmingo

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// unicodeEscaped spells s in JSON as \uXXXX escapes only, which a byte search for s
// does not find.
func unicodeEscaped(s string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	return b.String()
}

func TestUnicodeEscaped(t *testing.T) {
	t.Parallel()
	var s string
	if err := json.Unmarshal([]byte(`"`+unicodeEscaped(testKey)+`"`), &s); err != nil || s != testKey {
		t.Fatalf("%q, %v", s, err)
	}
}

func TestExtractMessage(t *testing.T) {
	t.Parallel()
	red := newRedactor(NewAPIKey(testKey))
	long := strings.Repeat("é", 400) // 800 bytes
	for _, tc := range []struct {
		name, body, want string
	}{
		{"message", `{"message":"  bad thing  "}`, "bad thing"},
		{"message preferred over error", `{"error":"Bad Request","message":"email invalid"}`, "email invalid"},
		{"error string", `{"error":"nope"}`, "nope"},
		{"error object", `{"error":{"code":1,"message":"inner"}}`, "inner"},
		{"detail string", `{"detail":"Not authenticated"}`, "Not authenticated"},
		{"detail list", `{"detail":[{"msg":"a"},{"msg":"b"}]}`, "a; b"},
		{"message list", `{"message":["x","", "y"]}`, "x; y"},
		{"errors list", `{"errors":[{"message":"e1"},{"field":"f"}]}`, "e1"},
		{"empty message falls through", `{"message":"","detail":"d"}`, "d"},
		{"non-string message falls back to the body", `{"message":42}`, `{"message":42}`},
		{"JSON without a message field", `{"ok":false}`, `{"ok":false}`},
		{"JSON array", `["a"]`, `["a"]`},
		{"text", "  Service Unavailable\r\n", "Service Unavailable"},
		{"HTML on one line", "<html>\n  <body>\tBad   Gateway</body>\n</html>", "<html> <body> Bad Gateway</body> </html>"},
		{"empty", "", ""},
		{"broken JSON", `{"message":`, `{"message":`},
		{"invalid UTF-8", "bad \xff byte", "bad \uFFFD byte"},
		{"the key redacted", `{"message":"invalid key ` + testKey + `"}`, "invalid key " + testMasked},
		{"the escaped key redacted", `{"message":"invalid key ` + unicodeEscaped(testKey) + `"}`, "invalid key " + testMasked},
		{"the secret alone redacted", "bad secret " + testSecret, "bad secret ****"},
		{"deep nesting stops", `{"error":{"error":{"error":{"error":{"error":{"error":"deep"}}}}}}`, `{"error":{"error":{"error":{"error":{"error":{"error":"deep"}}}}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := extractMessage([]byte(tc.body), red); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("long messages are cut on a rune boundary", func(t *testing.T) {
		t.Parallel()
		got := extractMessage([]byte(`{"message":"`+long+`"}`), red)
		if len(got) > maxMessageBytes || !utf8.ValidString(got) || !strings.HasSuffix(got, "...") {
			t.Errorf("%d bytes, valid %v: %q", len(got), utf8.ValidString(got), got)
		}
	})
	t.Run("a key across the cut is redacted first", func(t *testing.T) {
		t.Parallel()
		body := strings.Repeat("x", maxMessageBytes-10) + testKey
		got := extractMessage([]byte(body), red)
		if strings.Contains(got, testSecret[:6]) {
			t.Errorf("part of the secret left after the cut: %q", got)
		}
	})
}

func TestRedactorJSON(t *testing.T) {
	t.Parallel()
	red := newRedactor(NewAPIKey(testKey))
	for _, tc := range []struct {
		name, in, want string
	}{
		{"no key: verbatim", `{ "a" : "b\u00e9" }`, `{ "a" : "b\u00e9" }`},
		{"literal key: replaced in place", `{ "message" : "key ` + testKey + `" }`, `{ "message" : "key ` + testMasked + `" }`},
		{"escaped key: re-encoded", `{"m":"` + unicodeEscaped(testKey) + `","n":1.50}`, `{"m":"` + testMasked + `","n":1.50}`},
		{"escaped key in an object key", `{"` + unicodeEscaped(testSecret) + `":[true]}`, `{"****":[true]}`},
		{"not JSON", "key=" + testKey, "key=" + testMasked},
		{"not JSON with escapes", `\u0041 ` + testSecret, `\u0041 ****`},
		{"empty", "", ""},
		{"escaped key behind a duplicate key", `{"a":"` + unicodeEscaped(testSecret) + `","a":"b"}`, `{"a":"b"}`},
		{"escaped key in a second value", `{"a":1} "` + unicodeEscaped(testSecret) + `"`, `"****"`},
		{"escaped key before a syntax error", `["` + unicodeEscaped(testSecret) + `",}`, `"****"`},
		{"escaped key in a number-bearing document keeps the numbers", `[1e400,"` + unicodeEscaped(testSecret) + `"]`, `[1e400,"****"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := string(red.json([]byte(tc.in))); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	if got := (redactor{}).string("x" + testSecret); got != "x"+testSecret {
		t.Errorf("zero redactor changed %q", got)
	}
	if r := newRedactor(NewAPIKey("odd-key-without-prefix")); r.string("echo odd-key-without-prefix") != "echo ****" {
		t.Errorf("a key of an odd form is not hidden whole: %q", r.secret)
	}
}
