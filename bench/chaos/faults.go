package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/deadletter"
	"github.com/bulkinvite/bulkinvite/internal/faultproxy"
	"github.com/bulkinvite/bulkinvite/internal/sleep"
)

// The faults, in the order they are injected; the keys of result.Faults.
const (
	faultKillWorker = "kill-worker"
	faultTermWorker = "term-worker"
	faultReplays    = "replays"
	faultKillRedis  = "kill-redis"
	faultCutRedis   = "cut-redis"
	faultCutAPI     = "cut-api"
)

// injectFaults injects every fault in turn, -gap apart. With -short the kill
// -9 of a worker is left out: the tasks it held wait out asynq's 30 s lease
// before another worker takes them, longer than a smoke run may take.
func (r *modeRun) injectFaults(ctx context.Context) error {
	kill := r.killWorker
	if r.o.short {
		kill = func(context.Context) error {
			r.fault(faultKillWorker, "SKIPPED: -short")
			return nil
		}
	}
	steps := []func(context.Context) error{
		kill, r.termWorker, r.replays, r.killRedis,
		func(ctx context.Context) error { return r.cutLink(ctx, faultCutRedis) },
		func(ctx context.Context) error { return r.cutLink(ctx, faultCutAPI) },
	}
	for _, step := range steps {
		if err := r.wait(ctx, r.o.gap); err != nil {
			return err
		}
		if err := step(ctx); err != nil {
			return err
		}
	}
	r.lastFault = time.Now()
	return nil
}

// fault records a fault's table cell: its time and a short detail.
func (r *modeRun) fault(kind, detail string) {
	r.res.Faults[kind] = event{At: r.since()}.when() + ", " + detail
}

// window records that the fault kind lasted from from to to, widened on
// either side by the longest a request can take: a send whose invite falls in
// it may have been caught by the fault.
func (r *modeRun) window(kind string, from, to time.Time) {
	slack := r.o.latency + r.o.jitter + time.Second
	r.res.Windows = append(r.res.Windows, window{Name: kind, From: from.Add(-slack), To: to.Add(slack)})
}

// killWorker kills a worker that has a request in flight (or, failing that
// within inFlightTimeout, the first) with SIGKILL, as a crash would, and starts
// another in its place.
func (r *modeRun) killWorker(ctx context.Context) error {
	s, inFlight, err := r.busyWorker(ctx)
	if err != nil {
		return err
	}
	if s == nil {
		s = r.slots[0]
	}
	old := s.proc
	awaiting := s.api.Stats().Awaiting
	progress := r.importDone(ctx)
	old.Kill()
	r.window(faultKillWorker, time.Now(), time.Now())
	r.fault(faultKillWorker, fmt.Sprintf("%d awaiting", awaiting))
	r.event(faultKillWorker, "kill -9 %s (pid %d) with %d requests awaiting a reply, %d in flight at the sandbox; %s",
		old.Name, old.Pid(), awaiting, inFlight, progress)
	if err := r.startWorker(s); err != nil {
		return err
	}
	r.event("", "started %s in place of %s", s.proc.Name, old.Name)
	return nil
}

// termWorker sends SIGTERM to a worker that has a request in flight at the
// sandbox, waits for it to exit, and starts another in its place.
func (r *modeRun) termWorker(ctx context.Context) error {
	s, inFlight, err := r.busyWorker(ctx)
	if err != nil {
		return err
	}
	if s == nil {
		r.fault(faultTermWorker, "SKIPPED: no request in flight")
		r.event(faultTermWorker, "SIGTERM skipped: no worker had a request in flight within %v", inFlightTimeout)
		return nil
	}
	old := s.proc
	awaiting := s.api.Stats().Awaiting
	progress := r.importDone(ctx)
	sent := time.Now()
	r.event(faultTermWorker, "SIGTERM %s (pid %d) with %d requests awaiting a reply, %d in flight at the sandbox; %s",
		old.Name, old.Pid(), awaiting, inFlight, progress)
	err = old.Stop(syscall.SIGTERM, workerShutdown+stopGrace)
	r.window(faultTermWorker, sent, time.Now())
	took := time.Since(sent).Round(100 * time.Millisecond)
	exit := "clean exit"
	if err != nil {
		exit = err.Error()
	}
	r.fault(faultTermWorker, fmt.Sprintf("%d awaiting, exit after %v", awaiting, took))
	r.event("", "%s exited %v after SIGTERM: %s", old.Name, took, exit)
	if err := r.startWorker(s); err != nil {
		return err
	}
	r.event("", "started %s in place of %s", s.proc.Name, old.Name)
	return nil
}

