package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/bulkinvite/bulkinvite/store"
)

func printStatus(w io.Writer, s store.Status) {
	fmt.Fprintf(w, "batch %s: %s\n", s.BatchID, s.State)
	fmt.Fprintf(w, "  target            %s\n", s.Target)
	fmt.Fprintf(w, "  total             %d  (accepted %d, rejected %d)\n", s.Total, s.Accepted, s.Rejected)
	fmt.Fprintf(w, "  invited           %d\n", s.Invited)
	fmt.Fprintf(w, "  cv_queued         %d\n", s.CVQueued)
	fmt.Fprintf(w, "  dead_lettered     %d\n", s.DeadLettered)
	fmt.Fprintf(w, "  skipped_duplicate %d\n", s.SkippedDuplicate)
	fmt.Fprintf(w, "  pending           %d\n", s.Pending)
	if !s.Sealed {
		fmt.Fprintf(w, "  (still being imported)\n")
	}
	if len(s.ReplayOf) > 0 {
		fmt.Fprintf(w, "  replays           %v\n", s.ReplayOf)
	}
	if s.AuthStop != nil {
		fmt.Fprintf(w, "  SENDING STOPPED   key %s, HTTP %d since %s: %s\n                    fix the key, then run `bulkinvite resume`\n",
			plain(s.AuthStop.Key), s.AuthStop.Status, s.AuthStop.Since.Format(time.RFC3339), plain(s.AuthStop.Message))
	}
	if s.DeadLettered > 0 {
		fmt.Fprintf(w, "  see the dead letters: bulkinvite deadletter list --batch %s\n", s.BatchID)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
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
		} else if done != lastDone && time.Since(lastLine) >= 2*time.Second || b.State() == store.StateDone && done != lastDone {
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
		if b.State() == store.StateDone {
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

func short(id string) string {
	if len(id) > 13 {
		return id[:13] + "…"
	}
	return id
}
