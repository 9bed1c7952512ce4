package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchrate"
)

// Goals the figures are held to (see the package doc).
const (
	goalImportRows  = 150_000
	goalImportIDs   = 200_000 // rows/s of rows with an ats_candidate_id
	goalImportRSS   = 64 << 20
	goalDrainRatio  = 0.35
	goalPickupP99   = 300 * time.Millisecond
	goalAdaptive    = 0.90
	goalAdaptive429 = 0.01
	goalServeP99    = 50 * time.Millisecond
	goalServeBig    = time.Second
)

// figures are everything a run measured, as -json writes them. The maps are
// keyed by subject label ("ours", or "rev" and the revision).
type figures struct {
	Date      string   `json:"date"`
	GoVersion string   `json:"go_version"`
	OS        string   `json:"os"`
	CPUs      int      `json:"cpus"`
	Took      string   `json:"took"`
	Sections  []string `json:"sections"`
	Rev       string   `json:"rev,omitempty"`
	// ServeClients is -serve-clients, for the serve rows.
	ServeClients int `json:"serve_clients,omitempty"`

	Import   *importFigures            `json:"import,omitempty"`
	Drain    map[string]*drainFigures  `json:"drain,omitempty"`
	RawPost  *drainFigures             `json:"raw_poster,omitempty"`
	Pickup   map[string]*pickupFigures `json:"pickup,omitempty"`
	Held     map[string]*heldFigures   `json:"held,omitempty"`
	Adaptive *benchrate.Result         `json:"adaptive,omitempty"`
	Fixed    *benchrate.Result         `json:"fixed_rate,omitempty"`
	Serve    map[string]*serveFigures  `json:"serve,omitempty"`
	// ServeBare is the serve section's baseline, a bare net/http handler.
	ServeBare *serveFigures `json:"serve_bare,omitempty"`
}

// row is one line of the table; empty cells print as "—".
type row struct {
	Measure, Ours, Baseline, Rev, Goal, Met string
}

// Verdicts of the met? column.
const (
	met    = "met"
	missed = "**missed**"
	na     = "n/a"
)

func verdict(ok bool) string {
	if ok {
		return met
	}
	return missed
}

// rows builds the table's rows from the sections measured.
func rows(f *figures) []row {
	var out []row
	out = append(out, importRows(f)...)
	out = append(out, drainRows(f)...)
	out = append(out, pickupRows(f)...)
	out = append(out, heldRows(f)...)
	out = append(out, adaptiveRows(f)...)
	return append(out, serveRows(f)...)
}

func importRows(f *figures) []row {
	im := f.Import
	if im == nil {
		return nil
	}
	return []row{
		{"import rows/s (baseline: raw pipelined RPUSH)", count(im.RowsPerS), count(im.RawRowsPerS), "", ">= 150,000", verdict(im.RowsPerS >= goalImportRows)},
		{"import peak RSS", mib(im.PeakRSS), "", "", "< 64 MiB", verdict(im.PeakRSS > 0 && im.PeakRSS < goalImportRSS)},
		{"import with ats_candidate_id rows/s (baseline: rows without)", count(im.WithIDs.RowsPerS), count(im.RowsPerS), "", ">= 200,000", verdict(im.WithIDs.RowsPerS >= goalImportIDs)},
		{"import with ats_candidate_id peak RSS (baseline: rows without)", mib(im.WithIDs.PeakRSS), mib(im.PeakRSS), "", "< 64 MiB", verdict(im.WithIDs.PeakRSS > 0 && im.WithIDs.PeakRSS < goalImportRSS)},
	}
}

