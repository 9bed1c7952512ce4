package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/config"
	"github.com/bulkinvite/bulkinvite/configs"
	"github.com/bulkinvite/bulkinvite/deadletter"
	"github.com/bulkinvite/bulkinvite/flowmingo"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
	"github.com/bulkinvite/bulkinvite/ratelimit"
	"github.com/bulkinvite/bulkinvite/store"
	"github.com/bulkinvite/bulkinvite/worker"
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
			return runDemo(cmd.Context(), e, log)
		},
	}
	cmd.Flags().BoolVar(&verbose, "verbose", false, "show the worker's log lines")
	return cmd
}

func runDemo(ctx context.Context, e *env, log *zap.Logger) error {
	out := e.io.Out
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
	key := flowmingo.NewAPIKey(sandbox.DefaultKey)

	fmt.Fprintf(out, "bulkinvite demo\n")
	fmt.Fprintf(out, "  Redis:   in-memory (miniredis) at %s\n", mr.Addr())
	fmt.Fprintf(out, "  API:     sandbox at %s, failing 50%% of requests with 500/503 on purpose\n", api.URL)
	fmt.Fprintf(out, "  key:     %s\n", key)
	fmt.Fprintf(out, "  input:   configs/sample-candidates.csv\n\n")

	st := store.New(rdb, store.Config{})
	q := asynq.NewClientFromRedisClient(rdb)
	defer q.Close()
	prod := producer.New(st, q, producer.Config{SegmentSize: 1000})
	client, err := flowmingo.New(flowmingo.Config{BaseURL: api.URL, Key: key, Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer client.Close()
	lim, err := ratelimit.New(rdb, key.ID(), ratelimit.Config{Rate: 20, Burst: 5}, log.Named("ratelimit"))
	if err != nil {
		return err
	}
	wrk, err := worker.New(worker.Deps{Store: st, Queue: q, Sender: client, Limiter: lim, Key: key, Log: log},
		worker.Config{ChunkSize: 3, MaxAttempts: 2, RetryMin: 300 * time.Millisecond, RetryMax: time.Second})
	if err != nil {
		return err
	}
	wctx, stopWorker := context.WithCancel(ctx)
	werr := make(chan error, 1)
	go func() {
		werr <- wrk.Serve(wctx, rdb, worker.ServeConfig{Concurrency: 4, ShutdownTimeout: 5 * time.Second})
	}()
	defer func() { stopWorker(); <-werr }()

	src, err := producer.NewCSVSource(bytes.NewReader(configs.SampleCandidatesCSV))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "1. import (rejected rows are reported with their line and reason):\n")
	res, err := prod.Import(ctx, src, producer.Options{
		Job:      payload.Job{Target: payload.Target{InterviewSetID: sandbox.DemoInterviewSetID}},
		Source:   "configs/sample-candidates.csv",
		OnReject: func(r *producer.RowError) { fmt.Fprintf(out, "   rejected: %v\n", r) },
	})
	if err != nil {
		return err
	}
	if len(src.Ignored()) > 0 {
		fmt.Fprintf(out, "   ignored columns: %v\n", src.Ignored())
	}
	printImport(indent(out), res)

	fmt.Fprintf(out, "\n2. the worker sends chunks of 3, retrying what the sandbox fails (2 attempts each):\n")
	b, err := e.watch(ctx, st, res.BatchID)
	if err != nil {
		return err
	}
	printStatus(indent(out), b.Status())
	fmt.Fprintf(out, "\n   dead letters, with the vendor's reason kept verbatim:\n")
	if err := printDeadLetters(ctx, indent(indent(out)), st, res.BatchID); err != nil {
		return err
	}

	fmt.Fprintf(out, "\n3. the sandbox stops failing; replay the dead letters as a new batch linked to the old:\n")
	api.SetFaults(sandbox.Faults{})
	rep, err := deadletter.NewReplayer(st, prod, deadletter.Config{}).Replay(ctx, deadletter.Options{Filter: store.Filter{BatchID: res.BatchID}})
	if err != nil {
		return err
	}
	for _, id := range rep.Batches {
		rb, err := e.watch(ctx, st, id)
		if err != nil {
			return err
		}
		printStatus(indent(out), rb.Status())
		fmt.Fprintf(out, "\n   still dead after the replay (their errors are the candidates' own, so they fail again, with their attempt history):\n")
		if err := printDeadLetters(ctx, indent(indent(out)), st, id); err != nil {
			return err
		}
	}

	stats := api.Stats()
	fmt.Fprintf(out, "\n4. what the sandbox API saw: %d requests (%s), %d invites created, %d duplicate invites\n",
		stats.Requests, statusCounts(stats.ByStatus), stats.Invites, stats.DuplicateInvites)

	fmt.Fprintf(out, `
Next, against a real Redis and the real API:
  export REDIS_URL=redis://127.0.0.1:6379/0
  export FLOWMINGO_API_KEY=fl_live_<prefix>.<secret>       # or FLOWMINGO_API_KEY_FILE
  bulkinvite worker &                                       # as many as you like, on any machine
  bulkinvite enqueue candidates.csv --interview-set <UUID> --wait
  bulkinvite deadletter list --json
Or try it all locally first against the sandbox:
  bulkinvite sandbox --fail-rate 0.1 &
  FLOWMINGO_API_URL=http://127.0.0.1:8090 FLOWMINGO_API_KEY=%s bulkinvite worker
`, sandbox.DefaultKey)
	return nil
}

func printDeadLetters(ctx context.Context, w io.Writer, st *store.Store, batchID string) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	n := 0
	err := st.DeadLetters(ctx, store.Filter{BatchID: batchID}, func(d *store.DeadLetter) error {
		n++
		fmt.Fprintf(tw, "%s\t%s\tattempts %d\t%s\n", who(d.Candidate), d.Reason, d.Attempts, firstError(d))
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(tw, "(none)")
	}
	return tw.Flush()
}

func statusCounts(m map[int]int) string {
	var b bytes.Buffer
	for _, code := range []int{200, 400, 401, 403, 404, 422, 429, 500, 502, 503, 504} {
		if m[code] > 0 {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%d× %d", m[code], code)
		}
	}
	return b.String()
}

// indentWriter indents every line written through it by three spaces.
type indentWriter struct {
	w       io.Writer
	midLine *bool
}

func indent(w io.Writer) io.Writer { return indentWriter{w: w, midLine: new(bool)} }

func (iw indentWriter) Write(p []byte) (int, error) {
	var buf bytes.Buffer
	for _, c := range p {
		if !*iw.midLine {
			buf.WriteString("   ")
		}
		buf.WriteByte(c)
		*iw.midLine = c != '\n'
	}
	if _, err := iw.w.Write(buf.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}
