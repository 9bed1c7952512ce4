package cli

import (
	"context"

	"github.com/spf13/cobra"
)

func (e *env) workerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run workers until SIGINT/SIGTERM",
		Long: `Runs chunk handlers (BULKINVITE_CONCURRENCY of them) against REDIS_URL and the
Flowmingo API until SIGINT or SIGTERM. On a signal it stops taking work; in-flight
chunks finish within BULKINVITE_SHUTDOWN_TIMEOUT or go back to the queue.`,
		Example: `  FLOWMINGO_API_KEY=fl_live_abcd.secret bulkinvite worker
  BULKINVITE_RATE=20 BULKINVITE_CONCURRENCY=16 bulkinvite worker`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// A Redis error that retrying cannot cure (a MOVED, CROSSSLOT or
			// WRONGPASS, say) stops the worker with its fix, instead of looping on it.
			ctx, stop := context.WithCancelCause(cmd.Context())
			defer stop(nil)
			e.onRedisFatal = stop
			_, a, err := e.open(cmd, true)
			if err != nil {
				return err
			}
			if err := a.Serve(ctx); err != nil {
				return err
			}
			if cmd.Context().Err() == nil {
				return context.Cause(ctx)
			}
			return nil
		},
	}
}
