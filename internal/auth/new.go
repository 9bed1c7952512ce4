package auth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Minted is a new token: its secret, shown once, and its tokens file entry.
type Minted struct {
	Secret string
	Token  Token
}

// New mints a token named name with the given scopes: a random secret of 256
// bits (base64url, 43 characters) of which the token keeps the SHA-256.
func New(name string, scopes []string) (Minted, error) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	secret := base64.RawURLEncoding.EncodeToString(b)
	t, err := named(name, scopes, secret, "")
	if err != nil {
		return Minted{}, err
	}
	return Minted{Secret: secret, Token: t}, nil
}

// Entry is the token's entry for the YAML tokens file, to paste under
// "tokens:"; it holds the secret's SHA-256, never the secret.
func (t Token) Entry() string {
	scopes := make([]string, len(t.Scopes))
	for i, s := range t.Scopes {
		scopes[i] = string(s)
	}
	return fmt.Sprintf("  - name: %s\n    scopes: [%s]\n    secret_sha256: %s\n", t.Name, strings.Join(scopes, ", "), hex.EncodeToString(t.Hash[:]))
}
