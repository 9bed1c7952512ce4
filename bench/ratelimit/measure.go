package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
	"github.com/bulkinvite/bulkinvite/bench/internal/benchrate"
)

// measure builds the binary and runs each scenario in turn. It returns the
// figures of the scenarios that completed, with the first error.
func measure(ctx context.Context, o options, scens []benchrate.Scenario) (*report, error) {
	tmp, err := os.MkdirTemp("", "bench-ratelimit-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		fmt.Fprintf(os.Stderr, "logs kept in %s\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin, err := benchproc.Build(ctx, tmp)
	if err != nil {
		return nil, err
	}
	rep := &report{
		Date:        time.Now().UTC().Format(time.RFC3339),
		GoVersion:   runtime.Version(),
		OS:          runtime.GOOS + "/" + runtime.GOARCH,
		CPUs:        runtime.NumCPU(),
		Duration:    o.duration.String(),
		Warmup:      o.warmup.String(),
		Settle:      o.settle.String(),
		Workers:     o.workers,
		Concurrency: o.concurrency,
		Method: "sandbox not reset; the first " + o.warmup.String() + " after its first request is discarded; " +
			"window = the next " + o.duration.String() + " on the sandbox's clock; mean = requests in window / window length",
	}
	ro := benchrate.Options{Warmup: o.warmup, Duration: o.duration, Settle: o.settle, Workers: o.workers, Concurrency: o.concurrency}
	for i, s := range scens {
		dir := filepath.Join(tmp, s.Name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return rep, err
		}
		fmt.Fprintf(os.Stderr, "[%d/%d] %s: %s\n", i+1, len(scens), s.Name, s.Goal)
		res, err := benchrate.Run(ctx, ro, bin, dir, s)
		if err != nil {
			return rep, fmt.Errorf("scenario %s: %w (logs in %s with -keep)", s.Name, err, dir)
		}
		rep.Scenarios = append(rep.Scenarios, res)
		fmt.Fprintf(os.Stderr, "  %d requests, %.2f/s, peak 1s %d, 429s %d (%.1f%%)\n",
			res.Requests, res.MeanRate, res.Peak1s, res.Status429, 100*res.Share429)
	}
	return rep, nil
}
