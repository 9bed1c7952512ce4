package worker_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/klauspost/compress/zstd"

	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/worker"
)

// TestRollingUpgradeFromInlineChunks: a queue holds the version 1 chunk tasks
// an older producer wrote (job and candidates inline) and the version 2 ones
// the previous build's wrote (a reference to a blob of one chunk, blob format
// 1), next to a batch today's producer imported (version 3: references to
// blobs of several chunks, blob format 2). Today's worker, re-cutting them to
// its smaller chunk size, invites every candidate of each exactly once, the
// accounting adds up, and the v2 and v3 batches' blobs are gone once done.
func TestRollingUpgradeFromInlineChunks(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	const old, oldSegs, segSize = "written-by-v1", 3, 120
	enqueueAsV1(t, b, old, pipelinetest.Candidates("v1", oldSegs*segSize-7), segSize, task.QueueDefault)
	const v2 = "written-by-v2"
	enqueueAsV2(t, b, v2, pipelinetest.Candidates("v2", 2*segSize-11), segSize)
	res := b.Import("written-by-v3", pipelinetest.Candidates("v3", 333), nil)

	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 20}})
	want := map[string]int64{old: oldSegs*segSize - 7, v2: 2*segSize - 11, res.BatchID: 333}
	for id, n := range want {
		bt := b.WaitDone(id, wait)
		b.CheckAccounting(id)
		if bt.Invited != n || bt.DeadLettered != 0 {
			t.Errorf("batch %s: %+v, want %d invited and nothing dead-lettered", id, bt.Status(), n)
		}
	}
	st := b.API.Stats()
	if total := int(want[old] + want[v2] + want[res.BatchID]); st.Invites != total || st.Candidates != total || st.DuplicateInvites != 0 {
		t.Errorf("the sandbox: %d invites of %d candidates sent, %d duplicates; want each of %d once", st.Invites, st.Candidates, st.DuplicateInvites, total)
	}
	for _, id := range []string{v2, res.BatchID} {
		blobs := pipelinetest.Prefix + "{b:" + id + "}:c"
		if n, err := b.RDB.Exists(context.Background(), blobs).Result(); err != nil || n != 0 {
			t.Errorf("%s: exists %d (%v) after the batch is done, want it deleted", blobs, n, err)
		}
	}
}

// TestRollingUpgradeToShardedQueues: on a Redis Cluster, the chunk tasks older
// producers wrote on the bare logical queues (default, bulk, replay), which
// are their first shards, are served by today's worker; today's producer puts
// a share of a batch's chunks on the bare queue, which older workers still
// serve, and the rest on the other shards; every candidate is invited once.
func TestRollingUpgradeToShardedQueues(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{Topology: pipelinetest.Cluster})
	want := map[string]int64{}
	for _, q := range task.Queues {
		id := "old-on-" + q
		want[id] = 130
		enqueueAsV1(t, b, id, pipelinetest.Candidates(id, 130), 60, q)
	}
	res := b.Import("sharded", pipelinetest.Candidates("sharded", 400), nil)
	want[res.BatchID] = 400
	insp := asynq.NewInspectorFromRedisClient(b.RDB)
	per := chunksPerQueue(t, insp, res.BatchID)
	if per[task.QueueDefault] == 0 || len(per) != task.ShardCount {
		t.Errorf("the new batch's chunks per shard: %v; want some on the bare %s queue and some on each of the %d shards", per, task.QueueDefault, task.ShardCount)
	}

	b.StartWorker(pipelinetest.WorkerOptions{})
	if got := servedQueues(t, insp); len(got) != len(task.AllShards()) {
		t.Errorf("the worker serves %v, want every shard: %v", got, task.AllShards())
	}
	total := int64(0)
	for id, n := range want {
		bt := b.WaitDone(id, wait)
		b.CheckAccounting(id)
		if bt.Invited != n || bt.DeadLettered != 0 {
			t.Errorf("batch %s: %+v, want %d invited and nothing dead-lettered", id, bt.Status(), n)
		}
		total += n
	}
	if st := b.API.Stats(); int64(st.Invites) != total || st.DuplicateInvites != 0 {
		t.Errorf("the sandbox: %d invites, %d duplicates; want each of %d once", st.Invites, st.DuplicateInvites, total)
	}
}

