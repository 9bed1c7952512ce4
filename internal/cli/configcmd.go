package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bulkinvite/bulkinvite/internal/config"
)

func (e *env) configCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the effective configuration and where each value came from",
		Long: `Prints every setting as a command would see it with the same environment, config
file and flags, and where its value came from: default, file (the config file; for a
secret, the file its *_FILE setting names), env or flag. Passwords in URLs are
redacted; the API key shows as the vendor shows it (fl_live_<prefix>.****), the
tokens by name, the callback secret not at all. It takes the flag of every setting.
An invalid configuration is printed, then named, and exits 2.`,
		Example: `  bulkinvite config
  bulkinvite config --config prod.yaml --rate 20
  bulkinvite config --json | jq -r '.settings[] | select(.source != "default") | .env'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			values, err := config.Effective(config.Sources{Getenv: e.io.Getenv, Flags: cmd.Flags()})
			if values == nil {
				return &exitError{code: ExitUsage, err: err}
			}
			if asJSON {
				if werr := writeJSON(e.io.Out, struct {
					Settings []config.Value `json:"settings"`
				}{values}); werr != nil {
					return werr
				}
			} else if werr := printConfig(e.io.Out, values); werr != nil {
				return werr
			}
			if err != nil {
				return &exitError{code: ExitUsage, err: err}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON: {\"settings\":[{\"key\",\"env\",\"flag\",\"value\",\"source\"}]}")
	return cmd
}

func printConfig(w io.Writer, values []config.Value) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENV\tVALUE\tFROM")
	for _, v := range values {
		val := plain(v.Value)
		if val == "" {
			val = `""`
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Env, val, v.Source)
	}
	return tw.Flush()
}
