package flowmingo

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// KeyPrefix starts every Flowmingo live key: fl_live_<prefix>.<secret>.
const KeyPrefix = "fl_live_"

// APIKey is a Flowmingo API key. Every way of printing it — String, GoString, %v,
// %+v, %#v, %s, %q, JSON, text — shows only the masked form fl_live_<prefix>.****,
// so that a key cannot leak through a log line, an error or a struct dump.
// Reveal returns the secret itself, for the X-API-Key header alone.
//
// fmt prints a struct's unexported fields by reflection, without calling their
// Format method, so a struct holding an APIKey (or a Config holding one) in an
// unexported field would print the key's own field. That field therefore holds the
// key XOR-ed with a pad drawn once per process: such a dump shows noise. APIKey
// values stay comparable: two keys made from the same string are equal.
type APIKey struct {
	obscured string
}

// keyPad is XOR-ed over the key's bytes, repeating; drawn once per process.
var keyPad = func() (p [32]byte) {
	_, _ = rand.Read(p[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return p
}()

func xorPad(s string) string {
	if s == "" {
		return ""
	}
	b := []byte(s)
	for i := range b {
		b[i] ^= keyPad[i%len(keyPad)]
	}
	return string(b)
}

// NewAPIKey wraps s, trimmed of surrounding white space. It does not check the
// format; see Check.
func NewAPIKey(s string) APIKey { return APIKey{obscured: xorPad(strings.TrimSpace(s))} }

// Reveal returns the key itself. Call it only to set the request header.
func (k APIKey) Reveal() string { return xorPad(k.obscured) }

// IsZero reports whether no key is set.
func (k APIKey) IsZero() bool { return k.obscured == "" }

// Check reports whether the key has the form fl_live_<prefix>.<secret> and can be
// sent in a header (no space or control character inside), without showing the key
// in the error.
func (k APIKey) Check() error {
	key := k.Reveal()
	if key == "" {
		return fmt.Errorf("API key is empty (set FLOWMINGO_API_KEY or FLOWMINGO_API_KEY_FILE)")
	}
	if strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("API key %s contains a space or a control character (a key file must hold the key alone)", k.Masked())
	}
	rest, ok := strings.CutPrefix(key, KeyPrefix)
	if !ok {
		return fmt.Errorf("API key %s does not start with %q", k.Masked(), KeyPrefix)
	}
	prefix, secret, ok := strings.Cut(rest, ".")
	if !ok || prefix == "" || secret == "" {
		return fmt.Errorf("API key %s is not of the form %s<prefix>.<secret>", k.Masked(), KeyPrefix)
	}
	return nil
}

// Masked is the key as the vendor shows it after creation: fl_live_<prefix>.****.
// A key not of that form shows as **** with nothing of it.
func (k APIKey) Masked() string {
	key := k.Reveal()
	if key == "" {
		return "(none)"
	}
	rest, ok := strings.CutPrefix(key, KeyPrefix)
	if !ok {
		return "****"
	}
	prefix, _, ok := strings.Cut(rest, ".")
	if !ok || prefix == "" || len(prefix) > 32 {
		return "****"
	}
	return KeyPrefix + prefix + ".****"
}

// ID is a short, stable, non-reversible identifier of the key (hex of SHA-256), for
// naming shared state such as the rate limiter's Redis keys.
func (k APIKey) ID() string {
	sum := sha256.Sum256([]byte(k.Reveal()))
	return hex.EncodeToString(sum[:8])
}

// String returns the masked key.
func (k APIKey) String() string { return k.Masked() }

// GoString returns the masked key, for %#v.
func (k APIKey) GoString() string { return "flowmingo.APIKey(" + k.Masked() + ")" }

// Format prints the masked key for every verb.
func (k APIKey) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", k.Masked())
	case 'v':
		if f.Flag('#') {
			_, _ = f.Write([]byte(k.GoString()))
			return
		}
		_, _ = f.Write([]byte(k.Masked()))
	default:
		_, _ = f.Write([]byte(k.Masked()))
	}
}

// MarshalText returns the masked key, so JSON, YAML and zap show it masked.
func (k APIKey) MarshalText() ([]byte, error) { return []byte(k.Masked()), nil }
