package auth

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ParseEnv reads BULKINVITE_TOKENS: comma-separated entries, blanks around them
// dropped, each either name:scope+scope:secret or a bare secret (Bare). An entry
// with two colons or more whose first part is made of a name's characters is a
// named one (the secret is what follows the second colon); any other is bare.
// "#" is part of a secret here. Errors name the entry's position, never its
// secret.
func ParseEnv(v string) ([]Token, error) {
	var entries []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			entries = append(entries, e)
		}
	}
	var out []Token
	for i, e := range entries {
		t, err := envEntry(e)
		if err != nil {
			return nil, fmt.Errorf("token %d of %d: %w", i+1, len(entries), err)
		}
		out = append(out, t)
	}
	if err := Check(out); err != nil {
		return nil, err
	}
	return out, nil
}

func envEntry(e string) (Token, error) {
	parts := strings.SplitN(e, ":", 3)
	if len(parts) < 3 || !namePattern.MatchString(parts[0]) {
		if err := CheckSecret(e); err != nil {
			return Token{}, fmt.Errorf("secret %w", err)
		}
		return Bare(e), nil
	}
	var scopes []string
	if parts[1] != "" {
		scopes = strings.Split(parts[1], "+")
	}
	return named(parts[0], scopes, parts[2], "")
}

// named builds a named token from an entry's parts: a secret or the hex of its
// SHA-256, exactly one of them.
func named(name string, scopes []string, secret, sum string) (Token, error) {
	if err := CheckName(name); err != nil {
		return Token{}, err
	}
	t := Token{Identity: Identity{Name: name}}
	if len(scopes) == 0 {
		return Token{}, fmt.Errorf("%s: no scopes (want some of submit, read, operate, admin)", name)
	}
	for _, s := range scopes {
		sc, err := ParseScope(strings.TrimSpace(s))
		if err != nil {
			return Token{}, fmt.Errorf("%s: %w", name, err)
		}
		t.Scopes = append(t.Scopes, sc)
	}
	switch {
	case secret != "" && sum != "":
		return Token{}, fmt.Errorf("%s: both secret and secret_sha256; give one", name)
	case sum != "":
		b, err := hex.DecodeString(sum)
		if err != nil || len(b) != len(t.Hash) {
			return Token{}, fmt.Errorf("%s: secret_sha256 must be 64 hex digits", name)
		}
		copy(t.Hash[:], b)
	case secret != "":
		if err := CheckSecret(secret); err != nil {
			return Token{}, fmt.Errorf("%s: secret %w", name, err)
		}
		t.Hash = Bare(secret).Hash
	default:
		return Token{}, fmt.Errorf("%s: no secret or secret_sha256", name)
	}
	return t, nil
}

// fileEntry is one token of the YAML tokens file.
type fileEntry struct {
	Name         string   `yaml:"name"`
	Scopes       []string `yaml:"scopes"`
	Secret       string   `yaml:"secret"`
	SecretSHA256 string   `yaml:"secret_sha256"`
}

// ParseFile reads the tokens file (BULKINVITE_TOKENS_FILE). A file whose first
// line that is neither blank nor a comment starts with "tokens:" is YAML:
//
//	tokens:
//	  - name: ats
//	    scopes: [submit, read]
//	    secret_sha256: <64 hex digits>
//
// (or secret: instead of secret_sha256); any other file holds bare secrets
// (Bare), one a line, "#" starting a comment. Errors name the token's position
// (YAML) or line, never its secret.
func ParseFile(text string) ([]Token, error) {
	if isYAML(text) {
		return parseYAML(text)
	}
	var out []Token
	for i, line := range strings.Split(text, "\n") {
		s, _, _ := strings.Cut(line, "#")
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if err := CheckSecret(s); err != nil {
			return nil, fmt.Errorf("line %d: token %w", i+1, err)
		}
		out = append(out, Bare(s))
	}
	if err := Check(out); err != nil {
		return nil, err
	}
	return out, nil
}

func isYAML(text string) bool {
	for _, line := range strings.Split(text, "\n") {
		s := strings.TrimSpace(line)
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		return strings.HasPrefix(s, "tokens:")
	}
	return false
}

func parseYAML(text string) ([]Token, error) {
	var f struct {
		Tokens []fileEntry `yaml:"tokens"`
	}
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		// yaml's errors may quote the offending value; say only where.
		return nil, errors.New("not a valid tokens file: want tokens: [{name, scopes: [...], secret_sha256 | secret}]" + yamlLine(err))
	}
	var out []Token
	for i, e := range f.Tokens {
		t, err := named(e.Name, e.Scopes, e.Secret, e.SecretSHA256)
		if err != nil {
			return nil, fmt.Errorf("token %d of %d: %w", i+1, len(f.Tokens), err)
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, errors.New("tokens: none listed")
	}
	if err := Check(out); err != nil {
		return nil, err
	}
	return out, nil
}

// yamlLine returns " (line N)" from a yaml error, "" when it names none.
func yamlLine(err error) string {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if i := strings.Index(msg, "line "); i >= 0 {
		n := msg[i+5:]
		if j := strings.IndexFunc(n, func(r rune) bool { return r < '0' || r > '9' }); j > 0 {
			return " (line " + n[:j] + ")"
		}
	}
	return ""
}
