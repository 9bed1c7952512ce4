package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
)

// result is what one mode's run showed.
type result struct {
	// Mode is BULKINVITE_ON_UNKNOWN: retry or deadletter.
	Mode string
	// Strict: nothing in the run can lose a reply, so any second invite fails
	// it in either mode (the scenarios other than the fault script).
	Strict  bool
	Figures figures
	Events  []event
	// Faults maps a fault (faultKillWorker, ...) to its table cell.
	Faults map[string]string
	// Batches are the statuses of every batch at the end; Pending adds them up.
	Batches []store.Status
	Pending int64
	// DrainTime is from the end of the last fault until every batch was done;
	// Stuck says why the wait ended before that.
	DrainTime time.Duration
	Stuck     string
	Sandbox   sandbox.Stats
	// Archived counts the asynq tasks archived at the end (they will not run again).
	Archived int
	Notes    []string
	Elapsed  time.Duration
	// Windows are the stretches of time around each fault in which a send may
	// have been caught by it.
	Windows []window
}

// event is one step of a run, printed as it happens.
type event struct {
	// At is the time since the import's start; 0 before it.
	At time.Duration
	// Kind is the fault it injects (faultKillWorker, ...), or "".
	Kind string
	Text string
}

// when is "t+M:SS", or "setup" before the import.
func (e event) when() string {
	if e.At <= 0 {
		return "setup"
	}
	s := int(e.At.Round(time.Second).Seconds())
	return fmt.Sprintf("t+%d:%02d", s/60, s%60)
}

// failures lists the checks r failed; none means it passed.
func (r *result) failures() []string {
	f := r.Figures
	var out []string
	if f.Lost > 0 {
		out = append(out, fmt.Sprintf("%d candidates lost", f.Lost))
	}
	if f.Vanished > 0 {
		out = append(out, fmt.Sprintf("%d dead letters vanished in the replays", f.Vanished))
	}
	if f.TwiceAfterSeen > 0 {
		out = append(out, fmt.Sprintf("%d sent again after a recorded success", f.TwiceAfterSeen))
	}
	if r.Mode == "deadletter" && f.Duplicates > 0 {
		out = append(out, fmt.Sprintf("%d duplicates at most once", f.Duplicates))
	} else if r.Strict && f.Duplicates > 0 {
		out = append(out, fmt.Sprintf("%d duplicates with no reply lost", f.Duplicates))
	}
	return out
}

// faultRows are the table's fault rows, in the order the faults are injected.
var faultRows = []struct{ kind, title string }{
	{faultKillWorker, "kill -9 worker (replaced)"},
	{faultTermWorker, "SIGTERM worker, request in flight"},
	{faultReplays, "two concurrent replays"},
	{faultKillRedis, "kill -9 redis-server, send in flight"},
	{faultCutRedis, "cut worker<->Redis"},
	{faultCutAPI, "cut worker<->API"},
}

// printTable writes one column per mode.
func printTable(w io.Writer, o options, rs []*result) {
	fmt.Fprintf(w, "\nchaos: %d candidates imported + %d dead letters replayed by two replays at once; %d workers x concurrency %d, rate %g/s, chunks of %d;\n",
		o.candidates, o.replay, o.workers, o.concurrency, o.rate, chunkSize)
	fmt.Fprintf(w, "sandbox latency %v+[0,%v), fail-rate %g, lost-reply-rate %g, process-abandoned %t; faults %v apart, cuts %v, Redis down %v\n\n",
		o.latency, o.jitter, o.failRate, o.lostReplyRate, o.abandoned, o.gap, o.cut, o.redisDown)
	tw, row := newTable(w, rs)
	row("BULKINVITE_ON_UNKNOWN", func(r *result) string { return r.Mode + " (" + modeTitle(r.Mode) + ")" })
	row("input candidates (import + replayed)", func(r *result) string {
		return fmt.Sprintf("%d (%d + %d)", r.Figures.Candidates, o.candidates, o.replay)
	})
	outcomeRows(row, rs)
	row("LOST: dead letters neither listed, staged nor invited", func(r *result) string { return fmt.Sprint(r.Figures.Vanished) })
	row("SENT TWICE after a recorded success", func(r *result) string {
		return count(r.Figures.TwiceAfterSeen, r.Figures.TwiceAfterSeenCandidates)
	})
	row("sent twice through an unknown outcome", func(r *result) string {
		return count(r.Figures.ThroughUnknown, r.Figures.ThroughUnknownCandidates)
	})
	row("duplicates at all (must be 0 at most once)", func(r *result) string {
		s := count(r.Figures.Duplicates, r.Figures.DuplicateCandidates)
		if r.Mode != "deadletter" {
			s += " (not checked)"
		}
		return s
	})
	row("pending at the end", func(r *result) string { return fmt.Sprint(r.Pending) })
	for _, fr := range faultRows {
		row("fault: "+fr.title, func(r *result) string { return orDash(r.Faults[fr.kind]) })
	}
	row("drained after the last fault", drained)
	row("vendor: requests / invites / 5xx / lost replies", func(r *result) string {
		s := r.Sandbox
		return fmt.Sprintf("%d / %d / %d / %d", s.Requests, s.Invites, s.InjectedFailures, s.LostReplies)
	})
	row("asynq tasks archived", func(r *result) string { return fmt.Sprint(r.Archived) })
	closingRows(tw, row)
	for _, r := range rs {
		notes := append(oddities(r), r.Notes...)
		if len(r.Figures.FirstSend) > 0 {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(r.Figures.FirstSend)) {
				parts = append(parts, fmt.Sprintf("%s: %d", k, r.Figures.FirstSend[k]))
			}
			notes = append(notes, "candidates invited more than once, by the fault their first send fell in and the vendor's answer to it: "+strings.Join(parts, "; "))
		}
		if len(r.Figures.LostEmails) > 0 {
			notes = append(notes, "lost, e.g.: "+strings.Join(r.Figures.LostEmails, ", "))
		}
		for _, s := range r.Batches {
			if s.Pending > 0 {
				notes = append(notes, fmt.Sprintf("batch %s not done: %d of %d pending (sealed %t)", s.BatchID, s.Pending, s.Accepted, s.Sealed))
			}
		}
		for _, note := range notes {
			fmt.Fprintf(w, "note: %s: %s\n", r.Mode, note)
		}
	}
}

