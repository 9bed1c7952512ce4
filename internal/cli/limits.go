package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/ratelimit"
)

func (e *env) limitsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "limits",
		Short: "Show the shared rate limiter: configured and observed rate, cool-down, in flight",
		Long: `Shows the rate limiter every worker using this API key shares: the configured rate
and burst, the effective rate (lower while adaptive mode backs off after 429s), the
rate observed over the last seconds, the cool-down left after a 429, the requests
in flight, and whether sending is stopped after a 401/403.`,
		Example: `  bulkinvite limits
  bulkinvite limits --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, a, err := e.openWithKey(cmd)
			if err != nil {
				return err
			}
			lim, err := a.Limiter()
			if err != nil {
				return err
			}
			s, err := lim.State(ctx)
			if err != nil {
				return err
			}
			stop, err := a.Store.AuthStopped(ctx, e.cfg.APIKey.ID())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.io.Out, struct {
					Key      string          `json:"key"`
					Limiter  ratelimit.State `json:"limiter"`
					AuthStop *store.AuthStop `json:"auth_stop"`
				}{e.cfg.APIKey.Masked(), s, stop})
			}
			printLimits(e.io.Out, e.cfg.APIKey.String(), s, stop)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func printLimits(w io.Writer, key string, s ratelimit.State, stop *store.AuthStop) {
	fmt.Fprintf(w, "key               %s\n", key)
	fmt.Fprintf(w, "rate              %g/s, burst %d (effective %g/s)\n", s.Rate, s.Burst, s.EffectiveRate)
	fmt.Fprintf(w, "observed          %.2f/s over the last %s\n", s.ObservedRate, s.ObservedWindow)
	if s.CandidatesPerMinute > 0 {
		fmt.Fprintf(w, "candidates        %d in the last minute (cap %d)\n", s.CandidatesLastMinute, s.CandidatesPerMinute)
	}
	fmt.Fprintf(w, "cool-down         %s\n", s.Cooldown)
	fmt.Fprintf(w, "in flight         %d of %d\n", s.InFlight, s.MaxInFlight)
	fmt.Fprintf(w, "worker processes  %d (last 30s)\n", s.Processes)
	if s.Degraded {
		fmt.Fprintln(w, "DEGRADED          Redis unreachable; this process sends nothing until it is back")
	}
	if stop != nil {
		fmt.Fprintf(w, "SENDING STOPPED   HTTP %d since %s: %s (fix the key, then `bulkinvite resume`)\n", stop.Status, stop.Since.Format("2006-01-02 15:04:05Z07:00"), plain(stop.Message))
	}
}
