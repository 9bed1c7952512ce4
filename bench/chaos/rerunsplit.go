package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/sleep"
	"github.com/bulkinvite/bulkinvite/internal/task"
)

// -scenario rerun-split: the README's recovery step after an import died, taken
// while chunks the vendor refused are being split.
//
// One row in 100 of the import has an email at a domain the sandbox refuses
// (sandbox.InvalidDomainSuffix): the vendor answers the whole request 422,
// naming that candidate, so the worker dead-letters it as validation and sends
// the rest of the chunk as a child task (worker/isolate.go); the parent task
// completes, asynq deletes it and its id is free again. The import is fed to
// `bulkinvite enqueue - --format csv` through a pipe that stalls after its
// first -kill-after rows (the first segment, BULKINVITE_SEGMENT_SIZE 1,000),
// and that process is killed (kill -9) once the segment's chunk tasks are
// queued: the batch is not sealed. As soon as split children are queued or
// running whose parents are gone (half of those the first segment will have,
// or every parent of the segment answered), `bulkinvite enqueue FILE` runs
// again with the same --batch-id and the whole file, as the README says to:
// it enqueues the first segment's chunks again, and those of the split
// parents get their freed ids. Each such parent and its child are then two
// live runs of the same candidates.
const (
	scenarioRerunSplit = "rerun-split"
	// refusedEvery: one row in refusedEvery is refused; the first is row
	// refusedEvery/2, so every other chunk of 50 holds one.
	refusedEvery = 100
	// segmentSize is the enqueue's BULKINVITE_SEGMENT_SIZE (its default).
	segmentSize = 1000
	// childrenTimeout bounds the wait for split children after the kill.
	childrenTimeout = 2 * time.Minute
	pollTasks       = 20 * time.Millisecond
)

// Keys of result.Faults for this scenario's rows.
const (
	stepKillEnqueue = "kill-enqueue"
	stepRerun       = "rerun"
)

var rerunSplitScenario = &scenario{
	about: func(o options) string {
		return fmt.Sprintf("an import of %d rows (one in %d refused with a whole-request 422, its chunk split) killed after its first %d rows, "+
			"then run again with the same --batch-id while split children are queued or running", o.candidates, refusedEvery, segmentSize)
	},
	defaults: map[string]string{
		"candidates": "1200", "rate": "2", "fail-rate": "0", "lost-reply-rate": "0", "process-abandoned": "false",
	},
	steps: func(r *modeRun) []func(context.Context) error {
		s := &splitRun{modeRun: r}
		return []func(context.Context) error{s.killedImport, s.rerunWhileSplit, r.drain}
	},
	rows: []struct{ key, title string }{
		{stepKillEnqueue, "first enqueue, killed"},
		{stepRerun, "enqueue again, same --batch-id"},
	},
}

// splitRun is one mode's run of the scenario.
type splitRun struct {
	*modeRun
	file string // the import's CSV file
}

// splitEmail is row i's email: refused by the sandbox for one row in refusedEvery.
func splitEmail(i int) string {
	if i%refusedEvery == refusedEvery/2 {
		return fmt.Sprintf("split-%d@chaos.example%s", i, sandbox.InvalidDomainSuffix)
	}
	return fmt.Sprintf("split-%d@chaos.example.com", i)
}

// killedImport feeds the import's first rows to `bulkinvite enqueue -` and
// kills it once its first segment's chunks are queued.
func (r *splitRun) killedImport(ctx context.Context) error {
	if r.o.candidates <= segmentSize {
		return fmt.Errorf("-scenario %s needs -candidates above %d (one segment), got %d", scenarioRerunSplit, segmentSize, r.o.candidates)
	}
	r.file = filepath.Join(r.dir, "import.csv")
	if err := writeSplitCSV(r.file, r.o.candidates); err != nil {
		return err
	}
	for i := range r.o.candidates {
		r.candidates = append(r.candidates, candidate{Email: splitEmail(i), Target: goodTarget})
	}
	r.importID = "chaos-" + r.mode + "-rerun-split"
	feed, feedW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer feedW.Close()
	cmd := exec.Command(r.bin, "enqueue", "-", "--format", "csv", "--interview-set", goodSet, "--batch-id", r.importID, "--json")
	cmd.Env = benchproc.ChildEnv(r.cliEnv)
	cmd.Stdin = feed
	r.t0 = time.Now()
	p, err := r.g.Start("first enqueue", cmd, filepath.Join(r.dir, "enqueue-first.log"))
	feed.Close() // the child has its own
	if err != nil {
		return err
	}
	go writeRows(feedW, r.file, segmentSize)
	if err := r.waitChunksQueued(ctx, p); err != nil {
		return err
	}
	p.Kill()
	r.lastFault = time.Now()
	r.fault(stepKillEnqueue, fmt.Sprintf("kill -9 after %d rows, its %d chunks queued", segmentSize, r.firstChunks()))
	r.event(stepKillEnqueue, "kill -9 `bulkinvite enqueue - --batch-id %s` (pid %d) after its first %d rows: its first segment's %d chunk tasks are queued, the batch not sealed; %s",
		r.importID, p.Pid(), segmentSize, r.firstChunks(), r.importDone(ctx))
	return nil
}

// firstChunks is how many chunk tasks the first segment has.
func (r *splitRun) firstChunks() int { return (segmentSize + chunkSize - 1) / chunkSize }

