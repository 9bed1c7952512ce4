package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// ChunkBlob is the candidates of a chunk, or of Chunks chunks from Chunk, as
// the producer stores them with the batch (task.EncodeCandidates), for
// version 2 and 3 chunk tasks: field <segment>:<chunk> (a chunk's own, written
// by older producers) or <segment>:<chunk>x<chunks> (shared, task.BlobChunks)
// of P{b:id}:c, in the batch's slot, so that a Cluster spreads the queued
// candidates with their batches. The two never share a name, so that an
// import run again by another build finds its own blobs. A blob lives while
// one of its candidates is undecided: AdmitChunks writes it with the segment,
// RecordChunk deletes it with the last outcome, and otherwise it expires with
// the batch's keys.
type ChunkBlob struct {
	Segment, Chunk int
	// Chunks is how many chunks share the blob, from Chunk; 0 for a chunk's
	// own blob.
	Chunks int
	// Lo and Hi are the blob's lowest and highest seq: its candidates are
	// every seq between (a chunk is cut from the segment by position).
	Lo, Hi int64
	// Blob is the encoded candidates; empty where only the place is needed.
	Blob []byte
}

func (b ChunkBlob) field() string {
	f := strconv.Itoa(b.Segment) + ":" + strconv.Itoa(b.Chunk)
	if b.Chunks > 0 {
		f += "x" + strconv.Itoa(b.Chunks)
	}
	return f
}

// blobOf is the place of the blob c's candidates are in.
func blobOf(c *task.Chunk) ChunkBlob {
	return ChunkBlob{Segment: c.Segment, Chunk: c.FirstChunk(), Chunks: c.Ref.Shared}
}

// ChunkLoad is what LoadChunk read for a version 2 chunk task.
type ChunkLoad struct {
	Hold Hold
	// States are those of the task's candidates (task.Chunk.Candidates).
	States []CandidateState
	// Blob is where the candidates came from, for RecordChunk.
	Blob *ChunkBlob
	// Job is the batch's job, when it was asked for.
	Job *task.Job
}

// ErrChunkLost is returned by LoadChunk for a chunk whose blob is gone while
// some of its candidates are undecided: nothing can send them.
var ErrChunkLost = errors.New("the chunk's candidates are gone from redis")

// ErrJobLost is returned by LoadChunk for a batch whose shared job is gone
// (kept undone longer than the job's expiry): nothing says where to send.
var ErrJobLost = errors.New("the batch's job is gone from redis")

// LoadChunk reads what a version 2 chunk task c needs, in one round trip to
// the batch's slot: the batch's hold, the chunk's blob, the candidates' states
// and, withJob, the batch's job. It fills c.Candidates with the candidates c
// covers; none when every one of them is decided and the blob is gone. A
// batch whose record is gone is ErrBatchExpired.
func (s *Store) LoadChunk(ctx context.Context, c *task.Chunk, withJob bool) (*ChunkLoad, error) {
	id, ref := c.BatchID, c.Ref
	place := blobOf(c)
	field := place.field()
	fields := []string{"id", fieldHold}
	if withJob {
		fields = append(fields, "job", "jobref")
	}
	var rec *redis.SliceCmd
	var blob *redis.StringCmd
	var rng stateRead
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		rec = pipe.HMGet(ctx, s.bkey(id, ""), recordFields(fields...)...)
		blob = pipe.HGet(ctx, s.bkey(id, "c"), field)
		rng = s.readStates(ctx, pipe, id, ref.Lo, ref.Hi)
		return nil
	})
	if err != nil && !isNil(err) {
		return nil, fmt.Errorf("load chunk %s of batch %s: %w", field, id, err)
	}
	got, err := recordValues(fields, rec.Val())
	if err != nil {
		return nil, fmt.Errorf("load chunk %s of batch %s: %w", field, id, err)
	}
	vals := make([]string, len(fields))
	for i, v := range got {
		vals[i], _ = v.(string)
	}
	if vals[0] == "" {
		return nil, fmt.Errorf("load chunk %s of batch %s: %w", field, id, ErrBatchExpired)
	}
	out := &ChunkLoad{Hold: Hold(vals[1])}
	if withJob {
		// Inline in a record of an older build, else shared (one more read,
		// for a worker's first chunk of the batch).
		job, err := s.recordJob(ctx, map[string]string{"job": vals[2], "jobref": vals[3]})
		if err == nil && job.Target.IsZero() {
			err = ErrJobLost
		}
		if err != nil {
			return nil, fmt.Errorf("load chunk %s of batch %s: job: %w", field, id, err)
		}
		out.Job = &job
	}
	states, err := rng.bytes()
	if err != nil {
		return nil, fmt.Errorf("load chunk %s of batch %s: %w", field, id, err)
	}
	if blob.Val() == "" {
		if int64(len(states)) < ref.Hi-ref.Lo+1 || containsUndecided(states) {
			return nil, fmt.Errorf("load chunk %s of batch %s: %w", field, id, ErrChunkLost)
		}
		c.Candidates = nil
		return out, nil
	}
	c.Candidates, place.Lo, place.Hi, err = c.Load([]byte(blob.Val()))
	if err != nil {
		return nil, fmt.Errorf("load chunk %s of batch %s: %w", field, id, err)
	}
	out.Blob = &place
	out.States = make([]CandidateState, len(c.Candidates))
	decodeStates(out.States, c.Candidates, ref.Lo, states)
	return out, nil
}

// containsUndecided tells whether state bytes hold an open or sent candidate.
func containsUndecided(states []byte) bool {
	for _, b := range states {
		if b < codeInvited {
			return true
		}
	}
	return false
}
