package store

import (
	"context"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TestSharedBlobLivesUntilItsLastChunk: a blob three chunk tasks share
// (version 3, as the producer cuts a segment of 120 into chunks of 50) gives
// each task its own candidates, and is deleted with the last outcome of the
// last of them, not before; a chunk's own blob of an older producer, kept
// beside it under its own name, is left alone.
func TestSharedBlobLivesUntilItsLastChunk(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	const id, n, size = "shared-blob", 120, 50
	cs := cands(n)
	if _, _, err := s.CreateBatch(ctx, Meta{ID: id, Job: task.Job{Target: target}, SegmentSize: n}); err != nil {
		t.Fatal(err)
	}
	enc, err := task.EncodeCandidates(cs)
	if err != nil {
		t.Fatal(err)
	}
	shared := ChunkBlob{Chunk: 0, Chunks: task.BlobChunks, Lo: 0, Hi: n - 1, Blob: enc}
	own := ChunkBlob{Chunk: 0, Lo: 0, Hi: size - 1, Blob: []byte("an older producer's blob")}
	if _, err := s.AdmitChunks(ctx, id, 0, cs, "", []ChunkBlob{shared, own}, nil); err != nil {
		t.Fatal(err)
	}
	blobs := s.bkey(id, "c")
	for k := 0; k*size < n; k++ {
		from, to := k*size, min((k+1)*size, n)
		c := &task.Chunk{V: task.VersionShared, BatchID: id, Chunk: k, Ref: &task.Ref{From: from, To: to, Lo: int64(from), Hi: int64(to - 1), Shared: task.BlobChunks}}
		ld, err := s.LoadChunk(ctx, c, false)
		if err != nil || len(c.Candidates) != to-from || c.Candidates[0].Email != cs[from].Email || c.Candidates[to-from-1].Email != cs[to-1].Email {
			t.Fatalf("LoadChunk of chunk %d: %d candidates, %v; want seqs %d..%d", k, len(c.Candidates), err, from, to-1)
		}
		if ld.Blob == nil || ld.Blob.field() != shared.field() || ld.Blob.Lo != 0 || ld.Blob.Hi != n-1 {
			t.Fatalf("LoadChunk of chunk %d: blob %+v, want the shared blob of seqs 0..%d", k, ld.Blob, n-1)
		}
		recs := make([]Record, len(c.Candidates))
		for i, cand := range c.Candidates {
			recs[i] = Record{Seq: cand.Seq, Outcome: payload.OutcomeInvited, Candidate: cand.Candidate}
		}
		if _, err := s.RecordChunk(ctx, id, target, "", recs, ld.Blob); err != nil {
			t.Fatal(err)
		}
		last := to == n
		if got := s.rdb.HExists(ctx, blobs, shared.field()).Val(); got == last {
			t.Errorf("after chunk %d's outcomes: shared blob %s exists %v, want %v", k, shared.field(), got, !last)
		}
		if !s.rdb.HExists(ctx, blobs, own.field()).Val() {
			t.Errorf("after chunk %d's outcomes: the older blob %s is gone", k, own.field())
		}
	}
}
