package main

// The slowlink scenario: one worker's Redis link slowed
// past the rate limiter's timeout while the other workers' links are healthy,
// measuring at the vendor whether all workers together still keep to the
// shared rate. Usage, from the repository root:
//
//	go run -C bench ./chaos -scenario slowlink                       # 2 workers, rate 10, burst 1, ~1 min
//	go run -C bench ./chaos -scenario slowlink -slowlink-rev REV     # the workers of an older revision
//
// It starts, in a temp dir, on free loopback ports only: a redis-server
// without persistence; `bulkinvite sandbox` without faults or a rate limit of
// its own, so that it records every request as it arrives; for each of
// -workers workers, a fault proxy to Redis and one to the sandbox
// (internal/faultproxy) and a `bulkinvite worker` through them, at
// BULKINVITE_RATE=-rate, BULKINVITE_BURST=-slowlink-burst, chunks of one
// candidate (one request, one candidate) and -concurrency. It enqueues more
// candidates than the run can send, then:
//
//  1. all links healthy for -slowlink-warmup, from the first request;
//  2. worker 1's Redis link delays every packet, either way, by
//     -slowlink-latency (700ms: a round trip of 1.4 s, past the limiter's
//     500ms) for -slowlink-for;
//  3. all links healthy again for -slowlink-after;
//
// then stops the workers and reads every request's arrival from the sandbox
// (GET /__sandbox/requests). Per phase and over the whole run it prints the
// requests, their mean rate, the busiest 1-second sliding window [t, t+1s)
// against rate + burst (what the vendor allows in any second, all workers
// together), and what each worker sent (its API proxy's count). It fails (exit
// 1) when any 1-second window held more than rate + burst.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
	"github.com/bulkinvite/bulkinvite/bench/internal/benchrate"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/faultproxy"
)

// slowLinkOptions are the slowlink scenario's own flags.
type slowLinkOptions struct {
	latency time.Duration // on worker 1's Redis link, per packet, either way
	warmup  time.Duration // all links healthy first
	slow    time.Duration // worker 1's link slow
	after   time.Duration // all links healthy again
	burst   int
	rev     string // build the workers from this git revision; "" the working tree
}

// scenarioSlowLink is the -scenario of this file's run.
const scenarioSlowLink = "slowlink"

// slowLinkFlags registers the scenario's flags on fs.
func slowLinkFlags(fs *flag.FlagSet) *slowLinkOptions {
	so := &slowLinkOptions{}
	fs.DurationVar(&so.latency, "slowlink-latency", 700*time.Millisecond, "slowlink: delay of every packet, either way, on worker 1's Redis link (the limiter gives a call up after 500ms)")
	fs.DurationVar(&so.warmup, "slowlink-warmup", 10*time.Second, "slowlink: all links healthy this long from the first request")
	fs.DurationVar(&so.slow, "slowlink-for", 30*time.Second, "slowlink: how long worker 1's Redis link stays slow")
	fs.DurationVar(&so.after, "slowlink-after", 10*time.Second, "slowlink: all links healthy again this long at the end")
	fs.IntVar(&so.burst, "slowlink-burst", 1, "slowlink: BULKINVITE_BURST of the workers")
	fs.StringVar(&so.rev, "slowlink-rev", "", "slowlink: build the workers from this git revision (say, the one before a fix) instead of the working tree")
	return so
}

func (so slowLinkOptions) validate() error {
	switch {
	case so.latency <= 0:
		return errors.New("-slowlink-latency must be positive")
	case so.warmup < time.Second || so.slow < time.Second || so.after < time.Second:
		return errors.New("-slowlink-warmup, -slowlink-for and -slowlink-after must be at least 1s")
	case so.warmup+so.slow+so.after > time.Hour:
		return errors.New("-slowlink-warmup, -slowlink-for and -slowlink-after must add up to at most 1h")
	case so.burst < 1 || so.burst > 10000:
		return fmt.Errorf("-slowlink-burst must be in [1, 10000], got %d", so.burst)
	}
	return nil
}

// Fixed settings of the scenario.
const (
	slowLinkBatch   = "chaos-slowlink"
	slowLinkWorkers = "worker %d"
	// slowLinkSlack is added to the run's length when sizing the import.
	slowLinkSlack = 20 * time.Second
)

// runSlowLink builds the workers (from so.rev, or the working tree), runs the
// scenario and prints its figures to out. It fails when a check failed.
func runSlowLink(ctx context.Context, o options, so slowLinkOptions, tmp string, out io.Writer) error {
	if err := so.validate(); err != nil {
		return err
	}
	built := "the working tree"
	var bin string
	var err error
	if so.rev == "" {
		bin, err = benchproc.Build(ctx, tmp)
	} else {
		var short string
		short, bin, err = benchproc.BuildRev(ctx, so.rev, tmp)
		built = "revision " + short
	}
	if err != nil {
		return err
	}
	res, err := slowLinkRunWith(ctx, o, so, bin, tmp)
	if err != nil {
		return err
	}
	res.Built = built
	res.print(out)
	return res.check()
}