// busyWorker waits until the sandbox has a request in flight and some worker
// has requests awaiting a reply (its API proxy says so), and returns the
// worker with the most, with the sandbox's count; nil after inFlightTimeout.
func (r *modeRun) busyWorker(ctx context.Context) (*slot, int, error) {
	var s *slot
	inFlight, err := r.waitInFlight(ctx, func() bool {
		s = nil
		best := 0
		for _, c := range r.slots {
			if n := c.api.Stats().Awaiting; n > best && !c.proc.Exited() {
				s, best = c, n
			}
		}
		return s != nil
	})
	if err != nil || inFlight == 0 {
		return nil, 0, err
	}
	return s, inFlight, nil
}

// waitInFlight polls the sandbox until it has a request in flight and also
// cond holds, and returns the sandbox's count; 0 after inFlightTimeout.
func (r *modeRun) waitInFlight(ctx context.Context, cond func() bool) (int, error) {
	deadline := time.Now().Add(inFlightTimeout)
	for time.Now().Before(deadline) {
		var st sandbox.Stats
		if err := benchproc.GetJSON(ctx, r.hc, r.sandboxURL+sandbox.PathStats, &st); err == nil && st.InFlight > 0 && cond() {
			return st.InFlight, nil
		}
		if err := sleep.For(ctx, pollInFlight); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// replays starts two `bulkinvite deadletter replay` processes on every
// target_not_found dead letter, to the good interview set — the second as
// soon as the first has a replay batch open, or -replay-gap after it — and
// waits for both.
func (r *modeRun) replays(ctx context.Context) error {
	type replay struct {
		name string
		out  bytes.Buffer
		proc *benchproc.Proc
		at   time.Time
	}
	rs := []*replay{{name: "replay A"}, {name: "replay B"}}
	for i, rp := range rs {
		why := ""
		if i > 0 {
			var err error
			if why, err = r.waitReplayOpen(ctx); err != nil {
				return err
			}
		}
		progress := r.importDone(ctx)
		cmd := exec.Command(r.bin, "deadletter", "replay", "--reason", "target_not_found", "--interview-set", goodSet, "--json")
		cmd.Env = benchproc.ChildEnv(r.cliEnv)
		cmd.Stdout = &rp.out
		p, err := r.g.Start(rp.name, cmd, filepath.Join(r.dir, fmt.Sprintf("replay-%c.log", 'a'+i)))
		if err != nil {
			return err
		}
		rp.proc, rp.at = p, time.Now()
		running := ""
		if i > 0 {
			running = fmt.Sprintf(" %s (%s still running: %t)", why, rs[0].name, !rs[0].proc.Exited())
		}
		r.event(faultReplays, "started %s (pid %d)%s: bulkinvite deadletter replay --reason target_not_found --interview-set %s; %s",
			rp.name, p.Pid(), running, goodSet, progress)
	}
	overlap := !rs[0].proc.Exited()
	deadline := time.Now().Add(replayTimeout)
	r.movedKnown = true
	var moved []string
	for _, rp := range rs {
		for !rp.proc.Exited() {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s still running after %v", rp.name, replayTimeout)
			}
			if err := r.wait(ctx, 200*time.Millisecond); err != nil {
				return err
			}
		}
		if err := rp.proc.ExitErr(); err != nil {
			r.event("", "%s failed: %v (see replay-*.log)", rp.name, err)
			r.res.Notes = append(r.res.Notes, fmt.Sprintf("%s failed: %v", rp.name, err))
			moved = append(moved, "failed")
			r.movedKnown = false
			continue
		}
		var res deadletter.Result
		if err := json.Unmarshal(rp.out.Bytes(), &res); err != nil {
			return fmt.Errorf("%s --json: %w: %q", rp.name, err, rp.out.String())
		}
		for _, id := range append(res.Batches, res.Resumed...) {
			if !slices.Contains(r.replayIDs, id) {
				r.replayIDs = append(r.replayIDs, id)
			}
		}
		moved = append(moved, fmt.Sprint(res.Replayed))
		r.moved += res.Replayed
		r.event("", "%s done in %v: %d dead letters moved into batch(es) %v; interrupted replays finished: %v",
			rp.name, time.Since(rp.at).Round(100*time.Millisecond), res.Replayed, res.Batches, res.Resumed)
	}
	detail := "moved " + moved[0] + " + " + moved[1]
	if !overlap {
		detail += ", NOT concurrent"
	}
	r.fault(faultReplays, detail)
	return nil
}

// waitReplayOpen waits until a replay batch is open (begun, not yet fully
// enqueued: store.OpenReplays), so that the second replay starts while the
// first is at work, or -replay-gap at the latest. It says which.
func (r *modeRun) waitReplayOpen(ctx context.Context) (string, error) {
	start := time.Now()
	for time.Since(start) < r.o.replayGap {
		if open, err := r.st.OpenReplays(ctx); err == nil && len(open) > 0 {
			return fmt.Sprintf("%v after it, as soon as a replay batch was open", time.Since(start).Round(time.Millisecond)), nil
		}
		if err := sleep.For(ctx, 2*time.Millisecond); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%v after it", r.o.replayGap), nil
}

// killRedis kills redis-server with SIGKILL while a request is in flight at
// the sandbox, keeps it down -redis-down, and starts it again on the same
// port and data.
func (r *modeRun) killRedis(ctx context.Context) error {
	inFlight, err := r.waitInFlight(ctx, func() bool { return true })
	if err != nil {
		return err
	}
	progress := r.importDone(ctx)
	pid := r.redis.Pid()
	r.redisGone = true
	killed := time.Now()
	r.redis.Kill()
	r.event(faultKillRedis, "kill -9 redis-server (pid %d) with %d requests in flight at the sandbox; %s; down for %v",
		pid, inFlight, progress, r.o.redisDown)
	r.fault(faultKillRedis, fmt.Sprintf("%d in flight, down %v", inFlight, r.o.redisDown))
	if err := r.wait(ctx, r.o.redisDown); err != nil {
		return err
	}
	start := time.Now()
	if err := r.redis.Restart(ctx); err != nil {
		return err
	}
	r.redisGone = false
	r.window(faultKillRedis, killed, time.Now())
	r.event("", "redis-server restarted on %s with its AOF (pid %d, answering after %v)",
		r.redis.Addr(), r.redis.Pid(), time.Since(start).Round(100*time.Millisecond))
	return nil
}

// cutLink cuts the workers' links to Redis (faultCutRedis) or to the API
// (faultCutAPI) for -cut, then restores them.
func (r *modeRun) cutLink(ctx context.Context, kind string) error {
	what := "Redis"
	pick := func(s *slot) *faultproxy.Proxy { return s.redis }
	if kind == faultCutAPI {
		what = "API"
		pick = func(s *slot) *faultproxy.Proxy { return s.api }
	}
	progress := r.importDone(ctx)
	var dropped, held int64
	cut := time.Now()
	for _, s := range r.slots {
		before := pick(s).Stats().Dropped
		pick(s).Cut()
		dropped += pick(s).Stats().Dropped - before
	}
	r.redisGone = kind == faultCutRedis
	r.event(kind, "cut the worker<->%s link for %v: %d connections dropped, new ones black-holed; %s", what, r.o.cut, dropped, progress)
	r.fault(kind, fmt.Sprintf("%v, %d dropped", r.o.cut, dropped))
	if err := r.wait(ctx, r.o.cut); err != nil {
		return err
	}
	for _, s := range r.slots {
		held += int64(pick(s).Stats().Held)
		pick(s).Restore()
	}
	r.redisGone = false
	r.window(kind, cut, time.Now())
	r.event("", "restored the worker<->%s link (%d connections made during the cut closed); %s", what, held, r.importDone(ctx))
	return nil
}
