package cli

import (
	"github.com/spf13/cobra"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
)

func (e *env) sandboxCmd() *cobra.Command {
	var (
		addr string
		cfg  sandbox.Config
		mode string
	)
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve a local stand-in for the Flowmingo invite API, with fault injection",
		Long: `Serves the vendor's invite endpoint as docs/vendor-api.md describes it: key checks (401/403),
every validation rule (400/422), 404 for unknown targets, per-candidate errors and
CV-only candidates, plus injected faults. On start it prints its address and the
test keys it accepts. Counters: GET /__sandbox/stats; faults can be changed at
runtime with POST /__sandbox/faults.

Per-candidate error triggers (in the email's local part): +invitation_error,
+application_error, +submission_error, +error; a CV-only candidate whose cv_link
contains "fail-cv" gets candidate_entry_error_message; an email at a .invalid domain
makes the whole request 422.`,
		Example: `  bulkinvite sandbox --addr 127.0.0.1:8090
  bulkinvite sandbox --fail-rate 0.1 --lost-reply-rate 0.02 --rate 20 --burst 5 --latency 50ms
  FLOWMINGO_API_URL=http://127.0.0.1:8090 FLOWMINGO_API_KEY=fl_live_sandbox.test-secret-0001 bulkinvite worker`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Faults.LostReplyMode = sandbox.LostReplyMode(mode)
			if err := cfg.Validate(); err != nil {
				return usageErr("%v", err)
			}
			return sandbox.ListenAndServe(cmd.Context(), addr, cfg, e.io.Out)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&addr, "addr", "127.0.0.1:8090", "address to listen on (port 0 picks a free one)")
	fs.Float64Var(&cfg.Faults.FailRate, "fail-rate", 0, "share of requests answered 500/503 without processing them (0..1)")
	fs.Float64Var(&cfg.Faults.LostReplyRate, "lost-reply-rate", 0, "share of requests processed and then answered 504 or cut off (0..1)")
	fs.StringVar(&mode, "lost-reply-mode", "", `how a lost reply shows: "504", "close", or "" for either at random`)
	fs.DurationVar(&cfg.Faults.Latency, "latency", 0, "added to every answer")
	fs.DurationVar(&cfg.Faults.LatencyJitter, "latency-jitter", 0, "random extra latency, up to this")
	fs.DurationVar(&cfg.Faults.ReplyLatency, "reply-latency", 0, "added after a request was processed, before its reply: a client that gives up meanwhile never hears that the vendor acted")
	fs.BoolVar(&cfg.Faults.ProcessAbandoned, "process-abandoned", false, "process a request whose client went away during the latency (the vendor acted; nobody reads the answer)")
	fs.Float64Var(&cfg.Faults.Rate, "rate", 0, "requests/s accepted per key; over it, 429 with Retry-After (0 = no limit)")
	fs.IntVar(&cfg.Faults.Burst, "burst", 0, "token bucket size with --rate (0 = 1)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the random fault choices")
	fs.StringSliceVar(&cfg.InterviewSets, "interview-set", nil, "extra interview set UUIDs to know (repeatable)")
	return cmd
}
