package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/configs"
	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/app"
	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/config"
	"github.com/bulkinvite/bulkinvite/internal/deadletter"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

func (e *env) demoCmd() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole pipeline in one process on embedded defaults",
		Long: `Runs everything in this process, with nothing to install or configure: an in-memory
Redis, the sandbox API (failing some requests on purpose), a worker, and the sample
file configs/sample-candidates.csv. It imports the file, shows progress, prints the
summary and the dead letters, lets the sandbox recover, replays the dead letters,
and says what to run next against a real Redis and the real API.`,
		Example: `  go run ./cmd/bulkinvite demo`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := zap.NewNop()
			if verbose {
				log = newLogger(config.Default(), e.io)
			}
			return e.demo(cmd.Context(), log)
		},
	}
	cmd.Flags().BoolVar(&verbose, "verbose", false, "show the worker's log lines")
	return cmd
}

// demoConfig is the configuration the demo runs with: the defaults, but small
// chunks, two attempts and short retries, so that there is something to see.
func demoConfig(apiURL string) config.Config {
	cfg := config.Default()
	cfg.APIURL = apiURL
	cfg.APIKey = flowmingo.NewAPIKey(sandbox.DefaultKey)
	cfg.RequestTimeout = 5 * time.Second
	cfg.Rate, cfg.Burst = 20, 5
	cfg.ChunkSize, cfg.Concurrency = 3, 4
	cfg.MaxAttempts = 2
	cfg.RetryMin, cfg.RetryMax = 300*time.Millisecond, time.Second
	cfg.ShutdownTimeout = 5 * time.Second
	return cfg
}

// demo runs the pipeline in process: miniredis, the sandbox failing half of the
// requests, a worker built as `bulkinvite worker` builds one.
func (e *env) demo(ctx context.Context, log *zap.Logger) error {
	mr, err := miniredis.Run()
	if err != nil {
		return fmt.Errorf("start in-memory Redis: %w", err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	api, err := sandbox.Start(sandbox.Config{Seed: 7, Faults: sandbox.Faults{FailRate: 0.5, Latency: 20 * time.Millisecond}})
	if err != nil {
		return err
	}
	defer api.Close()
	a := app.New(rdb, demoConfig(api.URL), log)
	defer a.Close()

	out := e.io.Out
	fmt.Fprintf(out, "bulkinvite demo\n")
	fmt.Fprintf(out, "  Redis:   in-memory (miniredis) at %s\n", mr.Addr())
	fmt.Fprintf(out, "  API:     sandbox at %s, failing 50%% of requests with 500/503 on purpose\n", api.URL)
	fmt.Fprintf(out, "  key:     %s\n", a.Cfg.APIKey)
	fmt.Fprintf(out, "  input:   configs/sample-candidates.csv\n\n")

	wctx, stopWorker := context.WithCancel(ctx)
	werr := make(chan error, 1)
	go func() { werr <- a.Serve(wctx, app.ServeOptions{}) }()
	defer func() { stopWorker(); <-werr }()

	batchID, err := e.demoImport(ctx, out, a.Producer())
	if err != nil {
		return err
	}
	if err := e.demoDrain(ctx, out, a.Store, batchID); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n3. the sandbox stops failing; replay the dead letters as a new batch linked to the old:\n")
	if err := api.SetFaults(sandbox.Faults{}); err != nil {
		return err
	}
	if err := e.demoReplay(ctx, out, a, batchID); err != nil {
		return err
	}
	stats := api.Stats()
	fmt.Fprintf(out, "\n4. what the sandbox API saw: %d requests (%s), %d invites created, %d duplicate invites\n",
		stats.Requests, statusCounts(stats.ByStatus), stats.Invites, stats.DuplicateInvites)
	fmt.Fprintf(out, demoNext, sandbox.DefaultKey)
	return nil
}

func (e *env) demoImport(ctx context.Context, out io.Writer, prod *producer.Producer) (string, error) {
	src, err := producer.NewCSVSource(bytes.NewReader(configs.SampleCandidatesCSV))
	if err != nil {
		return "", err
	}
	fmt.Fprintf(out, "1. import (rejected rows are reported with their line and reason):\n")
	res, err := prod.Import(ctx, src, producer.Options{
		Job:      task.Job{Target: payload.Target{InterviewSetID: sandbox.DemoInterviewSetID}},
		Source:   "configs/sample-candidates.csv",
		OnReject: func(r *producer.RowError) { fmt.Fprintf(out, "   rejected: %v\n", r) },
		Owner:    auth.CLIName,
		By:       cliBy(),
	})
	if err != nil {
		return "", err
	}
	if len(src.Ignored()) > 0 {
		fmt.Fprintf(out, "   ignored columns: %v\n", src.Ignored())
	}
	printImport(indent(out), res)
	return res.BatchID, nil
}

func (e *env) demoDrain(ctx context.Context, out io.Writer, st *store.Store, batchID string) error {
	fmt.Fprintf(out, "\n2. the worker sends chunks of 3, retrying what the sandbox fails (2 attempts each):\n")
	b, err := e.watch(ctx, st, batchID)
	if err != nil {
		return err
	}
	printStatus(indent(out), b.Status())
	fmt.Fprintf(out, "\n   dead letters, with the vendor's reason kept verbatim:\n")
	return printDeadLetters(ctx, indent(indent(out)), st, batchID)
}

func (e *env) demoReplay(ctx context.Context, out io.Writer, a *app.App, batchID string) error {
	rep, err := a.Replayer().Replay(ctx, deadletter.Options{Filter: store.Filter{BatchID: batchID}, By: auth.CLIName, Actor: cliBy()})
	if err != nil {
		return err
	}
	for _, id := range rep.Batches {
		rb, err := e.watch(ctx, a.Store, id)
		if err != nil {
			return err
		}
		printStatus(indent(out), rb.Status())
		fmt.Fprintf(out, "\n   still dead after the replay (their errors are the candidates' own, so they fail again, with their attempt history):\n")
		if err := printDeadLetters(ctx, indent(indent(out)), a.Store, id); err != nil {
			return err
		}
	}
	return nil
}

const demoNext = `
Next, against a real Redis and the real API:
  export REDIS_URL=redis://127.0.0.1:6379/0
  export FLOWMINGO_API_KEY=fl_live_<prefix>.<secret>       # or FLOWMINGO_API_KEY_FILE
  bulkinvite worker &                                       # as many as you like, on any machine
  bulkinvite enqueue candidates.csv --interview-set <UUID> --wait
  bulkinvite deadletter list --json
Or try it all locally first against the sandbox:
  bulkinvite sandbox --fail-rate 0.1 &
  FLOWMINGO_API_URL=http://127.0.0.1:8090 FLOWMINGO_API_KEY=%s bulkinvite worker
`
