package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bulkinvite/bulkinvite/internal/app"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

func (e *env) batchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "batch",
		Short: "Steer one batch while it runs: pause, resume, cancel",
		Long: `Pause holds a batch: no new request for it leaves any worker (one in flight
finishes and is recorded); its queued chunks wait without taking a share of the
rate from other batches. Resume lets it send again at once. Cancel ends it for
good: every candidate not yet sent ends cancelled, the batch's state is
cancelled once the requests in flight are recorded, its callback fires, and its
dead letters stay (replayable). All three are idempotent; cancelling a done
batch fails (exit 1).`,
		Args: noArgs,
	}
	cmd.AddCommand(e.batchPauseCmd(), e.batchResumeCmd(), e.batchCancelCmd())
	return cmd
}

// steerStep is one steering call: it acts on the batch and returns it as it is
// afterwards.
type steerStep func(ctx context.Context, a *app.App, id string) (*store.Batch, error)

// steer runs step on batch id, then prints the batch's status (with asJSON, in
// the shape of `status --json`).
func (e *env) steer(cmd *cobra.Command, id string, asJSON bool, step steerStep) error {
	ctx, a, err := e.open(cmd)
	if err != nil {
		return err
	}
	b, err := step(ctx, a, id)
	if err != nil {
		return steerFailed(err)
	}
	return e.printSteered(b, asJSON)
}

func (e *env) batchPauseCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "pause BATCH",
		Short: "Pause a batch: no new request for it leaves any worker",
		Example: `  bulkinvite batch pause nightly-2026-11-25
  bulkinvite batch pause nightly-2026-11-25 --json`,
		Args: exactArgs(1, "one batch id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.steer(cmd, args[0], asJSON, func(ctx context.Context, a *app.App, id string) (*store.Batch, error) {
				return a.Steering(nil).PauseBatch(ctx, id, cliBy())
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the batch's status as JSON (as status --json)")
	return cmd
}

func (e *env) batchResumeCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "resume BATCH",
		Short:   "Resume a paused batch: it sends again at once",
		Example: `  bulkinvite batch resume nightly-2026-11-25`,
		Args:    exactArgs(1, "one batch id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.steer(cmd, args[0], asJSON, func(ctx context.Context, a *app.App, id string) (*store.Batch, error) {
				return a.Steering(nil).ResumeBatch(ctx, id, cliBy())
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the batch's status as JSON (as status --json)")
	return cmd
}

func (e *env) batchCancelCmd() *cobra.Command {
	var asJSON, yes bool
	cmd := &cobra.Command{
		Use:   "cancel BATCH",
		Short: "Cancel a batch: every candidate not yet sent ends cancelled",
		Long: `Every candidate of the batch not yet sent ends cancelled, counted in status;
requests in flight finish and are recorded. Without --yes it says how many
candidates will not be sent and asks on a terminal; elsewhere it stops there
(exit 2). Cancelling a cancelled batch changes nothing; a done one fails (exit 1).`,
		Example: `  bulkinvite batch cancel nightly-2026-11-25
  bulkinvite batch cancel nightly-2026-11-25 --yes --json`,
		Args: exactArgs(1, "one batch id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, a, err := e.open(cmd)
			if err != nil {
				return err
			}
			id := args[0]
			if !yes {
				if err := e.confirmCancel(ctx, a.Store, id); err != nil {
					return err
				}
			}
			b, n, err := a.Steering(nil).CancelBatch(ctx, id, cliBy())
			if err != nil {
				return steerFailed(err)
			}
			if !asJSON {
				fmt.Fprintf(e.io.Err, "cancelled %d candidates of batch %s\n", n, plain(id))
			}
			return e.printSteered(b, asJSON)
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "cancel without asking")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the batch's status as JSON (as status --json)")
	return cmd
}

// confirmCancel says how many candidates a cancel of the batch would leave
// unsent, and asks on a terminal; elsewhere it is a usage error (as
// `deadletter purge` without --yes). A batch already cancelled or done needs no
// confirmation: the cancel changes nothing, or fails.
func (e *env) confirmCancel(ctx context.Context, st *store.Store, id string) error {
	b, err := st.Batch(ctx, id)
	if err != nil {
		return steerFailed(err)
	}
	if b.Hold == store.HoldCancelled || b.Done() {
		return nil
	}
	n, err := st.Unsent(ctx, b)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("cancel batch %s: %d of its %d candidates have not been sent and will not be", plain(id), n, b.Accepted)
	if !b.Sealed {
		what += " (its import is still running: the candidates it adds will not be sent either)"
	}
	if !isTerminalIn(e.io.In) {
		return usageErr("would %s; add --yes to do it", what)
	}
	fmt.Fprintf(e.io.Err, "%s.\ntype yes to cancel: ", strings.ToUpper(what[:1])+what[1:])
	answer, _ := bufio.NewReader(e.io.In).ReadString('\n')
	if strings.TrimSpace(answer) != "yes" {
		return usageErr("not cancelled")
	}
	return nil
}

// printSteered prints a steered batch's status.
func (e *env) printSteered(b *store.Batch, asJSON bool) error {
	if asJSON {
		return writeJSON(e.io.Out, b.Status())
	}
	printStatus(e.io.Out, b.Status())
	return nil
}

// steerFailed explains a steering error: a done batch cannot be cancelled,
// an expired one says so (exit 1 for both).
func steerFailed(err error) error {
	switch {
	case errors.Is(err, store.ErrBatchDone):
		return fmt.Errorf("%w\nthe batch is done: there is nothing left to cancel", err)
	case errors.Is(err, store.ErrBatchExpired):
		return fmt.Errorf("%w\nits record expired (BULKINVITE_BATCH_RETENTION after it was done)", err)
	}
	return err
}

// isTerminalIn reports whether r is a terminal a person can answer on.
func isTerminalIn(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
