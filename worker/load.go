package worker

import (
	"context"
	"sync"

	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
)

// look is a chunk's first look at its batch: the hold and its candidates'
// states, and for a version 2 chunk its candidates and job too (LoadChunk, in
// the same round trip; the job from the worker's cache when it has it).
func (r *chunkRun) look(ctx context.Context) (store.Hold, []store.CandidateState, error) {
	w, t := r.w, r.task
	if t.Ref == nil {
		return w.store.HoldAndStates(ctx, t.BatchID, t.Candidates)
	}
	job, cached := w.jobs.get(t.BatchID)
	ld, err := w.store.LoadChunk(ctx, t, !cached)
	if err != nil {
		return store.HoldNone, nil, err
	}
	if !cached {
		job = *ld.Job
		w.jobs.put(t.BatchID, job)
	}
	job.Schedule = t.Job.Schedule
	t.Job = job
	r.blob = ld.Blob
	return ld.Hold, ld.States, nil
}

// maxCachedJobs bounds the jobs a worker keeps: past it, the cache starts over.
const maxCachedJobs = 256

// jobCache keeps batches' jobs (target, message, send_invite, reinvite), which
// version 2 chunk tasks do not carry: a batch's job never changes.
type jobCache struct {
	mu   sync.Mutex
	jobs map[string]task.Job
}

func (c *jobCache) get(batchID string) (task.Job, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j, ok := c.jobs[batchID]
	return j, ok
}

func (c *jobCache) put(batchID string, j task.Job) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.jobs == nil || len(c.jobs) >= maxCachedJobs {
		c.jobs = make(map[string]task.Job, maxCachedJobs)
	}
	c.jobs[batchID] = j
}
