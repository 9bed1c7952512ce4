package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
	"github.com/bulkinvite/bulkinvite/bench/internal/benchrate"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/sleep"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

const (
	// idleFirst is how long the worker runs with empty queues before the first push.
	idleFirst = 3 * time.Second
	// arrivalPoll spaces the polls of the sandbox's counters for a push's request.
	arrivalPoll = time.Millisecond
	// arrivalTimeout bounds the wait for one push's request.
	arrivalTimeout = 30 * time.Second
	// pickupFirst numbers the pushed candidates apart from the drain's.
	pickupFirst = 10_000_000
)

// pickupFigures are one binary's pickup latencies.
type pickupFigures struct {
	// Method says from when a push is timed.
	Method    string          `json:"method"`
	Latencies []time.Duration `json:"latencies_ns"`
	P50       time.Duration   `json:"p50_ns"`
	P99       time.Duration   `json:"p99_ns"`
	Max       time.Duration   `json:"max_ns"`
}

// pusher pushes the single candidate number i as its own batch and returns
// the time the latency is measured from.
type pusher func(ctx context.Context, i int) (time.Time, error)

// pickupSection times single-candidate pushes to an idle worker, per binary.
func (b *bench) pickupSection(ctx context.Context) error {
	for _, s := range b.subjects() {
		f, err := b.pickupOne(ctx, s)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Label, err)
		}
		b.figs.Pickup[s.Label] = f
		logf("[%s] pickup p50 %v, p99 %v, max %v (%s)", s.Label, ms(f.P50), ms(f.P99), ms(f.Max), f.Method)
	}
	return nil
}

// pickupOne starts a Redis, a sandbox and one idle worker of s, then pushes
// one candidate at a time.
func (b *bench) pickupOne(ctx context.Context, s subject) (*pickupFigures, error) {
	dir, err := b.dir("pickup/" + strings.ReplaceAll(s.Label, " ", "-"))
	if err != nil {
		return nil, err
	}
	var g benchproc.Group
	defer g.StopAll(benchrate.StopGrace)
	rds, err := benchproc.StartRedis(ctx, &g, dir, benchproc.RedisOptions{})
	if err != nil {
		return nil, err
	}
	sandboxURL, _, err := benchproc.StartSandbox(ctx, &g, b.ours.Bin, dir)
	if err != nil {
		return nil, err
	}
	env := benchrate.Env(rds.URL(), sandboxURL, benchrate.Scenario{Limiter: "global", Rate: drainRate, Burst: drainRate}, drainConcurrency, drainChunk)
	workers, err := benchrate.StartWorkers(&g, s.Bin, dir, env, 1)
	if err != nil {
		return nil, err
	}
	idle := idleFirst
	if b.o.short {
		idle = idleFirst / 6
	}
	if err := benchrate.SleepUntil(ctx, time.Now().Add(idle), workers); err != nil {
		return nil, err
	}
	f := &pickupFigures{}
	var push pusher
	if s.Current {
		rdb := redis.NewClient(&redis.Options{Addr: rds.Addr()})
		defer rdb.Close()
		f.Method, push = "producer.Import in process; from the clock before the call", producerPusher(rdb)
	} else {
		f.Method, push = "its `enqueue`; from the process's exit", cliPusher(s.Bin, dir, env)
	}
	starts, err := b.pushAll(ctx, push, sandboxURL, workers)
	if err != nil {
		return nil, err
	}
	var recs []sandbox.RequestRecord
	if err := benchproc.GetJSON(ctx, b.hc, sandboxURL+sandbox.PathRequests, &recs); err != nil {
		return nil, err
	}
	if f.Latencies, err = latencies(starts, recs); err != nil {
		return nil, err
	}
	f.P50, f.P99, f.Max = percentile(f.Latencies, 50), percentile(f.Latencies, 99), percentile(f.Latencies, 100)
	return f, nil
}

