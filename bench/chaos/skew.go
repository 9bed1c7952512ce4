package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/worker"
)

// -scenario skew: a worker whose clock runs -skew ahead of the others. Its
// asynq recoverer takes live tasks from their holders, which go on extending
// their leases and sending, and its forwarder hands them back to the queue at
// once: two workers run one chunk at the same time.
//
// A Go process reads the clock through the vDSO, where faketime does not
// reach, so the skewed worker's clock cannot be moved for real: the scenario
// plays that worker's recoverer and forwarder from here, doing to asynq's keys
// exactly what asynq v0.26.0 does on such a host (skewedHost, skewhost.go):
// a recoverer pass when it starts and then every minute, a forwarder pass
// every second (the worker's DelayedTaskCheckInterval), with the retry delay
// and failure rule of the worker itself. The other workers are real processes
// with true clocks.
//
// The import (-candidates, one chunk task per 50) is enqueued whole; with the
// defaults every chunk is running at once (2 workers x concurrency 24 >= 40
// chunks), most waiting for the shared rate (-rate 0.5), so a chunk holds its
// task for up to a minute and a half. -gap after the import the skewed worker
// starts, at the first moment its recoverer's pass finds a live task: at 55 s
// of skew that pass takes the tasks of a worker whose heartbeat extended their
// leases 4 to 5 s before (it does so every 5 s), which comes within seconds;
// from 60 s it takes every live task at every pass. It runs until every batch
// is done.
const scenarioSkew = "skew"

// skewFlag is -skew, read by this scenario only.
var skewFlag = flag.Duration("skew", 55*time.Second, "-scenario skew: how far the skewed worker's clock runs ahead of the others (0 to 10m)")

// skewStartTimeout bounds the wait for a moment the skewed worker's first pass
// takes a live task; it starts all the same after it.
const skewStartTimeout = time.Minute

// Keys of result.Faults for this scenario's rows.
const (
	stepSkewStart  = "skew-start"
	stepSkewPasses = "skew-passes"
	stepSkewFwd    = "skew-forward"
)

var skewScenario = &scenario{
	about: func(o options) string {
		return fmt.Sprintf("%d candidates imported while a worker whose clock runs %v ahead plays asynq's recoverer and forwarder", o.candidates, *skewFlag)
	},
	defaults: map[string]string{
		"candidates": "2000", "rate": "0.5", "concurrency": "24", "fail-rate": "0", "lost-reply-rate": "0", "process-abandoned": "false",
	},
	steps: func(r *modeRun) []func(context.Context) error {
		s := &skewRun{modeRun: r}
		return []func(context.Context) error{r.startImport, s.withSkewedHost}
	},
	rows: []struct{ key, title string }{
		{stepSkewStart, "skewed worker started"},
		{stepSkewPasses, "its recoverer: passes, tasks taken (from live holders)"},
		{stepSkewFwd, "its forwarder: tasks moved back early"},
	},
}

// skewRun is one mode's run of the scenario.
type skewRun struct {
	*modeRun
	mu        sync.Mutex
	passes    []skewPass
	forwarded int
	hostErr   error
}

// skewPass is one recoverer pass of the skewed worker.
type skewPass struct {
	At    time.Time
	Taken []requeued
}

// live counts the tasks of a pass taken from a holder whose lease was running.
func (p skewPass) live() int {
	n := 0
	for _, t := range p.Taken {
		if t.LeaseLeft > 0 {
			n++
		}
	}
	return n
}

// withSkewedHost starts the skewed worker -gap after the import, at a moment
// its first pass takes a live task, and waits for every batch with it running.
func (s *skewRun) withSkewedHost(ctx context.Context) error {
	if *skewFlag < 0 || *skewFlag > 10*time.Minute {
		return fmt.Errorf("-skew must be in [0, 10m], got %v", *skewFlag)
	}
	// The worker's own retry delay, from the settings the workers run with.
	env := s.workerEnv(s.slots[0])
	rmin, err1 := time.ParseDuration(env["BULKINVITE_RETRY_MIN"])
	rmax, err2 := time.ParseDuration(env["BULKINVITE_RETRY_MAX"])
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	h := &skewedHost{rdb: s.rdb, skew: *skewFlag, queues: slices.Sorted(maps.Keys(task.ShardWeights(task.Sharded(s.rdb), worker.DefaultQueues()))),
		retryDelay: worker.Config{RetryMin: rmin, RetryMax: rmax}.RetryDelay, isFailure: worker.IsFailure}
	if err := s.wait(ctx, s.o.gap); err != nil {
		return err
	}
	waited, deadline := time.Now(), time.Now().Add(skewStartTimeout)
	for time.Now().Before(deadline) {
		if take, err := h.wouldTake(ctx); err == nil && take {
			break
		}
		if err := s.wait(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	s.lastFault = time.Now()
	s.fault(stepSkewStart, fmt.Sprintf("clock +%v", *skewFlag))
	s.event(stepSkewStart, "skewed worker (clock +%v) starts after waiting %v for a moment its recoverer takes a live task; %s",
		*skewFlag, time.Since(waited).Round(100*time.Millisecond), s.importDone(ctx))

	hctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.runHost(hctx, h) })
	err := s.drain(ctx)
	cancel()
	wg.Wait()
	s.report()
	return err
}

// runHost runs the skewed worker's recoverer (now, then every minute) and
// forwarder (every second) until ctx ends. Its lines go straight to stderr:
// modeRun.event belongs to the other goroutine.
func (s *skewRun) runHost(ctx context.Context, h *skewedHost) {
	recoverT := time.NewTimer(0)
	defer recoverT.Stop()
	forwardT := time.NewTicker(worker.DefaultDelayedTaskCheckInterval)
	defer forwardT.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-recoverT.C:
			taken, err := h.recoverPass(ctx)
			p := skewPass{At: time.Now(), Taken: taken}
			s.mu.Lock()
			s.passes = append(s.passes, p)
			if err != nil && s.hostErr == nil && ctx.Err() == nil {
				s.hostErr = err
			}
			s.mu.Unlock()
			fmt.Fprintf(os.Stderr, "  %-7s skewed recoverer pass: %d tasks taken, %d of them from a live holder\n", event{At: s.since()}.when(), len(taken), p.live())
			recoverT.Reset(asynqRecoverInterval)
		case <-forwardT.C:
			n, err := h.forwardPass(ctx)
			s.mu.Lock()
			s.forwarded += n
			if err != nil && s.hostErr == nil && ctx.Err() == nil {
				s.hostErr = err
			}
			s.mu.Unlock()
		}
	}
}

// report puts the skewed worker's doings in the result: its rows, a window
// after each pass that took a live task, and a note of any error.
func (s *skewRun) report() {
	taken, live, archived := 0, 0, 0
	for _, p := range s.passes {
		taken += len(p.Taken)
		live += p.live()
		for _, t := range p.Taken {
			if t.Archived {
				archived++
			}
		}
		if p.live() > 0 {
			s.window(stepSkewPasses, p.At, p.At.Add(time.Minute))
		}
	}
	s.res.Faults[stepSkewPasses] = fmt.Sprintf("%d passes, %d taken (%d live)", len(s.passes), taken, live)
	s.res.Faults[stepSkewFwd] = fmt.Sprint(s.forwarded)
	if archived > 0 {
		s.res.Notes = append(s.res.Notes, fmt.Sprintf("the skewed recoverer found %d tasks with their retries spent: asynq would archive them; left as they were", archived))
	}
	if s.hostErr != nil {
		s.res.Notes = append(s.res.Notes, "the skewed worker: "+s.hostErr.Error())
	}
}
