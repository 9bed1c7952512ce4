package producer_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

// losingQueue enqueues through asynq, then deletes the first enqueue of every
// chunk task lose picks: an enqueue Redis acknowledged and lost afterwards, as a
// failover to a replica that had not received it loses it.
type losingQueue struct {
	q    producer.Enqueuer
	insp *asynq.Inspector
	lose func(id string) bool

	mu   sync.Mutex
	lost map[string]bool
}

func (l *losingQueue) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	info, err := l.q.EnqueueContext(ctx, t, opts...)
	if err != nil || t.Type() != task.TypeChunk || !l.lose(info.ID) {
		return info, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost[info.ID] {
		return info, nil
	}
	l.lost[info.ID] = true
	return info, l.insp.DeleteTask(info.Queue, info.ID)
}

// TestLostEnqueuesAreEnqueuedAgain (invariant 1: nothing lost): chunk tasks
// whose enqueue was acknowledged and then lost before the batch was sealed are
// found missing and enqueued again, so the batch finishes; before, the batch was
// sealed with pending candidates that no task would ever send.
func TestLostEnqueuesAreEnqueuedAgain(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	insp := asynq.NewInspectorFromRedisClient(b.RDB)
	t.Cleanup(func() { _ = insp.Close() })
	lq := &losingQueue{q: b.Queue, insp: insp, lost: map[string]bool{},
		lose: func(id string) bool { return strings.HasSuffix(id, ":c1") || strings.HasSuffix(id, ":c4") }}
	p := producer.New(b.Store, lq, producer.Config{SegmentSize: 50, ChunkSize: 10})
	const n = 300
	res, err := p.Import(context.Background(), producer.NewSliceSource(pipelinetest.Candidates("lost", n)),
		producer.Options{BatchID: "lost-enqueues", Job: task.Job{Target: pipelinetest.Target}})
	if err != nil {
		t.Fatal(err)
	}
	if len(lq.lost) != 12 {
		t.Fatalf("%d enqueues lost, want 12 (chunks 1 and 4 of 6 segments)", len(lq.lost))
	}
	b.StartWorker(pipelinetest.WorkerOptions{})
	// Done, or every queue empty with candidates still pending: stranded.
	deadline := time.Now().Add(30 * time.Second)
	status := func() store.Status {
		t.Helper()
		bt, err := b.Store.Batch(context.Background(), res.BatchID)
		if err != nil {
			t.Fatal(err)
		}
		return bt.Status()
	}
	for s := status(); s.Pending > 0; s = status() {
		if queued(t, insp) == 0 {
			if s := status(); s.Pending > 0 {
				t.Fatalf("every queue is empty and the batch has %d candidates pending: they will never be sent (%+v)", s.Pending, s)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch not done within 30s: %+v", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := b.CheckAccounting(res.BatchID).Status(); s.Invited != n {
		t.Errorf("invited %d of %d", s.Invited, n)
	}
	if d := b.API.Stats().DuplicateInvites; d != 0 {
		t.Errorf("%d duplicate invites", d)
	}
}

// queued is how many tasks the queues hold, pending, running or waiting.
func queued(t *testing.T, insp *asynq.Inspector) int {
	t.Helper()
	qs, err := insp.Queues()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, q := range qs {
		info, err := insp.GetQueueInfo(q)
		if err != nil {
			t.Fatal(err)
		}
		n += info.Size
	}
	return n
}

// ranQueue enqueues through asynq and then, for chunk tasks ran picks, does what
// a worker running them at once would leave: task c1 of each segment completed
// with its candidates invited, task c2 split into two parts still queued.
type ranQueue struct {
	q    producer.Enqueuer
	insp *asynq.Inspector
	st   *store.Store
}

func (r *ranQueue) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	info, err := r.q.EnqueueContext(ctx, t, opts...)
	if err != nil || t.Type() != task.TypeChunk {
		return info, err
	}
	c, err := task.DecodeChunk(t.Payload())
	if err != nil {
		return nil, err
	}
	ld, err := r.st.LoadChunk(ctx, c, true)
	if err != nil {
		return nil, err
	}
	c.Job = *ld.Job
	switch {
	case strings.HasSuffix(info.ID, ":c1"):
		recs := make([]store.Record, len(c.Candidates))
		for i, cand := range c.Candidates {
			recs[i] = store.Record{Seq: cand.Seq, Outcome: payload.OutcomeInvited, Candidate: cand.Candidate}
		}
		if _, err := r.st.RecordOutcomes(ctx, c.BatchID, c.Job.Target, recs); err != nil {
			return nil, err
		}
	case strings.HasSuffix(info.ID, ":c2"):
		half := len(c.Candidates) / 2
		for i, part := range [][]task.Candidate{c.Candidates[:half], c.Candidates[half:]} {
			child := *c
			child.Candidates = part
			child.Ref = c.Sub(i*half, i*half+len(part))
			if err := task.EnqueueChunk(ctx, r.q, &child, info.ID+"/"+strconv.Itoa(i), info.Queue, time.Minute); err != nil {
				return nil, err
			}
		}
	default:
		return info, nil
	}
	return info, r.insp.DeleteTask(info.Queue, info.ID)
}

// TestVerifyLeavesTasksThatRan: the check before the seal enqueues again only
// the chunk tasks that never ran; one a worker completed, or split into parts, has
// no task either, and is left alone (enqueuing it again would send its candidates
// a second time).
func TestVerifyLeavesTasksThatRan(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	insp := asynq.NewInspectorFromRedisClient(b.RDB)
	t.Cleanup(func() { _ = insp.Close() })
	p := producer.New(b.Store, &ranQueue{q: b.Queue, insp: insp, st: b.Store}, producer.Config{SegmentSize: 50, ChunkSize: 10})
	res, err := p.Import(context.Background(), producer.NewSliceSource(pipelinetest.Candidates("ran", 100)),
		producer.Options{BatchID: "ran", Job: task.Job{Target: pipelinetest.Target}})
	if err != nil {
		t.Fatal(err)
	}
	for seg := range 2 {
		for c := range 5 {
			id := task.ChunkID(res.BatchID, seg, c)
			_, err := insp.GetTaskInfo(task.ChunkQueue(task.Sharded(b.RDB), task.QueueDefault, res.BatchID, seg, c, task.SegmentChunks(50, 10)), id)
			switch gone := errors.Is(err, asynq.ErrTaskNotFound); {
			case err != nil && !gone:
				t.Fatal(err)
			case c == 1 || c == 2:
				if !gone {
					t.Errorf("task %s ran and is queued again", id)
				}
			case gone:
				t.Errorf("task %s is not queued", id)
			}
		}
	}
}
