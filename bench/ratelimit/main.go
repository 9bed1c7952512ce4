// Command ratelimit measures, at the API, the request rate that several
// `bulkinvite worker` processes send together: invariant 3 of docs/architecture.md
// ("one rate for all") and the baseline it improves on (BULKINVITE_LIMITER=local).
//
// It builds the real binary once, then for each scenario starts a private
// redis-server (loopback, free port, temp dir, no persistence), a
// `bulkinvite sandbox` on 127.0.0.1, enqueues enough candidates that the workers
// never run dry (BULKINVITE_CHUNK_SIZE=1, so one request is one candidate), starts
// -workers worker processes, lets them run, stops them with SIGTERM and reads
// every request's arrival time from the sandbox (GET /__sandbox/requests).
//
// The sandbox is not reset: the first -warmup (1 s) after the first request
// reached it is discarded and the measurement window is the -duration that
// follows, all on the sandbox's own clock. Figures per scenario:
//
//	requests     requests that arrived in the window, any status
//	mean/s       requests / duration of the window
//	span/s       (requests-1) / time between the window's first and last request
//	accepted/s   2xx answers / duration of the window
//	peak 1s      most arrivals in any 1-second sliding window [t, t+1s), over the
//	             window and over the whole run (warm-up and tail included)
//	429s         429 answers in the window, and their share of requests
//	429 settled  share of 429s from -settle (10 s) after the window's start
//
// Scenarios (-scenarios, comma-separated; default all):
//
//	global               sandbox unlimited; BULKINVITE_LIMITER=global, rate -rate, burst -burst.
//	                     Goal: mean within 2% of the rate, no 1-s window above rate+burst.
//	local                the same with BULKINVITE_LIMITER=local: each process alone,
//	                     so about -workers times the rate.
//	sandbox429           the sandbox enforces -rate/-burst itself; ours global at
//	                     twice the rate: how many 429s, and after settling.
//	sandbox429-adaptive  the same with BULKINVITE_ADAPTIVE=true.
//
// All traffic stays on 127.0.0.1 (never the default Redis at 127.0.0.1:6379);
// every wait is bounded; every child process is stopped on exit, on error and on
// SIGINT/SIGTERM. Usage, from the repository root:
//
//	go run -C bench ./ratelimit -duration 60s -json ratelimit.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
	"github.com/bulkinvite/bulkinvite/bench/internal/benchrate"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// options are the command-line flags.
type options struct {
	duration    time.Duration
	warmup      time.Duration
	settle      time.Duration
	scenarios   string
	jsonPath    string
	workers     int
	concurrency int
	rate        float64
	burst       int
	keep        bool
	short       bool
}

// shortDefaults are -short's sizes: every scenario for a second, for the test.
var shortDefaults = map[string]string{"duration": "1s", "warmup": "0s", "settle": "0s", "workers": "2", "concurrency": "2"}

func run(args []string) int {
	var o options
	fs := flag.NewFlagSet("ratelimit", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "length of the measurement window of each scenario")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "discarded after the first request reaches the sandbox, before the window")
	fs.DurationVar(&o.settle, "settle", 10*time.Second, "429 shares are also reported from this long after the window's start")
	fs.StringVar(&o.scenarios, "scenarios", strings.Join(benchrate.ScenarioNames(), ","), "comma-separated scenarios to run")
	fs.StringVar(&o.jsonPath, "json", "", "also write the figures as JSON to this file")
	fs.IntVar(&o.workers, "workers", 4, "worker processes")
	fs.IntVar(&o.concurrency, "concurrency", 8, "BULKINVITE_CONCURRENCY of each worker process")
	fs.Float64Var(&o.rate, "rate", 20, "BULKINVITE_RATE (the sandbox's --rate in the 429 scenarios; ours is twice that there)")
	fs.IntVar(&o.burst, "burst", 5, "BULKINVITE_BURST (and the sandbox's --burst in the 429 scenarios)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir with the child processes' logs")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run -C bench ./ratelimit [flags]\n\nscenarios: %s\n\n", strings.Join(benchrate.ScenarioNames(), ", "))
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.short, "short", false, "a smoke run of a few seconds (each scenario 1s, 2 workers x 2) for the flags not given")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := benchproc.FinishFlags(fs, o.short, shortDefaults); err != nil {
		fmt.Fprintln(os.Stderr, "ratelimit:", err)
		return 2
	}
	scens, err := o.validate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ratelimit:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := measure(ctx, o, scens)
	if rep != nil && len(rep.Scenarios) > 0 {
		printTable(os.Stdout, rep)
		if o.jsonPath != "" {
			if werr := writeJSONFile(o.jsonPath, rep); werr != nil {
				fmt.Fprintln(os.Stderr, "ratelimit:", werr)
				return 1
			}
			fmt.Fprintf(os.Stderr, "figures written to %s\n", o.jsonPath)
		}
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "ratelimit: interrupted")
		} else {
			fmt.Fprintln(os.Stderr, "ratelimit:", err)
		}
		return 1
	}
	return 0
}

func (o options) validate() ([]benchrate.Scenario, error) {
	switch {
	case o.duration < time.Second || o.duration > 10*time.Minute:
		return nil, fmt.Errorf("-duration must be in [1s, 10m], got %v", o.duration)
	case o.warmup < 0 || o.warmup > time.Minute:
		return nil, fmt.Errorf("-warmup must be in [0, 1m], got %v", o.warmup)
	case o.settle < 0 || o.settle >= o.duration:
		return nil, fmt.Errorf("-settle must be in [0, -duration), got %v", o.settle)
	case o.workers < 1 || o.workers > 32:
		return nil, fmt.Errorf("-workers must be in [1, 32], got %d", o.workers)
	case o.concurrency < 1 || o.concurrency > 256:
		return nil, fmt.Errorf("-concurrency must be in [1, 256], got %d", o.concurrency)
	case !(o.rate >= 1 && o.rate <= 1000):
		return nil, fmt.Errorf("-rate must be in [1, 1000], got %v", o.rate)
	case o.burst < 1 || o.burst > 1000:
		return nil, fmt.Errorf("-burst must be in [1, 1000], got %d", o.burst)
	}
	return benchrate.PickScenarios(o.scenarios, o.rate, o.burst)
}
