package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// flatTolerance is how far the memory after the last import may be from the
// memory after the first for "flat".
const flatTolerance = 0.05

// topCommands is how many of each subject's most called commands get a row.
const topCommands = 6

// missing fills a cell whose figure was not measured.
const missing = "—"

// growth is the memory added per round between the first round and the last,
// and whether the last is within flatTolerance of the first.
func (r *retentionFigures) growth() (perRound float64, flat bool) {
	n := len(r.Rounds)
	if n < 2 {
		return 0, true
	}
	first, last := r.Rounds[0].Used, r.Rounds[n-1].Used
	return float64(last-first) / float64(n-1), math.Abs(float64(last-first)) <= flatTolerance*float64(first)
}

// largest is the most memory after any round.
func (r *retentionFigures) largest() int64 {
	var m int64
	for _, x := range r.Rounds {
		m = max(m, x.Used)
	}
	return m
}

// table is the rows of the report: a label, one cell per subject, the goal.
func table(o options, figs []*figures) [][]string {
	n, m := o.candidates, o.deadLetters
	chunks := float64(n) / float64(o.chunk)
	var rows [][]string
	add := func(label, goal string, cell func(f *figures) string) {
		row := []string{label}
		for _, f := range figs {
			row = append(row, cell(f))
		}
		rows = append(rows, append(row, goal))
	}
	perN := func(x int64) string { return fmt.Sprintf("%.0f", perCandidate(x, n)) }
	classRows := func(keys func(f *figures) keyClasses) {
		for _, c := range []string{classAsynq, classBatch, classLedger, classDeadLetter, classOther} {
			if !slices.ContainsFunc(figs, func(f *figures) bool { return perCandidate(keys(f).Bytes[c], n) >= 0.5 }) {
				continue
			}
			add("  "+c+" keys (MEMORY USAGE)", "", func(f *figures) string {
				if keys(f).Bytes == nil {
					return missing
				}
				return perN(keys(f).Bytes[c])
			})
		}
	}

	add("B/candidate after import (dataset)", "", func(f *figures) string {
		if f.AfterImport == nil {
			return missing
		}
		return perN(f.AfterImport.Used-f.Empty.Used) + " (" + perN(f.AfterImport.Dataset-f.Empty.Dataset) + ")"
	})
	classRows(func(f *figures) keyClasses { return f.ImportKeys })
	add("B/candidate after done, ledger kept (dataset)", "<= 120", func(f *figures) string {
		if f.AfterDone == nil {
			return missing
		}
		return perN(f.AfterDone.Used-f.Empty.Used) + " (" + perN(f.AfterDone.Dataset-f.Empty.Dataset) + ")"
	})
	classRows(func(f *figures) keyClasses { return f.DoneKeys })

	add("commands/candidate (send path)", "<= 2", func(f *figures) string {
		if f.Send == nil {
			return missing
		}
		return fmt.Sprintf("%.2f", perCandidate(f.Send.Calls.total(), n))
	})
	add(fmt.Sprintf("  EVAL(SHA)/chunk of %d", o.chunk), "", func(f *figures) string {
		if f.Send == nil {
			return missing
		}
		return fmt.Sprintf("%.1f", float64(f.Send.Calls.scripts())/chunks)
	})
	var names []string // the union of each subject's top commands, in order of appearance
	for _, f := range figs {
		if f.Send != nil {
			for _, c := range f.Send.Calls.top(topCommands) {
				if !slices.Contains(names, c.Name) {
					names = append(names, c.Name)
				}
			}
		}
	}
	for _, name := range names {
		add("  "+name+"/candidate", "", func(f *figures) string {
			if f.Send == nil {
				return missing
			}
			return fmt.Sprintf("%.3f", perCandidate(f.Send.Calls[name], n))
		})
	}
	add("drain s (no WAIT / WAIT 1)", "", func(f *figures) string {
		if f.Send == nil {
			return missing
		}
		s := fmt.Sprintf("%.1f", f.Send.Drain.Seconds())
		if f.Wait != nil {
			s += fmt.Sprintf(" / %.1f", f.Wait.Drain.Seconds())
		}
		return s
	})
	add("commands/candidate with WAIT 1", "", func(f *figures) string {
		if f.Wait == nil {
			return missing
		}
		return fmt.Sprintf("%.2f", perCandidate(f.Wait.Calls.total(), n))
	})
	add(fmt.Sprintf("  WAIT/chunk of %d", o.chunk), "", func(f *figures) string {
		if f.Wait == nil {
			return missing
		}
		return fmt.Sprintf("%.1f", float64(f.Wait.Calls["wait"])/chunks)
	})

	add("dead letter B (candidate fields)", "<= 400 + fields", func(f *figures) string {
		d := f.DeadLetters
		if d == nil {
			return missing
		}
		return fmt.Sprintf("%.0f (%.0f)", perCandidate(d.After.Used-d.Before.Used, m), d.MeanFields)
	})
	add("  overhead beyond the fields", "<= 400", func(f *figures) string {
		d := f.DeadLetters
		if d == nil {
			return missing
		}
		return fmt.Sprintf("%.0f", perCandidate(d.After.Used-d.Before.Used, m)-d.MeanFields)
	})
	add("  dead-letter keys alone (MEMORY USAGE)", "", func(f *figures) string {
		d := f.DeadLetters
		if d == nil {
			return missing
		}
		return fmt.Sprintf("%.0f", perCandidate(d.KeyBytes, m))
	})
	add("  of which the stored values (JSON)", "", func(f *figures) string {
		d := f.DeadLetters
		if d == nil {
			return missing
		}
		return fmt.Sprintf("%.0f", perCandidate(d.ValueBytes, m))
	})

	add(fmt.Sprintf("memory after %d imports, first→last", o.repeats), "flat", func(f *figures) string {
		r := f.Retention
		if r == nil || len(r.Rounds) == 0 {
			return missing
		}
		return fmt.Sprintf("%.2f→%.2f MiB", float64(r.Rounds[0].Used)/(1<<20), float64(r.Rounds[len(r.Rounds)-1].Used)/(1<<20))
	})
	add("  largest", "", func(f *figures) string {
		if f.Retention == nil || len(f.Retention.Rounds) == 0 {
			return missing
		}
		return mib(f.Retention.largest())
	})
	add("  growth per round", "", func(f *figures) string {
		if f.Retention == nil || len(f.Retention.Rounds) == 0 {
			return missing
		}
		g, _ := f.Retention.growth()
		return fmt.Sprintf("%+.0f B", g)
	})
	add(fmt.Sprintf("  flat (last within %.0f%% of first)", 100*flatTolerance), "yes", func(f *figures) string {
		if f.Retention == nil || len(f.Retention.Rounds) == 0 {
			return missing
		}
		if _, flat := f.Retention.growth(); flat {
			return "yes"
		}
		return "no"
	})
	add("batch keys left after retention", "0", func(f *figures) string {
		if f.Retention == nil {
			return missing
		}
		return fmt.Sprintf("%d (%s)", f.Retention.BatchKeysLeft, mib(f.Retention.BatchKeyBytes))
	})
	return rows
}

