package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/callback"
	"github.com/bulkinvite/bulkinvite/internal/cli"
	"github.com/bulkinvite/bulkinvite/internal/config"
)

// TestTokenNewRoundTrips: `token new` prints a secret and a file entry; the
// entry, pasted into a tokens file, authenticates the secret with the token's
// name and scopes, and holds no secret itself.
func TestTokenNewRoundTrips(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	code := cli.Run(t.Context(), []string{"token", "new", "--name", "ats", "--scopes", "submit, read"},
		cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(string) string { return "" }})
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(out.String(), "\n")
	if len(lines) < 3 {
		t.Fatalf("output:\n%s", out.String())
	}
	secret := lines[1]
	_, entry, ok := strings.Cut(out.String(), "under \"tokens:\":\n")
	if !ok || auth.CheckSecret(secret) != nil || strings.Contains(entry, secret) {
		t.Fatalf("output:\n%s", out.String())
	}
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(file, []byte("tokens:\n"+entry), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(config.Sources{Getenv: func(k string) string {
		return map[string]string{"BULKINVITE_TOKENS_FILE": file}[k]
	}})
	if err != nil {
		t.Fatal(err)
	}
	tok, ok := auth.Find(c.Tokens, secret)
	if !ok || tok.Name != "ats" || !tok.Has(auth.Submit) || !tok.Has(auth.Read) || tok.Has(auth.Operate) || tok.Unscoped {
		t.Fatalf("the pasted entry gives %+v %v", tok, ok)
	}
}

// TestTokenNewUsage: a bad name or scope is a usage error naming it.
func TestTokenNewUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--name", "cli", "--scopes", "read"}, {"--name", "x", "--scopes", "fly"}, {"--name", "x"}} {
		var out, errb bytes.Buffer
		code := cli.Run(t.Context(), append([]string{"token", "new"}, args...),
			cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(string) string { return "" }})
		if code != cli.ExitUsage || out.Len() != 0 {
			t.Errorf("%v: exit %d, out %q, err %q", args, code, out.String(), errb.String())
		}
	}
}

// TestTokenCallbackKey: `token callback-key` prints the key that signs a
// token's callbacks (callback.TokenKey of BULKINVITE_CALLBACK_SECRET), and
// `token new` prints the same for the token it makes; without the callback
// secret, callback-key is a usage error.
func TestTokenCallbackKey(t *testing.T) {
	t.Parallel()
	const secret = "global-callback-secret-token-test"
	withSecret := func(k string) string { return map[string]string{"BULKINVITE_CALLBACK_SECRET": secret}[k] }
	run := func(getenv func(string) string, args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := cli.Run(t.Context(), args, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: getenv})
		return code, out.String()
	}
	want := callback.TokenKey(secret, "ats")
	if code, out := run(withSecret, "token", "callback-key", "--name", "ats"); code != cli.ExitOK || out != want+"\n" {
		t.Errorf("callback-key: exit %d, %q; want %q", code, out, want)
	}
	if code, out := run(withSecret, "token", "new", "--name", "ats", "--scopes", "submit"); code != cli.ExitOK || !strings.Contains(out, "\n"+want+"\n") {
		t.Errorf("token new: exit %d, output without the callback key:\n%s", code, out)
	}
	if code, out := run(withSecret, "token", "callback-key", "--name", "other"); code != cli.ExitOK || out == want+"\n" {
		t.Errorf("another token's callback key: exit %d, %q", code, out)
	}
	if code, _ := run(func(string) string { return "" }, "token", "callback-key", "--name", "ats"); code != cli.ExitUsage {
		t.Errorf("callback-key without a secret: exit %d, want %d", code, cli.ExitUsage)
	}
}
