package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// printTable writes the run's figures.
func printTable(w io.Writer, o options, r *result) {
	pct := func(p float64) string {
		if len(r.Latencies) == 0 {
			return "-"
		}
		i := min(len(r.Latencies)-1, int(p*float64(len(r.Latencies))))
		return ms(r.Latencies[i])
	}
	mode := "closed loop (each client posts again once answered)"
	if o.rate > 0 {
		mode = fmt.Sprintf("open loop at %g requests/s", o.rate)
	}
	errs := 0
	var kinds []string
	for k, v := range r.Errors {
		errs += v
		kinds = append(kinds, fmt.Sprintf("%s: %d", k, v))
	}
	slices.Sort(kinds)
	verdict := "MISSED"
	if len(r.Latencies) > 0 && r.Latencies[min(len(r.Latencies)-1, int(0.99*float64(len(r.Latencies))))] < 50*time.Millisecond {
		verdict = "met"
	}
	fmt.Fprintf(w, "\n%s, %s; %d clients, %d candidates a batch, %s, %s\n\n", time.Now().UTC().Format("2006-01-02"), r.Machine, o.clients, o.candidates, o.duration, mode)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\t\n", k, v) }
	row("requests", fmt.Sprint(r.Requests))
	row("requests/s", fmt.Sprintf("%.0f", float64(r.Requests)/r.Elapsed.Seconds()))
	row("candidates/s", fmt.Sprintf("%.0f", float64(len(r.Latencies)*o.candidates)/r.Elapsed.Seconds()))
	row("latency p50", pct(0.50))
	row("latency p90", pct(0.90))
	row("latency p99", pct(0.99))
	if len(r.Latencies) > 0 {
		row("latency max", ms(r.Latencies[len(r.Latencies)-1]))
	}
	row("errors", fmt.Sprintf("%d %s", errs, strings.Join(kinds, ", ")))
	row("batches checked in Redis", fmt.Sprint(r.Batches))
	row("candidates missing", fmt.Sprint(r.Missing))
	if r.CheckError != "" {
		row("check error", r.CheckError)
	}
	row("goal p99 < 50 ms", verdict)
	tw.Flush()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