// printTable prints the header and rows, columns padded to their widest cell.
func printTable(w io.Writer, o options, figs []*figures) {
	header := []string{""}
	for _, f := range figs {
		header = append(header, f.Subject.Label)
	}
	header = append(header, "goal")
	rows := append([][]string{header}, table(o, figs)...)
	widths := make([]int, len(header))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c + strings.Repeat(" ", widths[i]-len([]rune(c))+3))
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// printNotes prints how the figures were taken, after the table.
func printNotes(w io.Writer, o options, figs []*figures) {
	fmt.Fprintf(w, "\nN = %d candidates (chunks of %d), dead letters M = %d, repeated import K = %d × %d rounds with BULKINVITE_BATCH_RETENTION=%v\n",
		o.candidates, o.chunk, o.deadLetters, o.repeatCandidates, o.repeats, o.retention)
	fmt.Fprintln(w, "B/candidate: (INFO memory used_memory − used_memory of the empty server) / N, read with only the bench's client connected;")
	fmt.Fprintln(w, "  dataset: the same with used_memory_dataset. Rows \"keys (MEMORY USAGE)\": MEMORY USAGE <key> SAMPLES 0 summed by key class / N.")
	fmt.Fprintln(w, "commands: INFO commandstats summed from CONFIG RESETSTAT before the worker's start until it stopped after the batch was done")
	fmt.Fprintln(w, "  (commands run by scripts count too), less the bench's own and the status polls'.")
	for _, f := range figs {
		if s := f.Send; s != nil {
			fmt.Fprintf(w, "  %s: %d status polls × %d commands taken out", f.Subject.Label, s.Polls, s.StatusCalls)
			if f.Wait != nil {
				fmt.Fprintf(w, "; WAIT run: %d × %d", f.Wait.Polls, f.Wait.StatusCalls)
			}
			fmt.Fprintln(w)
		}
		if r := f.Retention; r != nil && len(r.Rounds) > 0 {
			fmt.Fprintf(w, "  %s: repeated import: %d invited in round 1, %d skipped_duplicate in rounds 2-%d (of %d)\n",
				f.Subject.Label, r.Invited, r.Skipped, len(r.Rounds), int64(len(r.Rounds)-1)*int64(o.repeatCandidates))
		}
	}
	fmt.Fprintln(w, "drain: from the worker's start to the batch's finished_at; WAIT 1: a master with one replica and BULKINVITE_REDIS_WAIT_REPLICAS=1.")
}
