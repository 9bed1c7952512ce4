package producer

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
)

// An enqueue Redis acknowledged can still be lost: a failover to a replica that
// had not received it, a restart from an AOF fsynced every second. A batch sealed
// over a lost chunk task would wait forever for candidates nothing sends. So an
// import keeps the chunk tasks it enqueued until they hold verifyEvery
// candidates, then checks that each is in Redis (after store.SyncQueue, which
// with BULKINVITE_REDIS_WAIT_REPLICAS waits until the replicas have what is
// there) and enqueues again those that are not and never ran; the last check
// comes before the seal.

// verifyEvery is how many candidates' chunk tasks an import holds before it
// checks them: the memory held for the check (about 0.5 KB a candidate: 4 MiB
// more peak RSS, go run -C bench ./perf -only import) against a pipelined round trip, and a
// pause of the enqueues, per check.
const verifyEvery = 8_000

// verifyRounds bounds the checks of one window: a task that keeps vanishing after
// it was enqueued again fails the import (unsealed: a re-run completes it).
const verifyRounds = 3

// queuedChunk is a chunk task an import enqueued, held until it is verified.
type queuedChunk struct {
	c     task.Chunk
	queue string
}

func (q *queuedChunk) id() string { return task.ChunkID(q.c.BatchID, q.c.Segment, q.c.Chunk) }

// asynqTaskKey is the hash asynq keeps a task in while it is queued, running,
// waiting for a retry or archived (asynq's base.TaskKey); a task that completed
// has none.
func asynqTaskKey(queue, id string) string { return "asynq:{" + queue + "}:t:" + id }

// verify waits for the enqueues under way, checks the held chunk tasks as the
// comment above says, and lets go of them.
func (w *segmentWriter) verify() error {
	if err := w.enq.wait(); err != nil {
		return err
	}
	if len(w.held) == 0 {
		return nil
	}
	for round := 1; ; round++ {
		if err := w.syncQueues(); err != nil {
			return err
		}
		lost, err := w.p.lost(w.ctx, w.batch.ID, w.held)
		if err != nil {
			return err
		}
		if len(lost) == 0 {
			break
		}
		if round == verifyRounds {
			return fmt.Errorf("batch %s: %d chunk tasks vanished from redis after %d enqueues (first: %s)",
				w.batch.ID, len(lost), round, lost[0].id())
		}
		for _, q := range lost {
			w.enq.enqueue(q.c, q.queue)
		}
		if err := w.enq.wait(); err != nil {
			return err
		}
		w.held = lost
	}
	clear(w.held) // let go of the candidates
	w.held, w.heldCands = w.held[:0], 0
	return nil
}

// syncQueues waits until what the held tasks' queues hold has reached the
// replicas (with WAIT configured; else it returns at once).
func (w *segmentWriter) syncQueues() error {
	queues := map[string]bool{}
	for _, q := range w.held {
		queues[q.queue] = true
	}
	for _, q := range slices.Sorted(maps.Keys(queues)) {
		if err := w.mw.do(w.ctx, func() error { return w.p.store.SyncQueue(w.ctx, q) }); err != nil {
			return err
		}
	}
	return nil
}

// lost returns the chunk tasks among held that are not in Redis and never ran:
// no task key, every candidate still open, and no part that a worker split
// (<id>/0, <id>/1) or re-cut (<id>/c0) it into. A task that ran and completed
// has no key either, but decided its candidates or left parts behind.
func (p *Producer) lost(ctx context.Context, batchID string, held []queuedChunk) ([]queuedChunk, error) {
	gone, err := p.absent(ctx, held, func(q *queuedChunk) []string { return []string{asynqTaskKey(q.queue, q.id())} })
	if err != nil || len(gone) == 0 {
		return nil, err
	}
	var cands []task.Candidate
	for _, q := range gone {
		cands = append(cands, q.c.Candidates...)
	}
	states, err := p.store.States(ctx, batchID, cands)
	if err != nil {
		return nil, err
	}
	var open []queuedChunk
	for _, q := range gone {
		n := len(q.c.Candidates)
		if !slices.ContainsFunc(states[:n], func(s store.CandidateState) bool { return s != store.Open }) {
			open = append(open, q)
		}
		states = states[n:]
	}
	if len(open) == 0 {
		return nil, nil
	}
	return p.absent(ctx, open, func(q *queuedChunk) []string {
		id := q.id()
		return []string{asynqTaskKey(q.queue, id+"/0"), asynqTaskKey(q.queue, id+"/1"), asynqTaskKey(q.queue, id+"/c0")}
	})
}

// absent returns the chunks none of whose keys exist, asking in one pipeline.
func (p *Producer) absent(ctx context.Context, chunks []queuedChunk, keys func(*queuedChunk) []string) ([]queuedChunk, error) {
	cmds := make([][]*redis.IntCmd, len(chunks))
	_, err := p.store.Redis().Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i := range chunks {
			for _, k := range keys(&chunks[i]) {
				cmds[i] = append(cmds[i], pipe.Exists(ctx, k))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check the enqueued chunk tasks: %w", err)
	}
	var out []queuedChunk
	for i, cs := range cmds {
		if !slices.ContainsFunc(cs, func(c *redis.IntCmd) bool { return c.Val() > 0 }) {
			out = append(out, chunks[i])
		}
	}
	return out, nil
}