func drainRows(f *figures) []row {
	ours, raw, rev := f.Drain["ours"], f.RawPost, f.Drain[f.Rev]
	if ours == nil || raw == nil {
		return nil
	}
	cell := func(d *drainFigures, s func(*drainFigures) string) string {
		if d == nil {
			return ""
		}
		return s(d)
	}
	ratio := func(d *drainFigures) string { return fmt.Sprintf("%.2f", d.CandPerS/raw.CandPerS) }
	cpu := func(d *drainFigures) time.Duration { return d.WorkerCPU + d.RedisCPU }
	halved := na
	if rev != nil {
		halved = verdict(2*cpu(ours) <= cpu(rev))
	}
	each := func(name, base, goal, v string, s func(*drainFigures) string) row {
		return row{name, s(ours), base, cell(rev, s), goal, v}
	}
	return []row{
		each("drain candidates/s, first → last request (baseline: raw poster)", count(raw.CandPerS), "", "",
			func(d *drainFigures) string { return count(d.CandPerS) }),
		each("drain ÷ raw poster", "1.00", ">= 0.35", verdict(ours.CandPerS >= goalDrainRatio*raw.CandPerS), ratio),
		each("drain candidates/s, unpause → batch done", "", "", "", func(d *drainFigures) string { return count(d.E2EPerS) }),
		each("worker CPU per 1,000 candidates", "", "", "", func(d *drainFigures) string { return ms(d.WorkerCPU) }),
		each("Redis CPU per 1,000 candidates", "", "", "", func(d *drainFigures) string { return ms(d.RedisCPU) }),
		each("worker + Redis CPU per 1,000 candidates", "", "half of the rev's", halved, func(d *drainFigures) string { return ms(cpu(d)) }),
		each("worker allocations per candidate", "", "", "", allocs),
		each("Redis commands per candidate", "", "", "", func(d *drainFigures) string { return fmt.Sprintf("%.2f", d.CommandsPerCand) }),
	}
}

func allocs(d *drainFigures) string {
	if d.AllocsNote != "" {
		return "n/a (" + d.AllocsNote + ")"
	}
	return fmt.Sprintf("%.1f", d.AllocsPerCand)
}

func pickupRows(f *figures) []row {
	ours, rev := f.Pickup["ours"], f.Pickup[f.Rev]
	if ours == nil {
		return nil
	}
	each := func(name, goal, v string, d func(*pickupFigures) time.Duration) row {
		r := row{Measure: name, Ours: ms(d(ours)), Goal: goal, Met: v}
		if rev != nil {
			r.Rev = ms(d(rev))
		}
		return r
	}
	n := len(ours.Latencies)
	return []row{
		each(fmt.Sprintf("pickup p50 (%d pushes)", n), "", "", func(p *pickupFigures) time.Duration { return p.P50 }),
		each(fmt.Sprintf("pickup p99 (%d pushes)", n), "< 300 ms", verdict(ours.P99 < goalPickupP99), func(p *pickupFigures) time.Duration { return p.P99 }),
		each("pickup max", "", "", func(p *pickupFigures) time.Duration { return p.Max }),
	}
}

func heldRows(f *figures) []row {
	ours, rev := f.Held["ours"], f.Held[f.Rev]
	if ours == nil {
		return nil
	}
	gaps := func(h *heldFigures) string {
		s := fmt.Sprintf("%d of %d", h.GapSeconds, h.Counted)
		if h.RanDry {
			s += " (ran dry)"
		}
		return s
	}
	mean := func(h *heldFigures) string { return fmt.Sprintf("%.1f", h.MeanRate) }
	r1 := row{"held at 200 req/s: seconds with < 195 requests", gaps(ours), "0 (ideal)", "", "0", verdict(ours.GapSeconds == 0 && ours.Counted > 0)}
	r2 := row{"held at 200 req/s: mean req/s", mean(ours), "200 (ideal)", "", "", ""}
	if rev != nil {
		r1.Rev, r2.Rev = gaps(rev), mean(rev)
	}
	return []row{r1, r2}
}

func adaptiveRows(f *figures) []row {
	a, fx := f.Adaptive, f.Fixed
	if a == nil {
		return nil
	}
	share := func(r *benchrate.Result) string { return pct(float64(r.AcceptedRate) / vendorRate) }
	s429 := func(r *benchrate.Result) string { return pct(r.Share429) }
	settled := func(r *benchrate.Result) string { return pct(r.SettledShare429) }
	base := func(s func(*benchrate.Result) string) string {
		if fx == nil {
			return ""
		}
		return s(fx)
	}
	return []row{
		{"adaptive: accepted ÷ the vendor's 20/s (baseline: fixed rate)", share(a), base(share), "", ">= 90%", verdict(a.AcceptedRate >= goalAdaptive*vendorRate)},
		{"adaptive: 429 share", s429(a), base(s429), "", "<= 1%", verdict(a.Share429 <= goalAdaptive429)},
		{"adaptive: 429 share after 10 s", settled(a), base(settled), "", "", ""},
	}
}