// TestSingleNodeServesTheBareQueues: off a Redis Cluster nothing is sharded,
// as before the shards: the producer puts every chunk task on the bare logical
// queue, and the worker serves the three bare queues, with their weights, and
// no shard; the batch is done.
func TestSingleNodeServesTheBareQueues(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	res := b.Import("unsharded", pipelinetest.Candidates("unsharded", 400), nil)
	insp := asynq.NewInspectorFromRedisClient(b.RDB)
	per := chunksPerQueue(t, insp, res.BatchID)
	if want := 400 / task.DefaultChunkSize; len(per) != 1 || per[task.QueueDefault] != want {
		t.Errorf("the batch's chunks per queue: %v; want all %d on the bare %s queue", per, want, task.QueueDefault)
	}
	b.StartWorker(pipelinetest.WorkerOptions{})
	if got, want := servedQueues(t, insp), worker.DefaultQueues(); !maps.Equal(got, want) {
		t.Errorf("the worker serves %v, want the bare queues %v", got, want)
	}
	if bt := b.WaitDone(res.BatchID, wait); bt.Invited != 400 {
		t.Errorf("batch: %+v, want 400 invited", bt.Status())
	}
}

// chunksPerQueue counts batch id's pending chunk tasks on each asynq queue of
// the default queue (its shards).
func chunksPerQueue(t *testing.T, insp *asynq.Inspector, id string) map[string]int {
	t.Helper()
	tasks, err := pipelinetest.Tasks(insp.ListPendingTasks, task.QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, ti := range tasks {
		if ti.Type == task.TypeChunk && strings.HasPrefix(ti.ID, task.IDPrefix(id)) {
			per[ti.Queue]++
		}
	}
	return per
}

// servedQueues waits for the one worker's heartbeat and returns the asynq
// queues it serves, with their weights.
func servedQueues(t *testing.T, insp *asynq.Inspector) map[string]int {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		servers, err := insp.Servers()
		if err != nil {
			t.Fatal(err)
		}
		if len(servers) == 1 {
			return servers[0].Queues
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d workers seen, want 1", len(servers))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// enqueueAsV2 imports cands as batch id the way the previous build's producer
// did after version 2 chunks: each segment admitted with one blob per chunk
// of task.DefaultChunkSize, of blob format 1 (encodeFormat1), under field
// <segment>:<chunk>, and a version 2 task naming it under the chunk's id;
// then the batch sealed.
func enqueueAsV2(t *testing.T, b *pipelinetest.Bundle, id string, cands []payload.Candidate, segSize int) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := b.Store.CreateBatch(ctx, store.Meta{ID: id, Job: task.Job{Target: pipelinetest.Target}, SegmentSize: segSize}); err != nil {
		t.Fatal(err)
	}
	segs := 0
	for lo := 0; lo < len(cands); lo += segSize {
		seg := segmentAt(cands, lo, segSize)
		var blobs []store.ChunkBlob
		var bodies [][]byte
		for m := 0; m*task.DefaultChunkSize < len(seg); m++ {
			part := seg[m*task.DefaultChunkSize : min((m+1)*task.DefaultChunkSize, len(seg))]
			first, last := part[0].Seq, part[len(part)-1].Seq
			blobs = append(blobs, store.ChunkBlob{Segment: segs, Chunk: m, Lo: first, Hi: last, Blob: encodeFormat1(t, part)})
			body, err := json.Marshal(map[string]any{"v": task.VersionRef, "batch_id": id, "segment": segs, "chunk": m,
				"ref": map[string]any{"from": 0, "to": len(part), "lo": first, "hi": last}})
			if err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, body)
		}
		if _, err := b.Store.AdmitChunks(ctx, id, segs, seg, "", blobs, nil); err != nil {
			t.Fatal(err)
		}
		for m, body := range bodies {
			if _, err := b.Queue.Enqueue(asynq.NewTask(task.TypeChunk, body), asynq.TaskID(task.ChunkID(id, segs, m)),
				asynq.Queue(task.QueueDefault), asynq.MaxRetry(task.ChunkMaxRetry), asynq.Timeout(task.DefaultChunkTimeout)); err != nil {
				t.Fatal(err)
			}
		}
		segs++
	}
	if err := b.Store.Seal(ctx, id, segs, ""); err != nil {
		t.Fatal(err)
	}
}

// encodeFormat1 is the previous build's task.EncodeCandidates (blob format
// 1): the format byte, the count, seqs and rows as deltas, each text field of
// every candidate length-prefixed (email, name, first name, last name, CV
// link, ATS id), no histories, all compressed with zstd.
func encodeFormat1(t *testing.T, cands []task.Candidate) []byte {
	t.Helper()
	b := binary.AppendUvarint([]byte{1}, uint64(len(cands)))
	var seq, row int64
	for _, c := range cands {
		b = binary.AppendVarint(binary.AppendVarint(b, c.Seq-seq), c.Row-row)
		seq, row = c.Seq, c.Row
	}
	for _, f := range []func(payload.Candidate) string{
		func(c payload.Candidate) string { return c.Email }, func(c payload.Candidate) string { return c.Name },
		func(c payload.Candidate) string { return c.Firstname }, func(c payload.Candidate) string { return c.Lastname },
		func(c payload.Candidate) string { return c.CVLink }, func(c payload.Candidate) string { return c.ATSCandidateID },
	} {
		for _, c := range cands {
			b = append(binary.AppendUvarint(b, uint64(len(f(c.Candidate)))), f(c.Candidate)...)
		}
	}
	b = append(b, make([]byte, len(cands))...)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

// enqueueAsV1 imports cands as batch id the way the previous build's producer
// did: the batch created, each segment admitted without blobs and cut into
// chunks of task.DefaultChunkSize written as version 1 payloads (job and
// candidates inline) under the ids bi:<batch>:s<n>:c<m> on queue (a logical
// queue's bare name: older producers knew no shards), then the batch sealed.
func enqueueAsV1(t *testing.T, b *pipelinetest.Bundle, id string, cands []payload.Candidate, segSize int, queue string) {
	t.Helper()
	ctx := context.Background()
	job := task.Job{Target: pipelinetest.Target, InvitationMessage: "Hello {{candidate_name}}"}
	if _, _, err := b.Store.CreateBatch(ctx, store.Meta{ID: id, Job: job, SegmentSize: segSize}); err != nil {
		t.Fatal(err)
	}
	segs := 0
	for lo := 0; lo < len(cands); lo += segSize {
		seg := segmentAt(cands, lo, segSize)
		adm, err := b.Store.AdmitSegment(ctx, id, segs, seg, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		for m := 0; m*task.DefaultChunkSize < len(adm.Open); m++ {
			part := adm.Open[m*task.DefaultChunkSize : min((m+1)*task.DefaultChunkSize, len(adm.Open))]
			body, err := json.Marshal(task.Chunk{V: task.VersionInline, BatchID: id, Segment: segs, Chunk: m, Job: job, Candidates: part})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Queue.Enqueue(asynq.NewTask(task.TypeChunk, body), asynq.TaskID(fmt.Sprintf("bi:%s:s%d:c%d", id, segs, m)),
				asynq.Queue(queue), asynq.MaxRetry(task.ChunkMaxRetry), asynq.Timeout(task.DefaultChunkTimeout)); err != nil {
				t.Fatal(err)
			}
		}
		segs++
	}
	if err := b.Store.Seal(ctx, id, segs, ""); err != nil {
		t.Fatal(err)
	}
}

// segmentAt is the segment of at most size candidates that starts at cands[lo],
// as an import numbers them: seq from 0, row from 1.
func segmentAt(cands []payload.Candidate, lo, size int) []task.Candidate {
	var seg []task.Candidate
	for i, c := range cands[lo:min(lo+size, len(cands))] {
		seg = append(seg, task.Candidate{Seq: int64(lo + i), Row: int64(lo + i + 1), Candidate: c})
	}
	return seg
}
