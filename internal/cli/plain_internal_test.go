package cli

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestPlain(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"ordinary text", `Zoë O'Brien, 李, محمد, C:\path`, `Zoë O'Brien, 李, محمد, C:\path`},
		{"escape sequence", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"bell, NUL, DEL", "a\x07b\x00c\x7f", `a\x07b\x00c\x7f`},
		{"tab and line breaks", "a\tb\r\nc", `a\tb\r\nc`},
		{"C1 controls", "a\u0085b\u009b2J", `a\u0085b\u009b2J`},
		{"bidi override and isolate", "x\u202eevil\u2066y\u2069", `x\u202eevil\u2066y\u2069`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"bytes that are not UTF-8", "Jos\xe9 \xff", `Jos\xe9 \xff`},
		{"replacement character kept", "Jos\ufffd", "Jos\ufffd"},
		{"right-to-left mark kept", "\u200fשרה", "\u200fשרה"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := plain(tt.in); got != tt.want {
				t.Errorf("plain(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestJSONTextEscapesWhatEncodingJSONLeaves: encoding/json, even with
// SetEscapeHTML(false), escapes C0 controls but writes C1 and bidirectional
// controls raw; through jsonText none is raw, and the value decodes the same.
func TestJSONTextEscapesWhatEncodingJSONLeaves(t *testing.T) {
	t.Parallel()
	in := map[string]string{"m": "\x1b[31m\x07\r\n\t\x00 \u009b2J \u202eevil \u2066x\u2069 \u2028 Zoë 李 <b>&</b>"}
	var direct, safe bytes.Buffer
	for _, w := range []*json.Encoder{json.NewEncoder(&direct), json.NewEncoder(jsonText{&safe})} {
		w.SetEscapeHTML(false)
		if err := w.Encode(in); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []string{"\x1b", "\x07", "\r", "\t", "\x00"} {
		if bytes.Contains(direct.Bytes(), []byte(c)) {
			t.Errorf("encoding/json wrote a raw %q: %q", c, direct.String())
		}
	}
	want := `{"m":"\u001b[31m\u0007\r\n\t\u0000 \u009b2J \u202eevil \u2066x\u2069 \u2028 Zoë 李 <b>&</b>"}` + "\n"
	if safe.String() != want {
		t.Errorf("jsonText wrote\n%q\nwant\n%q", safe.String(), want)
	}
	var back map[string]string
	if err := json.Unmarshal(safe.Bytes(), &back); err != nil || back["m"] != in["m"] {
		t.Errorf("jsonText's output decodes to %q (%v), want %q", back["m"], err, in["m"])
	}
}
