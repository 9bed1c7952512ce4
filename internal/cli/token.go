package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/callback"
	"github.com/bulkinvite/bulkinvite/internal/config"
)

func (e *env) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make bearer tokens for serve",
		Args:  noArgs,
	}
	cmd.AddCommand(e.tokenNewCmd(), e.tokenCallbackKeyCmd())
	return cmd
}

func (e *env) tokenNewCmd() *cobra.Command {
	var name, scopes string
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Print a new token's secret, once, and its entry for the tokens file",
		Long: `Makes a random secret (256 bits) for a token named --name with --scopes (some of
submit, read, operate, admin; admin holds them all) and prints it once, with the
entry to paste under "tokens:" in the file BULKINVITE_TOKENS_FILE names. The entry
holds the secret's SHA-256 only: give the secret to the caller and keep it nowhere
else; serve answers it as the token's name, which logs and metrics show.

Where BULKINVITE_CALLBACK_SECRET (or BULKINVITE_CALLBACK_SECRET_FILE) is set, it
also prints the token's callback key, which signs the callbacks of the batches
the token creates: give it to the service that receives them (see token
callback-key).`,
		Example: `  bulkinvite token new --name ats --scopes submit,read
  bulkinvite token new --name ops --scopes read,operate`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := auth.New(name, splitScopes(scopes))
			if err != nil {
				return usageErr("%v", err)
			}
			fmt.Fprintf(e.io.Out, "secret (shown this once; give it to the caller):\n%s\n", m.Secret)
			e.printCallbackKey(cmd, m.Token.Name)
			fmt.Fprintf(e.io.Out, "\nentry for the tokens file, under \"tokens:\":\n%s", m.Token.Entry())
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the token's name: 1 to 64 of a-z, 0-9, '.', '_', '-'")
	cmd.Flags().StringVar(&scopes, "scopes", "", "comma-separated scopes: submit, read, operate, admin")
	return cmd
}

// printCallbackKey prints the callback key of the token named name when the
// configuration has a callback secret, else how to get it later.
func (e *env) printCallbackKey(cmd *cobra.Command, name string) {
	cfg, err := config.Load(config.Sources{Getenv: e.io.Getenv, Flags: cmd.Flags()})
	if err != nil || cfg.CallbackSecret == "" {
		fmt.Fprintf(e.io.Out, "\ncallback key: none here (no BULKINVITE_CALLBACK_SECRET); where it is set, run\n  bulkinvite token callback-key --name %s\n", name)
		return
	}
	fmt.Fprintf(e.io.Out, "\ncallback key (signs the callbacks of this token's batches; give it to their receiver):\n%s\n", callback.TokenKey(cfg.CallbackSecret, name))
}

func (e *env) tokenCallbackKeyCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "callback-key",
		Short: "Print the key that signs the callbacks of a token's batches",
		Long: `Prints the callback key of the token named --name: the key that signs
X-Bulkinvite-Signature on the callbacks of the batches it creates through serve,
in place of BULKINVITE_CALLBACK_SECRET. The receiver checks the signature with it
as it is (HMAC-SHA256 of "<timestamp>.<body>" keyed by these 64 characters); it
can check no other token's callbacks, nor forge them.

The key is the hex HMAC-SHA256 of "callback:<name>" keyed by
BULKINVITE_CALLBACK_SECRET, so nothing new is stored or distributed to workers:
it needs the same callback secret as the workers. Replacing that secret replaces
every token's key. Batches of bare secrets and of the CLI are signed with
BULKINVITE_CALLBACK_SECRET itself.`,
		Example: `  bulkinvite token callback-key --name ats`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := auth.CheckName(name); err != nil {
				return usageErr("--name: %v", err)
			}
			if err := e.load(cmd); err != nil {
				return err
			}
			if e.cfg.CallbackSecret == "" {
				return usageErr("no BULKINVITE_CALLBACK_SECRET (or BULKINVITE_CALLBACK_SECRET_FILE): the callback key is derived from it")
			}
			fmt.Fprintln(e.io.Out, callback.TokenKey(e.cfg.CallbackSecret, name))
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the token's name")
	return cmd
}

// splitScopes splits a comma-separated list, dropping blanks.
func splitScopes(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
