package task

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Defaults of a chunk task, shared by the producer (which enqueues the chunks of
// small segments itself) and the worker (which splits the others).
const (
	// DefaultChunkSize is the most candidates in one chunk, and so in one request.
	DefaultChunkSize = 50
	// DefaultChunkTimeout bounds one handling of a chunk task (the rate limiter's
	// wait and the request).
	DefaultChunkTimeout = 10 * time.Minute
	// ChunkMaxRetry is asynq's retry limit for chunk tasks. The worker counts
	// attempts itself (BULKINVITE_MAX_ATTEMPTS), because waits for a 429 or an auth
	// stop must not use them up and asynq archives a task at its limit whatever the
	// error; this is only a backstop.
	ChunkMaxRetry = 1 << 16
)

// Split cuts a segment into chunks of at most size candidates: chunk i holds the
// segment's candidates [i*size, (i+1)*size), so that a chunk's id (ChunkID) names
// the same candidates however often the segment is split. keep, when not nil,
// leaves out candidates (those already decided); a chunk left empty is left out.
func Split(seg *Segment, size int, keep func(Candidate) bool) []Chunk {
	var out []Chunk
	for i := 0; i*size < len(seg.Candidates); i++ {
		part := seg.Candidates[i*size : min((i+1)*size, len(seg.Candidates))]
		if keep != nil {
			kept := make([]Candidate, 0, len(part))
			for _, c := range part {
				if keep(c) {
					kept = append(kept, c)
				}
			}
			part = kept
		}
		if len(part) == 0 {
			continue
		}
		out = append(out, Chunk{V: VersionInline, BatchID: seg.BatchID, Segment: seg.Segment, Chunk: i, Job: seg.Job, Candidates: part})
	}
	return out
}

// NewChunkTask returns c as an asynq task with its options: the task id id (see
// ChunkID), ChunkMaxRetry, the timeout, the queue unless it is empty, and the
// job's not-before time if it has one: asynq keeps the task in its scheduled
// set until then, so that it takes no worker (a time past enqueues it at once;
// asynq counts whole seconds, and the worker's gate holds back a chunk let go
// in the second before its time).
func NewChunkTask(c *Chunk, id, queue string, timeout time.Duration) (*asynq.Task, []asynq.Option, error) {
	body, err := encodeChunk(c)
	if err != nil {
		return nil, nil, err
	}
	opts := []asynq.Option{asynq.TaskID(id), asynq.MaxRetry(ChunkMaxRetry), asynq.Timeout(timeout)}
	if queue != "" {
		opts = append(opts, asynq.Queue(queue))
	}
	if at := c.Job.Schedule.Start(); !at.IsZero() {
		opts = append(opts, asynq.ProcessAt(at))
	}
	return asynq.NewTask(TypeChunk, body), opts, nil
}

// Enqueuer is the part of asynq.Client that enqueues tasks.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

var _ Enqueuer = (*asynq.Client)(nil)

// EnqueueChunk enqueues c as the chunk task id on queue (NewChunkTask). A task of
// that id that asynq still holds is no error: the chunk is queued already (an
// import or a split run again). When ctx carries a span context, the task
// carries it as its traceparent (Chunk.Trace), the parent of the worker's spans.
func EnqueueChunk(ctx context.Context, q Enqueuer, c *Chunk, id, queue string, timeout time.Duration) error {
	if tp := traceparent(ctx); tp != "" && tp != c.Trace {
		traced := *c
		traced.Trace = tp
		c = &traced
	}
	t, opts, err := NewChunkTask(c, id, queue, timeout)
	if err != nil {
		return err
	}
	if _, err := q.EnqueueContext(ctx, t, opts...); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue chunk %s: %w", id, err)
	}
	return nil
}
