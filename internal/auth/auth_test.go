package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/auth"
)

const (
	secretA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	secretB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func sum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func TestParseFileYAML(t *testing.T) {
	t.Parallel()
	text := "# tokens of serve\ntokens:\n  - name: ats\n    scopes: [submit, read]\n    secret_sha256: " + sum(secretA) +
		"\n  - name: ops.team\n    scopes: [operate]\n    secret: " + secretB + "\n"
	toks, err := auth.ParseFile(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 2 || toks[0].Name != "ats" || !slices.Equal(toks[0].Scopes, []auth.Scope{auth.Submit, auth.Read}) ||
		toks[1].Name != "ops.team" || !slices.Equal(toks[1].Scopes, []auth.Scope{auth.Operate}) || toks[0].Unscoped {
		t.Fatalf("tokens %+v", toks)
	}
	for _, tc := range []struct{ secret, name string }{{secretA, "ats"}, {secretB, "ops.team"}} {
		if got, ok := auth.Find(toks, tc.secret); !ok || got.Name != tc.name {
			t.Errorf("Find(%s...) = %q %v, want %q", tc.secret[:3], got.Name, ok, tc.name)
		}
	}
	if _, ok := auth.Find(toks, secretA+"x"); ok {
		t.Error("a wrong secret found a token")
	}
}

func TestParseFileLines(t *testing.T) {
	t.Parallel()
	toks, err := auth.ParseFile("# old form\n" + secretA + "  # a comment\n\n" + secretB + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 2 || !toks[0].Unscoped || toks[0].Name != auth.BareName(secretA) || !toks[0].Has(auth.Operate) {
		t.Fatalf("tokens %+v", toks)
	}
}

func TestParseEnv(t *testing.T) {
	t.Parallel()
	toks, err := auth.ParseEnv(" ats:submit+read:" + secretA + ", " + secretB + "#x")
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 2 || toks[0].Name != "ats" || !slices.Equal(toks[0].Scopes, []auth.Scope{auth.Submit, auth.Read}) || toks[0].Unscoped {
		t.Fatalf("first %+v", toks[0])
	}
	if !toks[1].Unscoped || !toks[1].Has(auth.Admin) || toks[1].Name != auth.BareName(secretB+"#x") {
		t.Fatalf("second %+v", toks[1])
	}
	if got, ok := auth.Find(toks, secretA); !ok || got.Name != "ats" || got.Has(auth.Operate) || !got.Has(auth.Read) {
		t.Fatalf("Find = %+v %v", got, ok)
	}
}

func TestParseErrorsNameThePlaceNotTheSecret(t *testing.T) {
	t.Parallel()
	yamlOf := func(entries string) string { return "tokens:\n" + entries }
	tests := []struct {
		name, text string
		env        bool
		want       string
	}{
		{"short env secret", "ats:read:short-secret", true, "token 1 of 1: ats: secret is 12 characters"},
		{"unknown scope", "ats:read+fly:" + secretA, true, `unknown scope "fly"`},
		{"no scope", "ats::" + secretA, true, "no scopes"},
		{"reserved name", "cli:read:" + secretA, true, `name "cli" is reserved`},
		{"duplicate name", "a:read:" + secretA + ",a:read:" + secretB, true, `token 2: name "a" is also token 1's`},
		{"same secret twice", "a:read:" + secretA + "," + secretA, true, "token 2 (" + auth.BareName(secretA) + "): the same secret as token 1"},
		{"bad name", yamlOf("  - name: Ats\n    scopes: [read]\n    secret: " + secretA + "\n"), false, `token 1 of 1: name "Ats"`},
		{"bad sha", yamlOf("  - name: a\n    scopes: [read]\n    secret_sha256: abc\n"), false, "secret_sha256 must be 64 hex digits"},
		{"both", yamlOf("  - name: a\n    scopes: [read]\n    secret: " + secretA + "\n    secret_sha256: " + sum(secretA) + "\n"), false, "both secret and secret_sha256"},
		{"neither", yamlOf("  - name: a\n    scopes: [read]\n"), false, "no secret or secret_sha256"},
		{"short file secret", yamlOf("  - name: a\n    scopes: [read]\n  - name: b\n    scopes: [read]\n    secret: shortsecret\n"), false, "token 1 of 2: a: no secret"},
		{"unknown key", yamlOf("  - name: a\n    scope: [read]\n    secret: " + secretA + "\n"), false, "not a valid tokens file"},
		{"old form short", "\n" + secretA + "\nshortsecret\n", false, "line 3: token is 11 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var err error
			if tt.env {
				_, err = auth.ParseEnv(tt.text)
			} else {
				_, err = auth.ParseFile(tt.text)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			for _, s := range []string{secretA, secretB, "short-secret", "shortsecret"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q quotes a secret", err)
				}
			}
		})
	}
}

func TestNewEntryRoundTrips(t *testing.T) {
	t.Parallel()
	m, err := auth.New("ci", []string{"submit", "read"})
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.CheckSecret(m.Secret); err != nil {
		t.Fatalf("secret %v", err)
	}
	entry := m.Token.Entry()
	if strings.Contains(entry, m.Secret) {
		t.Fatal("the entry holds the secret")
	}
	toks, err := auth.ParseFile("tokens:\n" + entry)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := auth.Find(toks, m.Secret)
	if !ok || got.Name != "ci" || !got.Has(auth.Submit) || !got.Has(auth.Read) || got.Has(auth.Operate) {
		t.Fatalf("Find = %+v %v", got, ok)
	}
	if _, err := auth.New("cli", []string{"read"}); err == nil {
		t.Error("New minted a token named cli")
	}
}

func TestAdminHoldsEveryScope(t *testing.T) {
	t.Parallel()
	admin := auth.Identity{Name: "a", Scopes: []auth.Scope{auth.Admin}}
	reader := auth.Identity{Name: "r", Scopes: []auth.Scope{auth.Read}}
	for _, s := range auth.AllScopes {
		if !admin.Has(s) {
			t.Errorf("admin lacks %s", s)
		}
		if reader.Has(s) != (s == auth.Read) {
			t.Errorf("reader Has(%s) = %v", s, reader.Has(s))
		}
	}
}
