package cli

import (
	"context"
	"net"

	"github.com/spf13/cobra"
)

func (e *env) workerCmd() *cobra.Command {
	var metricsAddr string
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run workers until SIGINT/SIGTERM",
		Long: `Runs chunk handlers (BULKINVITE_CONCURRENCY of them) against REDIS_URL and the
Flowmingo API until SIGINT or SIGTERM. On a signal it stops taking work; in-flight
chunks finish within BULKINVITE_SHUTDOWN_TIMEOUT or go back to the queue.

With --metrics-addr it serves Prometheus metrics at http://HOST:PORT/metrics:
candidates by outcome, dead letters by reason, API requests by status, the rate
limiter's waits, requests in flight, the auth stop, and asynq's queues.`,
		Example: `  FLOWMINGO_API_KEY=fl_live_abcd.secret bulkinvite worker
  BULKINVITE_RATE=20 BULKINVITE_CONCURRENCY=16 bulkinvite worker
  bulkinvite worker --metrics-addr 0.0.0.0:9464`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if metricsAddr != "" {
				if _, _, err := net.SplitHostPort(metricsAddr); err != nil {
					return usageErr("--metrics-addr %q: want HOST:PORT, e.g. 127.0.0.1:9464 (%v)", metricsAddr, err)
				}
			}
			return e.runWorker(cmd, metricsAddr)
		},
	}
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://HOST:PORT/metrics (port 0 picks a free one; default: no metrics)")
	return cmd
}

func (e *env) runWorker(cmd *cobra.Command, metricsAddr string) error {
	// A Redis error that retrying cannot cure (a MOVED, CROSSSLOT or WRONGPASS,
	// say) stops the worker with its fix, instead of looping on it.
	ctx, stop := context.WithCancelCause(cmd.Context())
	defer stop(nil)
	e.onRedisFatal = stop
	_, a, err := e.open(cmd, true)
	if err != nil {
		return err
	}
	if err := a.Serve(ctx, metricsAddr); err != nil {
		return err
	}
	if cmd.Context().Err() == nil {
		return context.Cause(ctx)
	}
	return nil
}