// chunkID is the task id of chunk m of the first segment.
func (r *splitRun) chunkID(m int) string { return task.ChunkID(r.importID, 0, m) }

// chunkQueue is the queue (the default queue, on a Redis Cluster its shard)
// chunk m of the first segment, and the parts a worker splits it into, are on.
func (r *splitRun) chunkQueue(m int) string {
	return task.ChunkQueue(task.Sharded(r.rdb), task.QueueDefault, r.importID, 0, m, r.firstChunks())
}

// waitChunksQueued waits until every chunk task of the first segment has been
// seen in Redis (queued, running or, split or done, gone again: a chunk takes
// longer than a poll to go through the sandbox).
func (r *splitRun) waitChunksQueued(ctx context.Context, p *benchproc.Proc) error {
	seen := map[int]bool{}
	deadline := time.Now().Add(cliTimeout)
	for len(seen) < r.firstChunks() {
		for m := range r.firstChunks() {
			if !seen[m] {
				if _, err := r.insp.GetTaskInfo(r.chunkQueue(m), r.chunkID(m)); err == nil {
					seen[m] = true
				}
			}
		}
		switch {
		case p.Exited():
			return fmt.Errorf("the first enqueue exited before its chunks were queued: %v (see enqueue-first.log)", p.ExitErr())
		case time.Now().After(deadline):
			return fmt.Errorf("%d of %d chunk tasks of the first segment seen after %v", len(seen), r.firstChunks(), cliTimeout)
		}
		if err := sleep.For(ctx, pollTasks); err != nil {
			return err
		}
	}
	return nil
}

// rerunWhileSplit waits for split children whose parents are gone, then runs
// `bulkinvite enqueue FILE` again with the same --batch-id.
func (r *splitRun) rerunWhileSplit(ctx context.Context) error {
	var splits []int // the first segment's chunks holding a refused row
	for m := range r.firstChunks() {
		for i := m * chunkSize; i < (m+1)*chunkSize; i++ {
			if i%refusedEvery == refusedEvery/2 {
				splits = append(splits, m)
				break
			}
		}
	}
	deadline := time.Now().Add(childrenTimeout)
	var live, queued, running, answered int
	var gone map[int]bool
	for {
		live, queued, running, answered, gone = r.splitState(splits)
		if live > 0 && (2*live >= len(splits) || answered == r.firstChunks()) {
			break
		}
		if time.Now().After(deadline) {
			r.fault(stepRerun, "SKIPPED: no split child was queued or running")
			r.event(stepRerun, "no split child queued or running within %v: enqueue not run again", childrenTimeout)
			return nil
		}
		if err := r.wait(ctx, pollTasks); err != nil {
			return err
		}
	}
	start := time.Now()
	r.event(stepRerun, "%d split children queued and %d running, their parents done (%d of the segment's %d chunks answered): `bulkinvite enqueue %s --batch-id %s` again; %s",
		queued, running, answered, r.firstChunks(), filepath.Base(r.file), r.importID, r.importDone(ctx))
	if err := r.enqueue(ctx, r.file, goodSet, r.importID, r.o.candidates); err != nil {
		return err
	}
	again := 0
	for m := range gone {
		if _, err := r.insp.GetTaskInfo(r.chunkQueue(m), r.chunkID(m)); err == nil {
			again++
		}
	}
	r.lastFault = time.Now()
	r.window(stepRerun, start, r.lastFault.Add(time.Minute))
	r.fault(stepRerun, fmt.Sprintf("%d children queued + %d running, %d parents again", queued, running, again))
	r.event("", "enqueue done in %v: %d chunk tasks of the first segment that were gone are queued again under their ids; %s",
		time.Since(start).Round(10*time.Millisecond), again, r.importDone(ctx))
	return nil
}

// splitState counts the children of the chunks splits that are queued or
// running while their parent is gone, and the chunk tasks of the first segment
// that are gone (answered).
func (r *splitRun) splitState(splits []int) (live, queued, running, answered int, gone map[int]bool) {
	gone = map[int]bool{}
	for m := range r.firstChunks() {
		if _, err := r.insp.GetTaskInfo(r.chunkQueue(m), r.chunkID(m)); errors.Is(err, asynq.ErrTaskNotFound) {
			gone[m] = true
		}
	}
	answered = len(gone)
	for _, m := range splits {
		if !gone[m] {
			continue
		}
		info, err := r.insp.GetTaskInfo(r.chunkQueue(m), r.chunkID(m)+"/0")
		if err != nil {
			continue
		}
		switch info.State {
		case asynq.TaskStateActive:
			live++
			running++
		case asynq.TaskStatePending, asynq.TaskStateScheduled, asynq.TaskStateRetry:
			live++
			queued++
		}
	}
	return live, queued, running, answered, gone
}

// writeSplitCSV writes the import: n rows, one in refusedEvery refused.
func writeSplitCSV(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "ats_candidate_id,email,firstname,lastname")
	for i := range n {
		fmt.Fprintf(w, "00000003-0000-4000-8000-%012d,%s,Chaos,split %d\n", i, splitEmail(i), i)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeRows copies the header and the first rows of the CSV file at path to w,
// then leaves w open: a feed that stalls. An error ends the copy; the scenario
// notices when the chunks never come.
func writeRows(w *os.File, path string, rows int) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	bw := bufio.NewWriter(w)
	for line := 0; line <= rows && sc.Scan(); line++ {
		bw.Write(sc.Bytes())
		bw.WriteString("\n")
	}
	_ = bw.Flush()
}
