package cli

import (
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/spf13/cobra"

	"github.com/bulkinvite/bulkinvite/worker"
)

func (e *env) resumeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "resume",
		Short: "Let every worker send again after an auth stop (401/403) was fixed",
		Long: `After the vendor answered 401 or 403, every worker stops sending with that key, the
queues are paused and the work stays queued. Fix the key (or its scopes), or rotate
it and restart the workers with the new one, then run resume: every stop is cleared,
the queues paused for it are resumed, the next request tells whether the fix
worked, and a new 401/403 stops again.`,
		Example: `  FLOWMINGO_API_KEY=fl_live_abcd.newsecret bulkinvite resume`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, a, err := e.open(cmd)
			if err != nil {
				return err
			}
			stops, err := worker.Resume(ctx, a.Store, asynq.NewInspectorFromRedisClient(a.Redis), cliBy())
			if err != nil {
				return err
			}
			if len(stops) == 0 {
				fmt.Fprintln(e.io.Out, "sending was not stopped; nothing to resume")
				return nil
			}
			for _, stop := range stops {
				fmt.Fprintf(e.io.Out, "resumed sending for key %s (stopped since %s after HTTP %d: %s)\n",
					stop.Key, stop.Since.Format("2006-01-02 15:04:05Z07:00"), stop.Status, plain(stop.Message))
				if !e.cfg.APIKey.IsZero() && stop.Key != e.cfg.APIKey.Masked() {
					fmt.Fprintf(e.io.Out, "workers still running with key %s stop again at their next request: restart them with %s\n", stop.Key, e.cfg.APIKey)
				}
			}
			fmt.Fprintln(e.io.Out, "queued chunks go out within seconds; a new 401/403 stops again")
			return nil
		},
	}
}
