// Command serve measures `bulkinvite serve` under load: -clients
// (200) concurrent clients POST -candidates (100) candidate batches to one serve
// process for -duration (30 s), each sending its next request as soon as its
// last is answered (or, with -rate, at that many requests/s in all). It prints
// one table: requests/s, latency p50/p90/p99/max, errors (anything but 202; the
// goal is 0), and whether every accepted candidate is in Redis afterwards: each
// batch's record counts its candidates as accepted and sealed, and its chunk
// tasks in asynq's queue hold exactly the candidates that were posted.
//
// It builds the binary, starts a private redis-server (loopback, free port, no
// persistence) and `bulkinvite serve` on a free loopback port with one token,
// per-token limits high enough not to matter and its log (one line a request,
// as in production) to a file; no worker runs, so the batches wait in the
// queue. Every child is stopped on exit, on failure and on Ctrl-C. The clients
// run in this process, on the same machine: on a small one they take CPU from
// serve and Redis, which the figures include.
//
// Usage, from the repository root:
//
//	go run -C bench ./serve                       # 200 clients, 100 candidates, 30 s
//	go run -C bench ./serve -rate 400             # open loop: latency below saturation
//
// Goal: p99 < 50 ms for a 100-candidate POST. Exit status 1 when an accepted
// candidate is not in Redis as posted (with -short, also on any error), 2 for a
// usage error.
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

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
)

func main() { os.Exit(run(os.Args[1:])) }

// options are the command-line flags.
type options struct {
	duration   time.Duration
	clients    int
	candidates int
	rate       float64
	keep       bool
	short      bool
}

// shortDefaults are -short's sizes: a smoke run of a few seconds, for the test.
var shortDefaults = map[string]string{"duration": "1s", "clients": "4", "candidates": "5"}

func run(args []string) int {
	var o options
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long the clients post")
	fs.IntVar(&o.clients, "clients", 200, "concurrent clients")
	fs.IntVar(&o.candidates, "candidates", 100, "candidates per batch")
	fs.Float64Var(&o.rate, "rate", 0, "requests/s of all clients together (0: each client posts again as soon as it is answered)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir with serve's and Redis's logs")
	fs.BoolVar(&o.short, "short", false, "a smoke run of a few seconds (1s, 4 clients, 5 candidates) for the flags not given; any error fails it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := benchproc.FinishFlags(fs, o.short, shortDefaults); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		return 2
	}
	switch {
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
	switch {
	case res.Missing > 0:
		fmt.Fprintf(os.Stderr, "serve: %d accepted candidates are not in Redis as posted\n", res.Missing)
		return 1
	case o.short && (len(res.Errors) > 0 || res.Batches == 0):
		fmt.Fprintf(os.Stderr, "serve: -short: %d batches accepted, errors %v\n", res.Batches, res.Errors)
		return 1
	}
	return 0
}

// machine describes where the figures were taken.
func machine() string {
	return fmt.Sprintf("%s, %d CPUs, %s/%s", runtime.Version(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
}