// slowLinkRunWith runs the scenario with the binary bin, logs in dir.
func slowLinkRunWith(ctx context.Context, o options, so slowLinkOptions, bin, dir string) (*slowLinkResult, error) {
	var slots []*slot
	defer func() {
		for _, s := range slots {
			_ = s.redis.Close()
			_ = s.api.Close()
		}
	}()
	var g benchproc.Group
	defer g.StopAll(stopGrace) // whatever happens, no child outlives the scenario (before the proxies close)

	rds, err := benchproc.StartRedis(ctx, &g, dir, benchproc.RedisOptions{})
	if err != nil {
		return nil, err
	}
	sandboxURL, _, err := benchproc.StartSandbox(ctx, &g, bin, dir)
	if err != nil {
		return nil, err
	}
	s := benchrate.Scenario{Name: scenarioSlowLink, Limiter: "global", Rate: o.rate, Burst: so.burst}
	env := benchrate.Env(rds.URL(), sandboxURL, s, o.concurrency, 1)
	env["BULKINVITE_LOG_LEVEL"] = "info" // the limiter's lines on losing and regaining Redis
	run := so.warmup + so.slow + so.after
	// The old limiter sent more than the rate: room for twice as much.
	n := int(math.Ceil(2*o.rate*(run+slowLinkSlack).Seconds())) + 100
	if err := benchrate.Enqueue(ctx, bin, dir, env, slowLinkBatch, 0, n); err != nil {
		return nil, err
	}

	var procs []*benchproc.Proc
	for i := range o.workers {
		sl := &slot{}
		if sl.redis, err = faultproxy.Listen("127.0.0.1:0", rds.Addr()); err != nil {
			return nil, err
		}
		if sl.api, err = faultproxy.Listen("127.0.0.1:0", strings.TrimPrefix(sandboxURL, "http://")); err != nil {
			_ = sl.redis.Close()
			return nil, err
		}
		slots = append(slots, sl)
		wenv := make(map[string]string, len(env))
		for k, v := range env {
			wenv[k] = v
		}
		wenv["REDIS_URL"] = "redis://" + sl.redis.Addr() + "/0"
		wenv["FLOWMINGO_API_URL"] = "http://" + sl.api.Addr()
		cmd := exec.Command(bin, "worker")
		cmd.Env = benchproc.ChildEnv(wenv)
		name := fmt.Sprintf(slowLinkWorkers, i+1)
		if sl.proc, err = g.Start(name, cmd, filepath.Join(dir, fmt.Sprintf("worker%d.log", i+1))); err != nil {
			return nil, err
		}
		procs = append(procs, sl.proc)
	}
	fmt.Fprintf(os.Stderr, "  redis %s, sandbox %s, %d workers (rate %g/s, burst %d, chunks of 1, concurrency %d) through fault proxies, %d candidates enqueued\n",
		rds.Addr(), sandboxURL, o.workers, o.rate, so.burst, o.concurrency, n)

	hc := &http.Client{Timeout: time.Minute}
	defer hc.CloseIdleConnections()
	if _, err := benchrate.WaitFirstRequest(ctx, hc, sandboxURL, procs); err != nil {
		return nil, err
	}
	res := &slowLinkResult{Rate: o.rate, Burst: so.burst, Workers: o.workers, Latency: so.latency}
	steps := []struct {
		name  string
		d     time.Duration
		apply func()
	}{
		{"all links healthy", so.warmup, func() {}},
		{"worker 1's Redis link slow", so.slow, func() { slots[0].redis.SetLatency(so.latency) }},
		{"all links healthy again", so.after, func() { slots[0].redis.SetLatency(0) }},
	}
	for _, st := range steps {
		st.apply()
		ph := slowLinkPhase{Name: st.name, From: time.Now(), sent: sentBy(slots)}
		fmt.Fprintf(os.Stderr, "  %s: %s for %v\n", ph.From.Format("15:04:05"), st.name, st.d)
		if err := benchrate.SleepUntil(ctx, ph.From.Add(st.d), procs); err != nil {
			return nil, err
		}
		ph.To = time.Now()
		for i, v := range sentBy(slots) {
			ph.PerWorker = append(ph.PerWorker, v-ph.sent[i])
		}
		res.Phases = append(res.Phases, ph)
	}
	for _, e := range benchrate.StopWorkers(procs) {
		res.Notes = append(res.Notes, "worker stop: "+e.Error())
	}
	var recs []sandbox.RequestRecord
	if err := benchproc.GetJSON(ctx, hc, sandboxURL+sandbox.PathRequests, &recs); err != nil {
		return nil, err
	}
	res.analyze(recs)
	sctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	if res.Batch, err = benchproc.Status(sctx, bin, env, slowLinkBatch); err != nil {
		return nil, err
	}
	return res, nil
}

// sentBy returns the requests each slot's worker sent to the sandbox so far.
func sentBy(slots []*slot) []int64 {
	out := make([]int64, len(slots))
	for i, s := range slots {
		out[i] = s.api.Stats().Requests
	}
	return out
}
