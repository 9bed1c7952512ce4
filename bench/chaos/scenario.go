package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
)

// scenarioFaults is the -scenario of the fault script described above, the
// default.
const scenarioFaults = "faults"

// A scenario is a run other than the fault script: the same processes
// (modeRun.setup), its own steps, then the same wait for every batch and the
// same figures (collect, classify), in each mode.
type scenario struct {
	// about is the scenario's one-line description, for the table's header.
	about func(o options) string
	// defaults are the flags it sets when the command line does not.
	defaults map[string]string
	// steps are what it does between setup and the wait.
	steps func(r *modeRun) []func(context.Context) error
	// rows are its own rows of the table, by title: the cells of result.Faults
	// under these keys.
	rows []struct{ key, title string }
}

// scenarios are the -scenario values besides scenarioFaults.
var scenarios = map[string]*scenario{
	scenarioRerunSplit: rerunSplitScenario,
	scenarioSkew:       skewScenario,
}

// scenarioNames lists every -scenario value, the default first.
func scenarioNames() string {
	return scenarioFaults + ", " + scenarioRerunSplit + ", " + scenarioSkew + ", " + scenarioSlowLink
}

// applyScenarioDefaults sets the scenario's defaults on the flags of fs the
// command line left alone.
func applyScenarioDefaults(fs *flag.FlagSet, name string) error {
	sc := scenarios[name]
	if sc == nil {
		return nil
	}
	return benchproc.SetDefaults(fs, "-scenario "+name, sc.defaults)
}

// runScenario runs one mode of o's scenario, as runMode runs the fault
// script's: whatever happens, every child is stopped and every proxy closed
// before it returns.
func runScenario(ctx context.Context, o options, bin, dir, mode string) (*result, error) {
	r := newModeRun(o, bin, dir, mode)
	// Nothing in a scenario loses a reply unless -lost-reply-rate says so: then
	// any second invite is one sender too many, in either mode.
	r.res.Strict = o.lostReplyRate == 0
	return r.run(ctx, scenarios[o.scenario].steps(r)...)
}

// printScenarioTable writes one column per mode for a scenario's results.
func printScenarioTable(w io.Writer, o options, rs []*result) {
	sc := scenarios[o.scenario]
	fmt.Fprintf(w, "\nchaos -scenario %s: %s\n", o.scenario, sc.about(o))
	fmt.Fprintf(w, "%d workers x concurrency %d, rate %g/s, chunks of %d; sandbox latency %v+[0,%v), fail-rate %g, lost-reply-rate %g\n\n",
		o.workers, o.concurrency, o.rate, chunkSize, o.latency, o.jitter, o.failRate, o.lostReplyRate)
	tw, row := newTable(w, rs)
	row("BULKINVITE_ON_UNKNOWN", func(r *result) string { return r.Mode + " (" + modeTitle(r.Mode) + ")" })
	row("input candidates", func(r *result) string { return fmt.Sprint(r.Figures.Candidates) })
	outcomeRows(row, rs)
	row("SENT TWICE after a recorded success", func(r *result) string {
		return count(r.Figures.TwiceAfterSeen, r.Figures.TwiceAfterSeenCandidates)
	})
	row("sent twice before the success was recorded", func(r *result) string {
		return count(r.Figures.ThroughUnknown, r.Figures.ThroughUnknownCandidates)
	})
	row("DUPLICATES at all (must be 0: no reply lost)", func(r *result) string {
		s := count(r.Figures.Duplicates, r.Figures.DuplicateCandidates)
		if !r.Strict && r.Mode != "deadletter" {
			s += " (not checked: replies lost)"
		}
		return s
	})
	row("pending at the end", func(r *result) string { return fmt.Sprint(r.Pending) })
	for _, sr := range sc.rows {
		row(sr.title, func(r *result) string { return orDash(r.Faults[sr.key]) })
	}
	row("drained after the last step", drained)
	row("vendor: requests / invites / 422s / repeats", func(r *result) string {
		s := r.Sandbox
		return fmt.Sprintf("%d / %d / %d / %d", s.Requests, s.Invites, s.ValidationRejections, s.DuplicateInvites)
	})
	closingRows(tw, row)
	for _, r := range rs {
		notes := append(oddities(r), r.Notes...)
		if len(r.Figures.LostEmails) > 0 {
			notes = append(notes, "lost, e.g.: "+strings.Join(r.Figures.LostEmails, ", "))
		}
		for k, n := range r.Figures.FirstSend {
			notes = append(notes, fmt.Sprintf("%d candidates invited more than once whose first send fell in %s", n, k))
		}
		for _, note := range notes {
			fmt.Fprintf(w, "note: %s: %s\n", r.Mode, note)
		}
	}
}