// pushAll pushes -pickup-pushes candidates, each once the previous one's
// request reached the sandbox and a random gap passed, and returns when each
// push was timed from.
func (b *bench) pushAll(ctx context.Context, push pusher, sandboxURL string, workers []*benchproc.Proc) ([]time.Time, error) {
	rng := rand.New(rand.NewPCG(12, 12))
	var starts []time.Time
	for i := range b.o.pickupPushes {
		t, err := push(ctx, i)
		if err != nil {
			return nil, fmt.Errorf("push %d: %w", i+1, err)
		}
		starts = append(starts, t)
		if err := waitRequests(ctx, b.hc, sandboxURL, i+1, workers); err != nil {
			return nil, fmt.Errorf("push %d: %w", i+1, err)
		}
		gap := b.o.pickupGap/2 + time.Duration(rng.Int64N(int64(b.o.pickupGap)+1))
		if err := benchrate.SleepUntil(ctx, time.Now().Add(gap), workers); err != nil {
			return nil, err
		}
	}
	return starts, nil
}

// producerPusher pushes through the producer package over rdb, as a Go
// service would.
func producerPusher(rdb *redis.Client) pusher {
	p := producer.New(store.New(rdb, store.Config{}), asynq.NewClientFromRedisClient(rdb), producer.Config{})
	return func(ctx context.Context, i int) (time.Time, error) {
		n := pickupFirst + i
		c := payload.Candidate{
			ATSCandidateID: fmt.Sprintf("00000000-0000-4000-8000-%012d", n),
			Email:          fmt.Sprintf("bench+%d@example.com", n), Firstname: "Bench", Lastname: "Candidate " + strconv.Itoa(n),
		}
		t := time.Now()
		res, err := p.Import(ctx, producer.NewSliceSource([]payload.Candidate{c}), producer.Options{
			BatchID: fmt.Sprintf("pickup-%d", i),
			Job:     task.Job{Target: payload.Target{InterviewSetID: benchrate.InterviewSet}},
		})
		if err == nil && res.Accepted != 1 {
			err = fmt.Errorf("producer accepted %d of 1", res.Accepted)
		}
		return t, err
	}
}

// cliPusher pushes with `bin enqueue` (another revision's binary, whose
// queue format this bench's producer may not share).
func cliPusher(bin, dir string, env map[string]string) pusher {
	return func(ctx context.Context, i int) (time.Time, error) {
		err := benchrate.Enqueue(ctx, bin, dir, env, fmt.Sprintf("pickup-%d", i), pickupFirst+i, 1)
		return time.Now(), err
	}
}

// waitRequests polls the sandbox's counters every arrivalPoll until it has
// seen n requests.
func waitRequests(ctx context.Context, hc *http.Client, url string, n int, workers []*benchproc.Proc) error {
	deadline := time.Now().Add(arrivalTimeout)
	for {
		var st sandbox.Stats
		if err := benchproc.GetJSON(ctx, hc, url+sandbox.PathStats, &st); err != nil {
			return err
		}
		if st.Requests >= n {
			return nil
		}
		if err := benchrate.AllRunning(workers); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("request %d not at the sandbox after %v", n, arrivalTimeout)
		}
		if err := sleep.For(ctx, arrivalPoll); err != nil {
			return err
		}
	}
}

// latencies pairs the i-th push with the i-th request the sandbox saw (one
// push at a time, each one request) and returns arrival − start for each.
func latencies(starts []time.Time, recs []sandbox.RequestRecord) ([]time.Duration, error) {
	if len(recs) != len(starts) {
		return nil, fmt.Errorf("%d pushes but %d requests at the sandbox", len(starts), len(recs))
	}
	out := make([]time.Duration, len(starts))
	for i, rec := range recs {
		if rec.Seq != int64(i+1) || rec.Candidates != 1 {
			return nil, fmt.Errorf("request %d: seq %d with %d candidates, want seq %d with 1", i, rec.Seq, rec.Candidates, i+1)
		}
		out[i] = rec.At.Sub(starts[i])
	}
	return out, nil
}
