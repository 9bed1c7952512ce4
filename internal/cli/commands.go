package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/store"
	"github.com/bulkinvite/bulkinvite/worker"
)

// targetFlags are --interview-set, --project and --job-post.
type targetFlags struct{ interviewSet, project, jobPost string }

func (t *targetFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&t.interviewSet, "interview-set", "", "interview set UUID to invite to")
	fs.StringVar(&t.project, "project", "", "project UUID to invite to (instead of --interview-set)")
	fs.StringVar(&t.jobPost, "job-post", "", "job post UUID within --project (default: the project's latest)")
}

func (t *targetFlags) target() payload.Target {
	return payload.Target{InterviewSetID: t.interviewSet, ProjectID: t.project, JobPostID: t.jobPost}
}

func (t *targetFlags) validate() error {
	if t.target().IsZero() {
		if t.jobPost != "" {
			return usageErr("--job-post needs --project")
		}
		return nil
	}
	if t.interviewSet != "" && t.project != "" {
		return usageErr("give --interview-set or --project, not both")
	}
	if t.jobPost != "" && t.project == "" {
		return usageErr("--job-post needs --project")
	}
	if err := t.target().Validate(); err != nil {
		return usageErr("%v", err)
	}
	return nil
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr("%s takes %s (see %s --help)", cmd.CommandPath(), what, cmd.CommandPath())
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErr("%s takes no arguments, got %q", cmd.CommandPath(), strings.Join(args, " "))
	}
	return nil
}

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
			if err := e.load(cmd); err != nil {
				return err
			}
			// A Redis error that retrying cannot cure (a MOVED, CROSSSLOT or
			// WRONGPASS, say) stops the worker with its fix, instead of looping on it.
			ctx, stop := context.WithCancelCause(cmd.Context())
			defer stop(nil)
			e.onRedisFatal = stop
			w, err := e.worker(ctx)
			if err != nil {
				return err
			}
			sc, err := e.serveConfig()
			if err != nil {
				return err
			}
			if err := w.Serve(ctx, e.rdb, sc); err != nil {
				return err
			}
			if cmd.Context().Err() == nil {
				return context.Cause(ctx)
			}
			return nil
		},
	}
}

func (e *env) statusCmd() *cobra.Command {
	var asJSON, watch bool
	cmd := &cobra.Command{
		Use:   "status BATCH",
		Short: "Show a batch's counters and state",
		Example: `  bulkinvite status 0193a3c4-...
  bulkinvite status nightly-2026-11-25 --json
  bulkinvite status nightly-2026-11-25 --watch`,
		Args: exactArgs(1, "one batch id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, st, err := e.open(cmd, false)
			if err != nil {
				return err
			}
			var b *store.Batch
			if watch {
				b, err = e.watch(ctx, st, args[0])
			} else {
				b, err = st.Batch(ctx, args[0])
			}
			if errors.Is(err, store.ErrBatchNotFound) {
				return &exitError{code: ExitFailed, err: err}
			}
			if err != nil {
				return err
			}
			s := b.Status()
			if !e.cfg.APIKey.IsZero() {
				s.AuthStop, _ = st.AuthStopped(ctx, e.cfg.APIKey.ID())
			}
			if asJSON {
				return writeJSON(e.io.Out, s)
			}
			printStatus(e.io.Out, s)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	cmd.Flags().BoolVar(&watch, "watch", false, "show live progress until the batch is done")
	return cmd
}

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
			ctx, st, err := e.open(cmd, false)
			if err != nil {
				return err
			}
			stops, err := worker.Resume(ctx, st, asynq.NewInspectorFromRedisClient(st.Redis()))
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

// writeJSON writes v as one line of JSON, with the characters that could fool a
// terminal escaped (see jsonText).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(jsonText{w})
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
