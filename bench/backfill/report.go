package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
)

const mib = 1 << 20

// write prints the figures to w and writes the samples to csvPath and their
// plot to svgPath.
func (r *result) write(w io.Writer, csvPath, svgPath string) error {
	fmt.Fprintf(w, "backfill of %d candidates (%.0f B of fields each), Redis maxmemory %d MiB, noeviction\n",
		r.Rows, r.MeanFields, r.MaxMemory/mib)
	if r.Stalled {
		last := r.Samples[len(r.Samples)-1]
		fmt.Fprintf(w, "  STALLED with %d of %d accepted, %d pending, Redis at %.1f MiB: %.0f B per accepted candidate\n",
			last.Accepted, r.Rows, last.Pending, float64(last.Used)/mib, float64(last.Used-r.BaseUsed)/float64(max(last.Accepted, 1)))
	}
	fmt.Fprintf(w, "  peak Redis used_memory  %.1f MiB at %.0f s (%.1f MiB before the import)\n", float64(r.PeakUsed)/mib, r.PeakAt, float64(r.BaseUsed)/mib)
	fmt.Fprintf(w, "  peak bytes per queued   %.1f B (%d candidates queued, %.1f MiB, before the first was sent)\n",
		r.PeakBytesPerQueued, r.PeakQueued, float64(r.QueuedUsed)/mib)
	fmt.Fprintf(w, "  bytes per done          %.1f B (each candidate sent, its ledger entry kept)\n", r.DoneBytesPerCandidate)
	fmt.Fprintf(w, "  import                  %.0f rows/s (%.1f s; waited for Redis memory: %v)\n", r.ImportRowsPerS, r.ImportSeconds, r.ImportWaited)
	fmt.Fprintf(w, "  drain                   %.0f candidates/s (%.1f s from the workers' start)\n", r.DrainPerS, r.DrainSeconds)
	fmt.Fprintf(w, "  peak RSS                producer %.1f MiB, workers %.1f MiB\n", float64(r.PeakProducer)/mib, float64(r.PeakWorker)/mib)
	fmt.Fprintf(w, "  samples                 %s, plot %s\n", csvPath, svgPath)
	if err := writeFile(csvPath, r.writeCSV); err != nil {
		return err
	}
	return writeFile(svgPath, r.writeSVG)
}

func writeFile(path string, fill func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	if err := fill(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// writeCSV writes one row a sample.
func (r *result) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"t_s", "phase", "redis_used_bytes", "producer_rss_bytes", "worker_rss_bytes", "accepted", "pending", "sent_per_s"})
	for _, s := range r.Samples {
		cw.Write([]string{strconv.FormatFloat(s.T, 'f', 1, 64), s.Phase, i64(s.Used), i64(s.ProducerRSS), i64(s.WorkerRSS),
			i64(s.Accepted), i64(s.Pending), strconv.FormatFloat(s.SentPerS, 'f', 0, 64)})
	}
	cw.Flush()
	return cw.Error()
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

// Geometry of the plot.
const (
	plotW, plotH                   = 800, 400
	padL, padR, padT, padB         = 70, 20, 30, 40
	innerW, innerH         float64 = plotW - padL - padR, plotH - padT - padB
)

// series is one line of the plot.
type series struct {
	name, color string
	y           func(sample) float64 // MiB
}

// writeSVG plots Redis's used memory, the RSS of the producer and the workers
// (MiB) and maxmemory against time.
func (r *result) writeSVG(w io.Writer) error {
	lines := []series{
		{"Redis used_memory", "#d62728", func(s sample) float64 { return float64(s.Used) / mib }},
		{"producer RSS", "#1f77b4", func(s sample) float64 { return float64(s.ProducerRSS) / mib }},
		{"worker RSS", "#2ca02c", func(s sample) float64 { return float64(s.WorkerRSS) / mib }},
	}
	maxMem := float64(r.MaxMemory) / mib
	tMax, yMax := 1.0, maxMem*1.1
	for _, s := range r.Samples {
		tMax = max(tMax, s.T)
		for _, l := range lines {
			yMax = max(yMax, l.y(s)*1.05)
		}
	}
	x := func(t float64) float64 { return padL + t/tMax*innerW }
	y := func(v float64) float64 { return padT + innerH - v/yMax*innerH }
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", plotW, plotH)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotW, plotH)
	fmt.Fprintf(w, `<text x="%d" y="18" font-size="14">backfill of %d candidates: memory (MiB) over time (s)</text>`+"\n", padL, r.Rows)
	for i := 0; i <= 4; i++ { // axes' ticks
		v, t := yMax*float64(i)/4, tMax*float64(i)/4
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%.0f</text>`+"\n",
			padL, y(v), plotW-padR, y(v), padL-5, y(v)+4, v)
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">%.0f</text>`+"\n", x(t), plotH-padB+15, t)
	}
	fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#000" stroke-dasharray="6 4"/><text x="%d" y="%.1f" text-anchor="end">maxmemory</text>`+"\n",
		padL, y(maxMem), plotW-padR, y(maxMem), plotW-padR, y(maxMem)-4)
	for i, l := range lines {
		fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="2" points="`, l.color)
		for _, s := range r.Samples {
			fmt.Fprintf(w, "%.1f,%.1f ", x(s.T), y(l.y(s)))
		}
		fmt.Fprintln(w, `"/>`)
		fmt.Fprintf(w, `<text x="%d" y="%d" fill="%s">%s</text>`+"\n", padL+10+i*170, plotH-8, l.color, l.name)
	}
	_, err := fmt.Fprintln(w, "</svg>")
	return err
}
