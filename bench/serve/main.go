// Command serve measures `bulkinvite serve` under load: -clients
// (200) concurrent clients POST -candidates (100) candidate batches to one serve
// process for -duration (30 s), each sending its next request as soon as its
// last is answered (or, with -rate, at that many requests/s in all). It prints
// one table: requests/s, latency p50/p90/p99/max, errors (anything but 202; the
// goal is 0), and whether every accepted candidate is in Redis afterwards: each
// batch's record counts its candidates as accepted and sealed, and its segment
// task in asynq's queue holds exactly the candidates that were posted.
//
// It builds the binary, starts a private redis-server (loopback, free port, no
// persistence) and `bulkinvite serve` on a free loopback port with one token,
// per-token limits high enough not to matter and its log (one line a request,
// as in production) to a file; no worker runs, so the batches wait in the
// queue. Every child is stopped on exit, on failure and on Ctrl-C. The clients
// run in this process, on the same machine: on a small one they take CPU from
// serve and Redis, which the figures include.
//
// Usage, from the module root:
//
//	go run ./bench/serve                       # 200 clients, 100 candidates, 30 s
//	go run ./bench/serve -rate 400             # open loop: latency below saturation
//
// Goal: p99 < 50 ms for a 100-candidate POST.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

func main() { os.Exit(run()) }

// options are the command-line flags.
type options struct {
	duration   time.Duration
	clients    int
	candidates int
	rate       float64
	keep       bool
}

func run() int {
	var o options
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "how long the clients post")
	flag.IntVar(&o.clients, "clients", 200, "concurrent clients")
	flag.IntVar(&o.candidates, "candidates", 100, "candidates per batch")
	flag.Float64Var(&o.rate, "rate", 0, "requests/s of all clients together (0: each client posts again as soon as it is answered)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir with serve's and Redis's logs")
	flag.Parse()
	switch {
	case flag.NArg() > 0:
		fmt.Fprintf(os.Stderr, "serve: no arguments expected, got %q\n", flag.Args())
		return 2
	case o.duration < time.Second || o.duration > 10*time.Minute:
		fmt.Fprintln(os.Stderr, "serve: -duration must be in [1s, 10m]")
		return 2
	case o.clients < 1 || o.clients > 2000, o.candidates < 1 || o.candidates > 10000, o.rate < 0 || o.rate > 100000:
		fmt.Fprintln(os.Stderr, "serve: -clients 1..2000, -candidates 1..10000, -rate 0..100000")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := measure(ctx, o)
	if res != nil {
		printTable(os.Stdout, o, res)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			err = errors.New("interrupted")
		}
		fmt.Fprintln(os.Stderr, "serve:", err)
		return 1
	}
	return 0
}

// machine describes where the figures were taken.
func machine() string {
	return fmt.Sprintf("%s, %d CPUs, %s/%s", runtime.Version(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
}
