package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

func (e *env) statusCmd() *cobra.Command {
	var asJSON, watch, rejects, events bool
	cmd := &cobra.Command{
		Use:   "status BATCH",
		Short: "Show a batch's counters and state",
		Example: `  bulkinvite status 0193a3c4-...
  bulkinvite status nightly-2026-11-25 --json
  bulkinvite status nightly-2026-11-25 --watch
  bulkinvite status nightly-2026-11-25 --rejects
  bulkinvite status nightly-2026-11-25 --events`,
		Args: exactArgs(1, "one batch id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n := countTrue(watch, rejects, events); n > 1 {
				return usageErr("give only one of --watch, --rejects and --events")
			}
			ctx, a, err := e.open(cmd)
			if err != nil {
				return err
			}
			var b *store.Batch
			if watch {
				b, err = e.watch(ctx, a.Store, args[0])
			} else {
				b, err = a.Store.Batch(ctx, args[0])
			}
			if errors.Is(err, store.ErrBatchExpired) {
				return fmt.Errorf("%w\nits record expired (BULKINVITE_BATCH_RETENTION after it was done); its dead letters, if any, are kept: bulkinvite deadletter list --batch %s", err, args[0])
			}
			if err != nil {
				return err // unknown and expired batches too: exit 1
			}
			if rejects {
				return e.printRejects(ctx, a.Store, args[0], asJSON)
			}
			if events {
				return e.printEvents(ctx, a.Store, args[0], asJSON)
			}
			s := b.Status()
			if !e.cfg.APIKey.IsZero() {
				s.AuthStop, _ = a.Store.AuthStopped(ctx, e.cfg.APIKey.ID())
			}
			if asJSON {
				return writeJSON(e.io.Out, s)
			}
			printStatus(e.io.Out, s)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON (with --rejects or --events: one object a line)")
	cmd.Flags().BoolVar(&watch, "watch", false, "show live progress until the batch is done")
	cmd.Flags().BoolVar(&rejects, "rejects", false, "list the rows the batch's import rejected, by row")
	cmd.Flags().BoolVar(&events, "events", false, "list who did what to the batch (created, paused, replayed, purged, callback, auth stops), oldest first")
	return cmd
}

// watch polls the batch until it is done or ctx ends, drawing a progress bar on a
// terminal (stderr) and a line per change, at most every few seconds, elsewhere.
func (e *env) watch(ctx context.Context, st *store.Store, batchID string) (*store.Batch, error) {
	const poll = 250 * time.Millisecond
	var bar *progressbar.ProgressBar
	tty := isTerminal(e.io.Err)
	var lastLine time.Time
	var lastDone int64 = -1
	var lastStopCheck time.Time
	warned := false
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		b, err := st.Batch(ctx, batchID)
		if err != nil {
			return nil, err
		}
		done := b.Accepted - b.Pending()
		if tty {
			if bar == nil {
				bar = progressbar.NewOptions64(b.Accepted,
					progressbar.OptionSetWriter(e.io.Err),
					progressbar.OptionSetDescription("batch "+short(batchID)),
					progressbar.OptionShowCount(),
					progressbar.OptionSetPredictTime(true),
					progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionClearOnFinish(),
				)
			}
			bar.ChangeMax64(b.Accepted)
			_ = bar.Set64(done)
		} else if done != lastDone && time.Since(lastLine) >= 2*time.Second || b.Done() && done != lastDone {
			fmt.Fprintf(e.io.Err, "batch %s: %d/%d done (invited %d, cv_queued %d, dead_lettered %d, skipped_duplicate %d)\n",
				batchID, done, b.Accepted, b.Invited, b.CVQueued, b.DeadLettered, b.SkippedDuplicate)
			lastLine, lastDone = time.Now(), done
		}
		if time.Since(lastStopCheck) >= 5*time.Second {
			lastStopCheck = time.Now()
			if stops, err := st.AuthStops(ctx); err == nil && len(stops) > 0 && !warned {
				warned = true
				s := stops[0]
				fmt.Fprintf(e.io.Err, "\nSENDING STOPPED for key %s after HTTP %d: %s\nthe batch waits; fix the key, then run `bulkinvite resume`\n", plain(s.Key), s.Status, plain(s.Message))
			} else if len(stops) == 0 {
				warned = false
			}
		}
		if b.Done() {
			if bar != nil {
				_ = bar.Finish()
			}
			return b, nil
		}
		select {
		case <-ctx.Done():
			return b, ctx.Err()
		case <-tick.C:
		}
	}
}

// rejectPage is how many rejects printRejects reads at a time.
const rejectPage = 1000

// printRejects prints every reject of a batch, by row: as the import said
// it (`line 17: email: ...`), or with asJSON one object a line in the shape of
// GET /v1/batches/{id}/rejects. With none, plain text says so on stderr.
func (e *env) printRejects(ctx context.Context, st *store.Store, batchID string, asJSON bool) error {
	cursor, n := "", 0
	for {
		page, next, err := st.RejectPage(ctx, batchID, cursor, rejectPage)
		if err != nil {
			return err
		}
		n += len(page)
		for _, r := range page {
			if asJSON {
				err = writeJSON(e.io.Out, httpapi.RejectOf(r))
			} else {
				_, err = fmt.Fprintln(e.io.Out, plain(r.Text()))
			}
			if err != nil {
				return err
			}
		}
		if next == "" {
			if n == 0 && !asJSON {
				fmt.Fprintf(e.io.Err, "batch %s: no row was rejected\n", batchID)
			}
			return nil
		}
		cursor = next
	}
}

// countTrue counts the flags that are set.
func countTrue(flags ...bool) int {
	n := 0
	for _, f := range flags {
		if f {
			n++
		}
	}
	return n
}

// printEvents prints the batch's event log, oldest first: a line an event
// (time, what, by, detail), or with asJSON one object a line in the shape of
// GET /v1/batches/{id}/events.
func (e *env) printEvents(ctx context.Context, st *store.Store, batchID string, asJSON bool) error {
	evs, err := st.Events(ctx, batchID)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if asJSON {
			err = writeJSON(e.io.Out, httpapi.EventOf(ev))
		} else {
			_, err = fmt.Fprintf(e.io.Out, "%s  %-18s  %-20s  %s\n", ev.At.UTC().Format(httpapi.EventTime), ev.What, plain(ev.By), plain(ev.Detail))
		}
		if err != nil {
			return err
		}
	}
	if len(evs) == 0 && !asJSON {
		fmt.Fprintf(e.io.Err, "batch %s: no event recorded (a batch created before events were kept)\n", batchID)
	}
	return nil
}
