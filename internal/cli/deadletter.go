package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/deadletter"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

func (e *env) deadletterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deadletter",
		Short: "List, replay or purge dead-lettered candidates",
		Long: `Every candidate that could not be invited is kept as a dead letter with the vendor's
reason, verbatim, until it is replayed or purged. Nothing is dropped.`,
	}
	cmd.AddCommand(e.dlListCmd(), e.dlReplayCmd(), e.dlPurgeCmd())
	return cmd
}

func (e *env) dlListCmd() *cobra.Command {
	var ff filterFlags
	var asJSON, asCSV bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List dead letters",
		Example: `  bulkinvite deadletter list
  bulkinvite deadletter list --batch nightly-2026-11-25 --reason invitation_error --json
  bulkinvite deadletter list --csv > dead.csv`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flt, err := ff.filter()
			if err != nil {
				return err
			}
			if asJSON && asCSV {
				return usageErr("give --json or --csv, not both")
			}
			ctx, a, err := e.open(cmd)
			if err != nil {
				return err
			}
			st := a.Store
			switch {
			case asJSON:
				enc := json.NewEncoder(jsonText{e.io.Out})
				enc.SetEscapeHTML(false)
				return st.DeadLetters(ctx, flt, func(d *store.DeadLetter) error { return enc.Encode(d) })
			case asCSV:
				return deadletter.WriteCSV(e.io.Out, func(fn func(*store.DeadLetter) error) error { return st.DeadLetters(ctx, flt, fn) })
			}
			tw := tabwriter.NewWriter(e.io.Out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tREASON\tCANDIDATE\tATTEMPTS\tHTTP\tLAST FAILED\tERROR")
			n := 0
			err = st.DeadLetters(ctx, flt, func(d *store.DeadLetter) error {
				n++
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", plain(d.ID), plain(string(d.Reason)), who(d.Candidate), d.Attempts, d.LastHTTPStatus,
					d.LastFailedAt.Format(time.RFC3339), firstError(d))
				return nil
			})
			if err != nil {
				return err
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.io.Err, "%d dead letters\n", n)
			return nil
		},
	}
	ff.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object a line")
	cmd.Flags().BoolVar(&asCSV, "csv", false, "CSV with a header row")
	return cmd
}

func (e *env) dlReplayCmd() *cobra.Command {
	var ff filterFlags
	var tf targetFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Replay dead letters as a new batch linked to the old one",
		Long: `Moves the matching dead letters into a new batch (one per target and message) on the
replay queue and prints its id. With --interview-set or --project the candidates go
to that corrected target. Replays may run at once, from any number of processes:
each entry moves into exactly one batch. A crash part-way neither loses nor doubles
an entry: the next replay finishes what the dead run began. A candidate that fails again comes back as a
dead letter with its attempt history.`,
		Example: `  bulkinvite deadletter replay --batch nightly-2026-11-25 --reason retries_exhausted
  bulkinvite deadletter replay --reason target_not_found --interview-set 019c5ea9-a792-7f0d-b671-4c3c1602094e`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flt, err := ff.filter()
			if err != nil {
				return err
			}
			if err := tf.validate(); err != nil {
				return err
			}
			ctx, a, err := e.open(cmd)
			if err != nil {
				return err
			}
			res, err := a.Replayer().Replay(ctx, deadletter.Options{Filter: flt, Target: tf.target(), By: auth.CLIName, Actor: cliBy()})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.io.Out, res)
			}
			for _, id := range res.Resumed {
				fmt.Fprintf(e.io.Err, "finished replay %s, interrupted earlier\n", id)
			}
			for _, id := range res.InProgress {
				fmt.Fprintf(e.io.Err, "replay %s is being enqueued by another run (or one that stopped less than %s ago): left alone; if that run died, replay again later to finish it\n", id, deadletter.DefaultLeaseTTL)
			}
			for _, id := range res.Batches {
				fmt.Fprintln(e.io.Out, id)
			}
			fmt.Fprintf(e.io.Err, "%d dead letters replayed in %d batch(es)\n", res.Replayed, len(res.Batches))
			return nil
		},
	}
	ff.register(cmd.Flags())
	tf.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func (e *env) dlPurgeCmd() *cobra.Command {
	var ff filterFlags
	var yes bool
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Delete dead letters for good",
		Example: `  bulkinvite deadletter purge --batch nightly-2026-11-25 --yes
  bulkinvite deadletter purge --reason validation --yes`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flt, err := ff.filter()
			if err != nil {
				return err
			}
			ctx, a, err := e.open(cmd)
			if err != nil {
				return err
			}
			st := a.Store
			var ids []string
			if err := st.DeadLetters(ctx, flt, func(d *store.DeadLetter) error { ids = append(ids, d.ID); return nil }); err != nil {
				return err
			}
			if !yes {
				return usageErr("would purge %d dead letters%s; add --yes to do it", len(ids), ofWhich(flt))
			}
			n, err := st.PurgeDeadLetters(ctx, ids, cliBy())
			if err != nil {
				return err
			}
			fmt.Fprintf(e.io.Out, "purged %d dead letters\n", n)
			return nil
		},
	}
	ff.register(cmd.Flags())
	cmd.Flags().BoolVar(&yes, "yes", false, "really delete")
	return cmd
}

// ofWhich says which batches a dead-letter filter takes, for a confirmation.
func ofWhich(f store.Filter) string {
	if f.BatchID == "" {
		return " of every batch"
	}
	return " of batch " + plain(f.BatchID)
}