// tableRow writes one row of a table with one column per result: name, then
// f of each result.
type tableRow func(name string, f func(r *result) string)

// newTable returns a table with one column per result of rs, and its row writer.
func newTable(w io.Writer, rs []*result) (*tabwriter.Writer, tableRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	return tw, func(name string, f func(r *result) string) {
		fmt.Fprint(tw, name)
		for _, r := range rs {
			fmt.Fprint(tw, "\t"+f(r))
		}
		fmt.Fprintln(tw, "\t")
	}
}

// outcomeRows writes what became of the candidates: invited, dead-lettered (and
// why), neither.
func outcomeRows(row tableRow, rs []*result) {
	row("invited (recorded, and at the vendor)", func(r *result) string { return fmt.Sprint(r.Figures.Invited) })
	row("dead-lettered at the end", func(r *result) string { return fmt.Sprint(sum(r.Figures.DeadLettered)) })
	for _, reason := range reasons(rs) {
		row("  "+string(reason), func(r *result) string { return fmt.Sprint(r.Figures.DeadLettered[reason]) })
	}
	row("LOST: neither invited nor dead-lettered", func(r *result) string { return fmt.Sprint(r.Figures.Lost) })
}

// drained is the cell of the row saying how long the run took to drain after
// its last step, or that it did not.
func drained(r *result) string {
	if r.Stuck != "" {
		return "NOT DRAINED: " + r.Stuck
	}
	return r.DrainTime.Round(time.Second).String()
}

// closingRows writes the rows every table ends with: the oddities, how long the
// run took and the verdict; then it flushes the table.
func closingRows(tw *tabwriter.Writer, row tableRow) {
	row("oddities (see notes)", func(r *result) string { return fmt.Sprint(len(oddities(r))) })
	row("run took", func(r *result) string { return r.Elapsed.Round(time.Second).String() })
	row("verdict", func(r *result) string {
		if f := r.failures(); len(f) > 0 {
			return "FAIL: " + strings.Join(f, ", ")
		}
		return "pass"
	})
	_ = tw.Flush()
}

// oddities are things that should never happen, whatever the faults.
func oddities(r *result) []string {
	f := r.Figures
	var out []string
	add := func(n int, what string) {
		if n > 0 {
			out = append(out, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(f.RecordedNotAtVendor, "candidates recorded invited whom the vendor never invited")
	add(f.RecordedBeforeInvite, "candidates whose success was recorded before any request that invited them arrived at the vendor")
	add(f.StrayInvites, "invites for nobody of the input")
	add(f.InvitedAndDeadLettered, "candidates both invited and in the dead-letter list")
	add(f.InvitesWithoutRequest, "invites of input candidates whose request the vendor has no record of")
	add(f.SuccessesBeyondLedger, "successes recorded in the batches beyond the input candidates with a ledger record (a person recorded invited by two batch candidates, or a success without its ledger entry)")
	add(f.LedgerBeyondSuccesses, "ledger records beyond the successes the batches recorded (a success in the ledger its batch never recorded)")
	return out
}

// reasons lists the dead-letter reasons seen in any mode, sorted.
func reasons(rs []*result) []payload.Reason {
	seen := map[payload.Reason]bool{}
	for _, r := range rs {
		for k := range r.Figures.DeadLettered {
			seen[k] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

func sum(m map[payload.Reason]int) int {
	t := 0
	for _, v := range m {
		t += v
	}
	return t
}

// count is "0", or "n (in c candidates)".
func count(n, c int) string {
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%d candidates)", n, c)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
