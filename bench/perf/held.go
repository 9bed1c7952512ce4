package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchrate"
)

// Settings of the held rate.
const (
	heldRate  = 200
	heldBurst = 5 // the default BULKINVITE_BURST
	// heldFloor is the fewest requests a second with work queued may get.
	heldFloor = 195
)

// heldFigures are one binary's held rate.
type heldFigures struct {
	// GapSeconds of Counted whole seconds got fewer than heldFloor requests.
	GapSeconds int     `json:"gap_seconds"`
	Counted    int     `json:"seconds_counted"`
	MeanRate   float64 `json:"mean_rate"`
	PerSecond  []int   `json:"per_second"`
	// RanDry is set when the queue ran dry before the window's end.
	RanDry bool `json:"ran_dry"`
}

// heldSection runs one worker at 200 req/s with work queued, per binary.
func (b *bench) heldSection(ctx context.Context) error {
	for _, s := range b.subjects() {
		dir, err := b.dir("held/" + strings.ReplaceAll(s.Label, " ", "-"))
		if err != nil {
			return err
		}
		o := benchrate.Options{Duration: b.o.heldDuration, Workers: 1, Concurrency: drainConcurrency, ChunkSize: drainChunk, SandboxBin: b.ours.Bin}
		sc := benchrate.Scenario{Name: "held", Limiter: "global", Rate: heldRate, Burst: heldBurst}
		res, err := benchrate.Run(ctx, o, s.Bin, dir, sc)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Label, err)
		}
		f := heldOf(res, b.o.heldDuration)
		b.figs.Held[s.Label] = f
		logf("[%s] held: %d gap seconds of %d, mean %.1f req/s; per second %v", s.Label, f.GapSeconds, f.Counted, f.MeanRate, f.PerSecond)
	}
	return nil
}

// heldOf counts the gap seconds of a held-rate run: the window's whole
// seconds, and when the queue ran dry only those before the second of the
// last request.
func heldOf(res benchrate.Result, window time.Duration) *heldFigures {
	f := &heldFigures{MeanRate: res.MeanRate, PerSecond: res.PerSecond, RanDry: res.PendingAtEnd == 0}
	dry := -1
	if f.RanDry && len(res.Records) > 0 {
		first, last := res.Records[0].At, res.Records[0].At
		for _, r := range res.Records {
			first, last = minTime(first, r.At), maxTime(last, r.At)
		}
		dry = int(last.Sub(first) / time.Second)
	}
	f.GapSeconds, f.Counted = gapSeconds(res.PerSecond, int(window/time.Second), dry, heldFloor)
	return f
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
