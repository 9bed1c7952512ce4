package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulkinvite/bulkinvite/internal/store"
)

func (e *env) findCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "find EMAIL|ATS_ID",
		Short: "Show every kept batch that held a person, and what came of them there",
		Long: `Looks a person up by email (any letter case) or ATS candidate id (a UUID) in every
batch whose record is kept (BULKINVITE_BATCH_RETENTION after it was done): the
batch, its target, the outcome (invited or cv_queued with the vendor's invitation
and submission ids, dead_lettered with the reason and the vendor's message,
skipped_duplicate, cancelled, pending), when, and until when the invite ledger
blocks a repeat invite of this person to that target. Newest batch first.`,
		Example: `  bulkinvite find alex@example.com
  bulkinvite find 0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b --json`,
		Args: exactArgs(1, "one email or ATS candidate id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := store.ParseFindKey(args[0])
			if err != nil {
				return usageErr("%v", err)
			}
			ctx, a, err := e.open(cmd)
			if err != nil {
				return err
			}
			found, err := a.Store.Find(ctx, key, "")
			if err != nil {
				return err
			}
			if len(found) == 0 {
				fmt.Fprintf(e.io.Err, "%s: in no kept batch\n", plain(args[0]))
				return nil
			}
			if asJSON {
				for _, f := range found {
					if err := writeJSON(e.io.Out, f); err != nil {
						return err
					}
				}
				return nil
			}
			return printFound(e.io.Out, found)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object a line")
	return cmd
}

// printFound writes what Find found as a table, outside text as plain text.
func printFound(w io.Writer, found []store.Found) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BATCH\tSEQ\tTARGET\tOUTCOME\tAT\tLEDGER UNTIL\tDETAIL")
	for _, f := range found {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", plain(f.BatchID), f.Seq, plain(f.Target.String()), f.Outcome,
			timeOrDash(f.At), timeOrDash(f.LedgerUntil), foundDetail(f))
	}
	return tw.Flush()
}

// foundDetail is a found candidate's vendor ids, or its dead letter's reason
// and message, as plain text.
func foundDetail(f store.Found) string {
	switch {
	case f.Reason != "":
		return plain(string(f.Reason)) + ": " + plain(cutRunes(f.Message, 80))
	case f.InvitationID != "" || f.SubmissionID != "":
		return "invitation " + orDash(plain(f.InvitationID)) + ", submission " + orDash(plain(f.SubmissionID))
	}
	return ""
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
