package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchrate"
)

// report is everything one run measured, as written by -json.
type report struct {
	Date        string             `json:"date"`
	GoVersion   string             `json:"go_version"`
	OS          string             `json:"os"`
	CPUs        int                `json:"cpus"`
	Duration    string             `json:"duration"`
	Warmup      string             `json:"warmup"`
	Settle      string             `json:"settle"`
	Workers     int                `json:"workers"`
	Concurrency int                `json:"concurrency"`
	Method      string             `json:"method"`
	Scenarios   []benchrate.Result `json:"scenarios"`
}

// verdict says whether r met its scenario's goal, or what it shows.
func verdict(r benchrate.Result) string {
	s := r.Scenario
	switch s.Name {
	case "global":
		dev := (r.MeanRate - s.Rate) / s.Rate
		limit := int(math.Floor(s.Rate)) + s.Burst
		var missed []string
		if math.Abs(dev) > 0.02 {
			missed = append(missed, fmt.Sprintf("mean %+.1f%%", 100*dev))
		}
		if r.Peak1sRun > limit {
			missed = append(missed, fmt.Sprintf("peak %d > %d", r.Peak1sRun, limit))
		}
		if len(missed) > 0 {
			return "MISSED: " + strings.Join(missed, ", ")
		}
		return fmt.Sprintf("met (mean %+.1f%%, peak <= %d)", 100*dev, limit)
	case "local":
		return fmt.Sprintf("%.2fx the rate", r.MeanRate/s.Rate)
	default:
		return fmt.Sprintf("%.0f%% of the vendor's rate used", 100*r.AcceptedRate/s.SandboxRate)
	}
}

// printTable writes the scenarios side by side, one column each.
func printTable(w io.Writer, rep *report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, f func(r benchrate.Result) string) {
		fmt.Fprint(tw, name+"\t")
		for _, r := range rep.Scenarios {
			fmt.Fprint(tw, f(r)+"\t")
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(w, "\n%s, %d CPUs, %s; %d workers x concurrency %d; window %s after a %s warm-up\n\n",
		rep.Date, rep.CPUs, rep.GoVersion, rep.Workers, rep.Concurrency, rep.Duration, rep.Warmup)
	row("scenario", func(r benchrate.Result) string { return r.Scenario.Name })
	row("limiter", func(r benchrate.Result) string {
		if r.Scenario.Adaptive {
			return r.Scenario.Limiter + "+adaptive"
		}
		return r.Scenario.Limiter
	})
	row("ours rate/burst", func(r benchrate.Result) string { return fmt.Sprintf("%g/%d", r.Scenario.Rate, r.Scenario.Burst) })
	row("sandbox rate/burst", func(r benchrate.Result) string {
		if r.Scenario.SandboxRate == 0 {
			return "none"
		}
		return fmt.Sprintf("%g/%d", r.Scenario.SandboxRate, r.Scenario.SandboxBurst)
	})
	row("requests", func(r benchrate.Result) string { return fmt.Sprint(r.Requests) })
	row("mean req/s", func(r benchrate.Result) string { return fmt.Sprintf("%.2f", r.MeanRate) })
	row("span req/s", func(r benchrate.Result) string { return fmt.Sprintf("%.2f", r.SpanRate) })
	row("accepted req/s", func(r benchrate.Result) string { return fmt.Sprintf("%.2f", r.AcceptedRate) })
	row("peak 1s (window)", func(r benchrate.Result) string { return fmt.Sprint(r.Peak1s) })
	row("peak 1s (whole run)", func(r benchrate.Result) string { return fmt.Sprint(r.Peak1sRun) })
	row("429s", func(r benchrate.Result) string { return fmt.Sprint(r.Status429) })
	row("429 share", func(r benchrate.Result) string { return pct(r.Share429) })
	row("429 share after "+rep.Settle, func(r benchrate.Result) string {
		return fmt.Sprintf("%s (%d/%d)", pct(r.SettledShare429), r.Settled429, r.SettledRequests)
	})
	row("429s in warm-up", func(r benchrate.Result) string { return fmt.Sprintf("%d/%d", r.Warmup429, r.WarmupRequests) })
	row("other statuses", func(r benchrate.Result) string { return fmt.Sprint(r.Other) })
	row("duplicate invites", func(r benchrate.Result) string { return fmt.Sprint(r.DuplicateInvites) })
	row("pending at end", func(r benchrate.Result) string { return fmt.Sprintf("%d of %d", r.PendingAtEnd, r.Enqueued) })
	row("verdict", verdict)
	_ = tw.Flush()
	for _, r := range rep.Scenarios {
		for _, n := range r.Notes {
			fmt.Fprintf(w, "note: %s: %s\n", r.Scenario.Name, n)
		}
	}
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

func writeJSONFile(path string, rep *report) error {
	for i := range rep.Scenarios {
		rep.Scenarios[i].Verdict = verdict(rep.Scenarios[i])
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
