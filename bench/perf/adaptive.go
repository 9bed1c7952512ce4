package main

import (
	"context"
	"fmt"
	"time"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchrate"
)

// Settings of the adaptive section: bench/ratelimit's defaults.
const (
	vendorRate       = 20
	vendorBurst      = 5
	adaptiveWorkers  = 4
	adaptiveConc     = 8
	adaptiveWarmup   = time.Second
	adaptiveSettle   = 10 * time.Second
	adaptiveScenario = "sandbox429-adaptive"
	fixedScenario    = "sandbox429"
)

// adaptiveSection runs the adaptive scenario and the fixed-rate one.
func (b *bench) adaptiveSection(ctx context.Context) error {
	settle := adaptiveSettle
	if settle >= b.o.adaptiveDuration { // a short window: the share over all of it
		settle = 0
	}
	warmup := adaptiveWarmup
	if b.o.short {
		warmup = 0
	}
	o := benchrate.Options{Warmup: warmup, Duration: b.o.adaptiveDuration, Settle: settle,
		Workers: adaptiveWorkers, Concurrency: adaptiveConc}
	for _, name := range []string{adaptiveScenario, fixedScenario} {
		sc, _ := benchrate.NewScenario(name, vendorRate, vendorBurst)
		dir, err := b.dir("adaptive/" + name)
		if err != nil {
			return err
		}
		res, err := benchrate.Run(ctx, o, b.ours.Bin, dir, sc)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		res.Records = nil
		logf("[%s] %.2f accepted/s (%.0f%% of %d), 429s %.1f%%, after %v %.1f%%", name, res.AcceptedRate,
			100*res.AcceptedRate/vendorRate, vendorRate, 100*res.Share429, settle, 100*res.SettledShare429)
		if name == adaptiveScenario {
			b.figs.Adaptive = &res
		} else {
			b.figs.Fixed = &res
		}
	}
	return nil
}
