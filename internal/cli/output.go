package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

// What the commands print, in one place; outside text goes through plain (see
// plain.go) on its way to a terminal.

// writeJSON writes v as one line of JSON, with the characters that could fool a
// terminal escaped (see jsonText).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(jsonText{w})
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func printStatus(w io.Writer, s store.Status) {
	fmt.Fprintf(w, "batch %s: %s\n", s.BatchID, strings.ReplaceAll(s.State, "_", " "))
	fmt.Fprintf(w, "  target            %s\n", s.Target)
	printSchedule(w, s)
	fmt.Fprintf(w, "  total             %d  (accepted %d, rejected %d)\n", s.Total, s.Accepted, s.Rejected)
	fmt.Fprintf(w, "  invited           %d\n", s.Invited)
	fmt.Fprintf(w, "  cv_queued         %d\n", s.CVQueued)
	fmt.Fprintf(w, "  dead_lettered     %d\n", s.DeadLettered)
	fmt.Fprintf(w, "  skipped_duplicate %d\n", s.SkippedDuplicate)
	if s.Cancelled > 0 {
		fmt.Fprintf(w, "  cancelled         %d\n", s.Cancelled)
	}
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
	if c := s.Callback; c != nil {
		fmt.Fprintf(w, "  callback          %s after %d attempt(s) to %s", c.State, c.Attempts, plain(c.URL))
		if c.LastError != "" {
			fmt.Fprintf(w, " (last: %s)", plain(c.LastError))
		}
		fmt.Fprintln(w)
	}
	if s.DeadLettered > 0 {
		fmt.Fprintf(w, "  see the dead letters: bulkinvite deadletter list --batch %s\n", s.BatchID)
	}
}

// printSchedule prints a batch's not-before time and send window, and while
// they hold it, when the window opens next.
func printSchedule(w io.Writer, s store.Status) {
	if s.NotBefore != nil {
		fmt.Fprintf(w, "  not before        %s\n", s.NotBefore.Format(time.RFC3339))
	}
	if s.SendWindow != "" {
		fmt.Fprintf(w, "  send window       %s\n", plain(s.SendWindow))
	}
	if s.NextWindow != nil {
		fmt.Fprintf(w, "  window opens      %s\n", s.NextWindow.Format(time.RFC3339))
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// cliBy names the CLI in the batches' event logs: "cli@<host>".
func cliBy() string { return auth.AtHost(auth.CLIName) }

func short(id string) string {
	if len(id) > 13 {
		return id[:13] + "…"
	}
	return id
}

func printImport(w io.Writer, r *producer.Result) {
	switch {
	case r.AlreadyComplete:
		fmt.Fprintf(w, "batch %s was already fully enqueued; nothing to do (see: bulkinvite status %s)\n", r.BatchID, r.BatchID)
		return
	case r.Existing:
		fmt.Fprintf(w, "batch %s existed: completed its import\n", r.BatchID)
	}
	segments := "segments"
	if r.Segments == 1 {
		segments = "segment"
	}
	fmt.Fprintf(w, "batch %s: %d rows read, %d accepted (%d of them skipped as duplicates), %d rejected; %d %s enqueued\n",
		r.BatchID, r.Rows, r.Accepted, r.Duplicates, r.Rejected, r.Segments, segments)
	fmt.Fprintf(w, "follow it: bulkinvite status %s --watch\n", r.BatchID)
}

// who names the dead letter's candidate for a table, as plain text.
func who(c payload.Candidate) string {
	if c.Email != "" {
		return plain(c.Email)
	}
	return plain(c.CVLink)
}

// firstError is the dead letter's most telling error, cut to fit a table, as plain
// text: the field its reason came from, else the first other one.
func firstError(d *store.DeadLetter) string {
	if f, text, ok := d.FirstError(); ok {
		return plain(f) + ": " + plain(cutRunes(text, 80))
	}
	return plain(cutRunes(d.Detail, 80))
}

// cutRunes cuts s to at most n characters, the last three of them "...".
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for range n - 3 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + "..."
}

func printDeadLetters(ctx context.Context, w io.Writer, st *store.Store, batchID string) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	n := 0
	err := st.DeadLetters(ctx, store.Filter{BatchID: batchID}, func(d *store.DeadLetter) error {
		n++
		fmt.Fprintf(tw, "%s\t%s\tattempts %d\t%s\n", who(d.Candidate), d.Reason, d.Attempts, firstError(d))
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(tw, "(none)")
	}
	return tw.Flush()
}

func statusCounts(m map[int]int) string {
	var b bytes.Buffer
	for _, code := range []int{200, 400, 401, 403, 404, 422, 429, 500, 502, 503, 504} {
		if m[code] > 0 {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%d× %d", m[code], code)
		}
	}
	return b.String()
}

// indentWriter indents every line written through it by three spaces.
type indentWriter struct {
	w       io.Writer
	midLine *bool
}

func indent(w io.Writer) io.Writer { return indentWriter{w: w, midLine: new(bool)} }

func (iw indentWriter) Write(p []byte) (int, error) {
	var buf bytes.Buffer
	for _, c := range p {
		if !*iw.midLine {
			buf.WriteString("   ")
		}
		buf.WriteByte(c)
		*iw.midLine = c != '\n'
	}
	if _, err := iw.w.Write(buf.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}
