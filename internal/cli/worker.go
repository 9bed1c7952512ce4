package cli

import (
	"context"
	"net"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/bulkinvite/bulkinvite/internal/app"
)

func (e *env) workerCmd() *cobra.Command {
	var o app.ServeOptions
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run workers until SIGINT/SIGTERM",
		Long: `Runs chunk handlers (BULKINVITE_CONCURRENCY of them) against REDIS_URL and the
Flowmingo API until SIGINT or SIGTERM. On a signal it stops taking work; in-flight
chunks finish within BULKINVITE_SHUTDOWN_TIMEOUT or go back to the queue. The Go
garbage collector runs at GOGC=400 unless GOGC is set.

With --metrics-addr it serves Prometheus metrics at http://HOST:PORT/metrics:
candidates by outcome, dead letters by reason, API requests by status, the rate
limiter's waits, requests in flight, the auth stop, and asynq's queues.

With --pprof-addr it serves Go's profiles at http://HOST:PORT/debug/pprof/ (no
authentication: keep it on loopback), e.g.
go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=20`,
		Example: `  FLOWMINGO_API_KEY=fl_live_abcd.secret bulkinvite worker
  BULKINVITE_RATE=20 BULKINVITE_CONCURRENCY=16 bulkinvite worker
  bulkinvite worker --metrics-addr 0.0.0.0:9464
  bulkinvite worker --pprof-addr 127.0.0.1:6060`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, f := range []struct{ flag, addr, example string }{
				{"--metrics-addr", o.MetricsAddr, "127.0.0.1:9464"},
				{"--pprof-addr", o.PprofAddr, "127.0.0.1:6060"},
			} {
				if f.addr == "" {
					continue
				}
				if _, _, err := net.SplitHostPort(f.addr); err != nil {
					return usageErr("%s %q: want HOST:PORT, e.g. %s (%v)", f.flag, f.addr, f.example, err)
				}
			}
			return e.runWorker(cmd, o)
		},
	}
	cmd.Flags().StringVar(&o.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://HOST:PORT/metrics (port 0 picks a free one; default: no metrics)")
	cmd.Flags().StringVar(&o.PprofAddr, "pprof-addr", "", "serve Go's profiles at http://HOST:PORT/debug/pprof/ (no authentication: keep it on loopback; default: off)")
	return cmd
}

// workerGCPercent is the worker's GOGC unless the environment sets one. Its live
// heap is a few MiB, and at Go's default of 100 the collector ran so often that
// it took a fifth of the worker's CPU in a drain (go run -C bench ./perf -only
// drain: 26.0 and 22.8 ms per 1,000 candidates at 100, 20.0 and 18.5 at 400); the
// worker's peak RSS went from 38 to 60 MiB.
const workerGCPercent = 400

func (e *env) runWorker(cmd *cobra.Command, o app.ServeOptions) error {
	if os.Getenv("GOGC") == "" { // the runtime's own variable: the process's environment
		debug.SetGCPercent(workerGCPercent)
	}
	// A Redis error that retrying cannot cure (a MOVED, CROSSSLOT or WRONGPASS,
	// say) stops the worker with its fix, instead of looping on it.
	ctx, stop := context.WithCancelCause(cmd.Context())
	defer stop(nil)
	e.onRedisFatal = stop
	_, a, err := e.openWithKey(cmd)
	if err != nil {
		return err
	}
	if err := a.Serve(ctx, o); err != nil {
		return err
	}
	if cmd.Context().Err() == nil {
		return context.Cause(ctx)
	}
	return nil
}
