package cli

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/bulkinvite/bulkinvite/payload"
)

// plain renders outside text — a vendor's message, a candidate's field, a column
// name from a file — for a terminal or a plain-text file. Control characters (C0,
// including tab and line breaks, DEL and C1), bidirectional controls, the Unicode
// line and paragraph separators and bytes that are not UTF-8 are shown as Go
// escapes (\x1b, \n, \u202e, \xff), so that the text cannot recolour or clear the
// screen, move the cursor, retitle the window, ring the bell, reorder what follows
// or break a table's rows. Everything else, backslashes included, is kept as is.
func plain(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == utf8.RuneError:
			b.WriteRune(r)
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// unsafeRune reports whether plain may have to escape r. utf8.RuneError stands for
// a byte that is not UTF-8 (and for U+FFFD itself, which plain keeps).
func unsafeRune(r rune) bool {
	return payload.IsControl(r) || payload.IsBidiControl(r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError
}

// jsonText writes JSON text with the characters that encoding/json leaves raw but
// a terminal may act on — C1 controls and bidirectional controls — written as
// \u escapes; encoding/json escapes the C0 controls, DEL aside, itself. The value
// decodes the same: such characters can only stand inside JSON strings, where the
// escape means the character. Each Write must hold whole characters, as
// json.Encoder's one Write per value does.
type jsonText struct{ w io.Writer }

func (j jsonText) Write(p []byte) (int, error) {
	if bytes.IndexByte(p, 0xc2) < 0 && bytes.IndexByte(p, 0xe2) < 0 {
		return j.w.Write(p)
	}
	out := make([]byte, 0, len(p)+16)
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if 0x80 <= r && r <= 0x9f || payload.IsBidiControl(r) {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, p[i:i+size]...)
		}
		i += size
	}
	if _, err := j.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
