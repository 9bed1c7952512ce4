package producer_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/producer"
)

// waits records what an import reports while it waits for Redis memory.
type waits struct {
	mu  sync.Mutex
	got []producer.MemoryWait
}

func (w *waits) add(m producer.MemoryWait) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, m)
}

func (w *waits) all() []producer.MemoryWait {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]producer.MemoryWait(nil), w.got...)
}

// TestImportWaitsForRedisMemory (invariant 1: nothing lost): an import into a
// Redis at its maxmemory waits, saying how full Redis is, and goes on once
// there is room, with every candidate accepted once and sent once.
func TestImportWaitsForRedisMemory(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	redistest.FillMemory(t, b.RDB)
	const n = 2000
	var seen waits
	room := time.AfterFunc(3*time.Second, func() { redistest.RaiseMaxmemory(t, b.RDB) })
	defer room.Stop()
	start := time.Now()
	res, err := b.Producer.Import(context.Background(), producer.NewSliceSource(pipelinetest.Candidates("full", n)),
		producer.Options{BatchID: "full", Job: producer.Job{Target: pipelinetest.Target}, OnMemoryWait: seen.add})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	took := time.Since(start)
	got := seen.all()
	t.Logf("import of %d candidates into a full Redis: done after %s, %d progress reports, first %+v", n, took.Round(time.Millisecond), len(got), got[0])
	if took < 3*time.Second || len(got) < 2 {
		t.Errorf("the import took %s with %d reports of a wait: it did not wait for the room made after 3s", took, len(got))
	}
	if m := got[0]; m.Max <= 0 || m.Used < m.Max-1<<20 || m.Limit != producer.DefaultMemoryWait {
		t.Errorf("first report %+v: want Redis's used_memory near its maxmemory, and the default limit", m)
	}
	if res.Accepted != n || res.Duplicates != 0 {
		t.Errorf("result %+v, want %d accepted, no duplicates", res, n)
	}
	stop := b.StartWorker(pipelinetest.WorkerOptions{})
	defer stop()
	bt := b.WaitDone("full", time.Minute)
	b.CheckAccounting("full")
	if bt.Invited != n || b.API.Stats().DuplicateInvites != 0 {
		t.Errorf("invited %d of %d, %d duplicate invites", bt.Invited, n, b.API.Stats().DuplicateInvites)
	}
}

// TestImportGivesUpAfterMemoryWait: an import waits no longer than its memory
// wait, then fails with Redis's OOM; once there is room, the same import again
// completes the batch with nothing twice.
func TestImportGivesUpAfterMemoryWait(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	const n = 500
	cands := pipelinetest.Candidates("gives-up", n)
	opts := producer.Options{BatchID: "gives-up", Job: producer.Job{Target: pipelinetest.Target}, MemoryWait: time.Second}
	redistest.FillMemory(t, b.RDB)
	start := time.Now()
	_, err := b.Producer.Import(context.Background(), producer.NewSliceSource(cands), opts)
	took := time.Since(start)
	if !store.OutOfMemory(err) || !strings.Contains(err.Error(), "redis had no memory for") {
		t.Fatalf("import into a full Redis: %v, want Redis's OOM after the wait", err)
	}
	t.Logf("gave up after %s: %v", took.Round(time.Millisecond), err)
	if took < time.Second || took > 30*time.Second {
		t.Errorf("gave up after %s, want about the memory wait of 1s (a step or two)", took)
	}
	var oomErr redis.Error
	if !errors.As(err, &oomErr) {
		t.Errorf("%v: Redis's error is not in the chain", err)
	}
	redistest.RaiseMaxmemory(t, b.RDB)
	res, err := b.Producer.Import(context.Background(), producer.NewSliceSource(cands), opts)
	if err != nil || res.Accepted != n {
		t.Fatalf("the same import with room: %+v, %v", res, err)
	}
	stop := b.StartWorker(pipelinetest.WorkerOptions{})
	defer stop()
	bt := b.WaitDone("gives-up", time.Minute)
	b.CheckAccounting("gives-up")
	if bt.Accepted != n || bt.Invited != n || b.API.Stats().DuplicateInvites != 0 {
		t.Errorf("accepted %d, invited %d of %d, %d duplicate invites", bt.Accepted, bt.Invited, n, b.API.Stats().DuplicateInvites)
	}
}

// fullQueue refuses the first refusals enqueues as asynq's client does when
// Redis is at its maxmemory (Redis's reply as text), then enqueues through q.
type fullQueue struct {
	q producer.Enqueuer

	mu       sync.Mutex
	refusals int
}

func (f *fullQueue) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	f.mu.Lock()
	refuse := f.refusals > 0
	f.refusals--
	f.mu.Unlock()
	if refuse {
		return nil, errors.New("UNKNOWN: redis eval error: OOM command not allowed when used memory > 'maxmemory'. script: 98d2, on @user_script:5.")
	}
	return f.q.EnqueueContext(ctx, t, opts...)
}

// TestEnqueueWaitsForRedisMemory (invariant 1: nothing lost): chunk enqueues
// that asynq reports refused for want of memory are tried again, and every
// candidate is sent once.
func TestEnqueueWaitsForRedisMemory(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	fq := &fullQueue{q: b.Queue, refusals: 40}
	p := producer.New(b.Store, fq, producer.Config{SegmentSize: 50, ChunkSize: 10})
	const n = 300
	var seen waits
	res, err := p.Import(context.Background(), producer.NewSliceSource(pipelinetest.Candidates("enq-full", n)),
		producer.Options{BatchID: "enq-full", Job: producer.Job{Target: pipelinetest.Target}, OnMemoryWait: seen.add})
	if err != nil || res.Accepted != n {
		t.Fatalf("import: %+v, %v", res, err)
	}
	if len(seen.all()) == 0 {
		t.Error("the import did not report its wait for Redis memory")
	}
	stop := b.StartWorker(pipelinetest.WorkerOptions{})
	defer stop()
	bt := b.WaitDone("enq-full", time.Minute)
	b.CheckAccounting("enq-full")
	if bt.Invited != n || b.API.Stats().DuplicateInvites != 0 {
		t.Errorf("invited %d of %d, %d duplicate invites", bt.Invited, n, b.API.Stats().DuplicateInvites)
	}
}

// TestImportsShareReadingsOfRedisMemory: small imports in quick succession, as
// an API server makes them, ask Redis's memory (INFO) once per roomFresh, not
// once per segment; a full Redis is still asked before every segment (above).
func TestImportsShareReadingsOfRedisMemory(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	ctx := context.Background()
	if err := b.RDB.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	const imports = 20
	start := time.Now()
	for i := range imports {
		id := fmt.Sprintf("share-%d", i)
		res, err := b.Producer.Import(ctx, producer.NewSliceSource(pipelinetest.Candidates(id, 1)), producer.Options{BatchID: id, Job: producer.Job{Target: pipelinetest.Target}})
		if err != nil || res.Accepted != 1 {
			t.Fatalf("import %s: %+v, %v", id, res, err)
		}
	}
	took := time.Since(start)
	stats, err := b.RDB.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	if _, rest, ok := strings.Cut(stats, "cmdstat_info:calls="); ok {
		calls, _ = strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
	}
	// One reading per 100 ms window, and the first.
	if most := int(took/(100*time.Millisecond)) + 1; calls > most || calls == 0 {
		t.Errorf("%d imports in %s asked INFO %d times, want 1 to %d", imports, took.Round(time.Millisecond), calls, most)
	}
}