// renderTable writes rows as a markdown table, with a column for the rev
// when rev is not empty.
func renderTable(w io.Writer, rs []row, rev string) {
	head := []string{"measure", "ours", "baseline"}
	if rev != "" {
		head = append(head, rev)
	}
	head = append(head, "goal", "met?")
	line := func(cells []string) { fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | ")) }
	line(head)
	sep := []string{"---", "---:", "---:"}
	if rev != "" {
		sep = append(sep, "---:")
	}
	line(append(sep, "---", "---"))
	for _, r := range rs {
		cells := []string{r.Measure, r.Ours, r.Baseline}
		if rev != "" {
			cells = append(cells, r.Rev)
		}
		cells = append(cells, r.Goal, r.Met)
		for i, c := range cells {
			if c == "" {
				cells[i] = "—"
			}
		}
		line(cells)
	}
}

// printReport prints the machine, the command and the table.
func printReport(w io.Writer, o options, f *figures) {
	redisVersion := "redis-server: version unknown"
	if out, err := exec.Command("redis-server", "--version").Output(); err == nil {
		redisVersion = strings.TrimSpace(string(out))
	}
	fmt.Fprintf(w, "\n%s, %s, %d CPUs, %s; %s\n", f.Date, f.OS, f.CPUs, f.GoVersion, redisVersion)
	fmt.Fprintf(w, "go run -C bench ./perf %s   (took %s)\n\n", strings.Join(o.args, " "), f.Took)
	renderTable(w, rows(f), f.Rev)
	if im := f.Import; im != nil {
		fmt.Fprintf(w, "\nimport of %d rows (%.1f MB CSV; with ats_candidate_id %.1f MB), %d runs each\n", im.Rows,
			float64(im.CSVBytes)/1e6, float64(im.WithIDs.CSVBytes)/1e6, len(im.Runs))
		fmt.Fprintf(w, "%-4s %-8s %10s %14s %14s\n", "run", "ids", "seconds", "rows/s", "peak RSS MiB")
		for i := range im.Runs {
			for _, v := range []struct {
				ids  string
				runs []importRun
			}{{"with", im.WithIDs.Runs}, {"without", im.Runs}} {
				if i < len(v.runs) {
					r := v.runs[i]
					fmt.Fprintf(w, "%-4d %-8s %10.2f %14.0f %14.1f\n", i+1, v.ids, r.Seconds, r.RowsPerS, float64(r.PeakRSS)/(1<<20))
				}
			}
		}
		fmt.Fprintf(w, "redis memory after the last run: %s\n", im.RedisMemory)
	}
	for label, p := range f.Pickup {
		fmt.Fprintf(w, "\npickup of %s: %s", label, p.Method)
	}
	if len(f.Pickup) > 0 {
		fmt.Fprintln(w)
	}
}

// writeJSON writes the figures to path.
func writeJSON(path string, f *figures) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "figures written to %s\n", path)
	return nil
}

// Cell formats.

func count(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func mib(b int64) string        { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
func pct(x float64) string      { return fmt.Sprintf("%.1f%%", 100*x) }
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", d.Seconds()*1000) }

func serveRows(f *figures) []row {
	ours, bare, rev := f.Serve["ours"], f.ServeBare, f.Serve[f.Rev]
	if ours == nil || bare == nil {
		return nil
	}
	each := func(name, goal, v string, s func(*serveFigures) string) row {
		r := row{Measure: name, Ours: s(ours), Baseline: s(bare), Goal: goal, Met: v}
		if rev != nil {
			r.Rev = s(rev)
		}
		return r
	}
	n := fmt.Sprintf("%d clients, seed body", f.ServeClients)
	return []row{
		each("serve requests/s ("+n+"; baseline: bare net/http 202)", "", "", func(s *serveFigures) string { return count(s.PerS) }),
		each("serve p50 ("+n+")", "", "", func(s *serveFigures) string { return ms(s.P50) }),
		each("serve p99 ("+n+")", "< 50 ms", verdict(ours.Requests > 0 && ours.P99 < goalServeP99), func(s *serveFigures) string { return ms(s.P99) }),
		each("serve answers not 202", "0", verdict(ours.Errors == 0), func(s *serveFigures) string { return fmt.Sprint(s.Errors) }),
		each("serve 10,000-candidate POST to 202 (median of 3)", "< 1 s", verdict(ours.Big > 0 && ours.Big < goalServeBig), func(s *serveFigures) string { return ms(s.Big) }),
	}
}
