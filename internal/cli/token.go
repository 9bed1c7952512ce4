package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bulkinvite/bulkinvite/auth"
)

func (e *env) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make bearer tokens for serve",
		Args:  noArgs,
	}
	cmd.AddCommand(e.tokenNewCmd())
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
else; serve answers it as the token's name, which logs and metrics show.`,
		Example: `  bulkinvite token new --name ats --scopes submit,read
  bulkinvite token new --name ops --scopes read,operate`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := auth.New(name, splitScopes(scopes))
			if err != nil {
				return usageErr("%v", err)
			}
			fmt.Fprintf(e.io.Out, "secret (shown this once; give it to the caller):\n%s\n\nentry for the tokens file, under \"tokens:\":\n%s", m.Secret, m.Token.Entry())
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the token's name: 1 to 64 of a-z, 0-9, '.', '_', '-'")
	cmd.Flags().StringVar(&scopes, "scopes", "", "comma-separated scopes: submit, read, operate, admin")
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
