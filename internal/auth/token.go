package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Scope is one permission of a token.
type Scope string

// The scopes. Admin implies every other, on every caller's batches.
const (
	Submit  Scope = "submit"  // create batches
	Read    Scope = "read"    // batches, their status, dead letters
	Operate Scope = "operate" // replay and purge dead letters (pause, resume, cancel)
	Admin   Scope = "admin"   // all of that, /metrics, the auth stop's resume
)

// AllScopes lists the scopes in the order they are shown.
var AllScopes = []Scope{Submit, Read, Operate, Admin}

// ParseScope returns the scope named s, or an error quoting it.
func ParseScope(s string) (Scope, error) {
	for _, sc := range AllScopes {
		if string(sc) == s {
			return sc, nil
		}
	}
	return "", fmt.Errorf("unknown scope %q (want submit, read, operate or admin)", s)
}

// MinSecretLength is the fewest characters a secret may have: a token must be
// too long to guess, whatever the throttle of failed authentications.
const MinSecretLength = 32

// CheckSecret says what is wrong with a secret without quoting it ("is 7
// characters; at least 32", "holds white space"), for the caller to put after
// the secret's place; nil when it will do.
func CheckSecret(s string) error {
	if strings.ContainsAny(s, " \t\r\n") {
		return errors.New("holds white space")
	}
	if n := utf8.RuneCountInString(s); n < MinSecretLength {
		return fmt.Errorf("is %d characters; at least %d", n, MinSecretLength)
	}
	return nil
}

// Reserved names: CLIName owns the batches the CLI creates, AnonymousName is the
// caller of a server without authentication, and names starting with
// BarePrefix are those of bare secrets (BareName).
const (
	CLIName       = "cli"
	AnonymousName = "anonymous"
	BarePrefix    = "tok-"
)

// WorkerName names a worker in a batch's event log, with its host (AtHost).
const WorkerName = "worker"

// AtHost names a process of this machine in a batch's event log (store.Event.By):
// "cli@ws-12", "worker@ws-12". No token's name holds an '@'. A machine without
// a name is "unknown".
func AtHost(name string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return name + "@" + host
}

// namePattern matches a name, reserved or not.
var namePattern = regexp.MustCompile(`^[a-z0-9._-]{1,64}$`)

// CheckName says what is wrong with a token's name, nil when it will do.
func CheckName(n string) error {
	switch {
	case !namePattern.MatchString(n):
		return fmt.Errorf("name %q: want 1 to 64 of a-z, 0-9, '.', '_', '-'", n)
	case n == CLIName || n == AnonymousName:
		return fmt.Errorf("name %q is reserved", n)
	case strings.HasPrefix(n, BarePrefix):
		return fmt.Errorf("name %q: names starting %q are reserved for bare secrets", n, BarePrefix)
	}
	return nil
}

// Identity is who a request comes from: a token's name and scopes.
type Identity struct {
	Name   string
	Scopes []Scope
}

// Has reports whether the identity holds scope s; admin holds every scope.
func (id Identity) Has(s Scope) bool {
	for _, have := range id.Scopes {
		if have == s || have == Admin {
			return true
		}
	}
	return false
}

// Token is an accepted token: who it is and the SHA-256 of its secret.
type Token struct {
	Identity
	Hash [32]byte
	// Unscoped marks a bare secret (today's form): an admin token named
	// BareName, which `serve` warns about at start.
	Unscoped bool
}

// Fingerprint names the token's secret without revealing it: BarePrefix and the
// first 8 hex digits of its SHA-256. A dashboard session records it, so that a
// session ends when its token's secret is replaced.
func (t Token) Fingerprint() string { return BarePrefix + hex.EncodeToString(t.Hash[:4]) }

// BareName is the name of a bare secret: its Fingerprint, so that logs and
// idempotency keys say what they said before tokens had names.
func BareName(secret string) string { return Bare(secret).Fingerprint() }

// Bare returns the token of a bare secret: unscoped, so admin, named BareName.
func Bare(secret string) Token {
	t := Token{Hash: sha256.Sum256([]byte(secret)), Unscoped: true}
	t.Identity = Identity{Name: t.Fingerprint(), Scopes: []Scope{Admin}}
	return t
}

// Find returns the token whose hash is the presented secret's, comparing with
// every token's in constant time; false when it is none of them.
func Find(tokens []Token, secret string) (Token, bool) {
	if secret == "" {
		return Token{}, false
	}
	h := sha256.Sum256([]byte(secret))
	found := -1
	for i := range tokens {
		if subtle.ConstantTimeCompare(h[:], tokens[i].Hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Token{}, false
	}
	return tokens[found], true
}

// Check checks a set of tokens: each has a valid name (unless unscoped) and at
// least one scope, and no two share a name or a fingerprint (the same secret
// twice). Errors name the token's position (1-based), never its secret.
func Check(tokens []Token) error {
	names := map[string]int{}
	prints := map[string]int{}
	for i, t := range tokens {
		pos := i + 1
		if !t.Unscoped {
			if err := CheckName(t.Name); err != nil {
				return fmt.Errorf("token %d: %w", pos, err)
			}
		}
		if len(t.Scopes) == 0 {
			return fmt.Errorf("token %d (%s): no scopes", pos, t.Name)
		}
		if j, ok := names[t.Name]; ok {
			return fmt.Errorf("token %d: name %q is also token %d's", pos, t.Name, j)
		}
		if j, ok := prints[t.Fingerprint()]; ok {
			return fmt.Errorf("token %d (%s): the same secret as token %d", pos, t.Name, j)
		}
		names[t.Name], prints[t.Fingerprint()] = pos, pos
	}
	return nil
}
