package flowmingo

import (
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
type APIKey struct {
	secret string
}

// NewAPIKey wraps s. It does not check the format; see Check.
func NewAPIKey(s string) APIKey { return APIKey{secret: strings.TrimSpace(s)} }

// Reveal returns the key itself. Call it only to set the request header.
func (k APIKey) Reveal() string { return k.secret }

// IsZero reports whether no key is set.
func (k APIKey) IsZero() bool { return k.secret == "" }

// Check reports whether the key has the form fl_live_<prefix>.<secret>, without
// showing the key in the error.
func (k APIKey) Check() error {
	if k.secret == "" {
		return fmt.Errorf("API key is empty (set FLOWMINGO_API_KEY or FLOWMINGO_API_KEY_FILE)")
	}
	rest, ok := strings.CutPrefix(k.secret, KeyPrefix)
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
	if k.secret == "" {
		return "(none)"
	}
	rest, ok := strings.CutPrefix(k.secret, KeyPrefix)
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
	sum := sha256.Sum256([]byte(k.secret))
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
