package producer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func newProducer(t *testing.T) *producer.Producer {
	t.Helper()
	rdb := redistest.Start(t, redistest.Options{}).Client()
	return producer.New(store.New(rdb, store.Config{}), asynq.NewClientFromRedisClient(rdb), producer.Config{SegmentSize: 10})
}

// TestImportNeedsTargetFailsFast: a JSON array carries no target, so an import
// without one fails after the first candidate, not after reading the whole file.
func TestImportNeedsTargetFailsFast(t *testing.T) {
	t.Parallel()
	p := newProducer(t)
	var b strings.Builder
	b.WriteString("[")
	for i := range 20000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"email":"p%d@example.com"}`, i)
	}
	b.WriteString("]")
	cr := &countingReader{r: strings.NewReader(b.String())}
	_, err := p.Import(context.Background(), producer.NewJSONSource(cr), producer.Options{})
	if !errors.Is(err, producer.ErrUsage) || !strings.Contains(err.Error(), "target") {
		t.Fatalf("err = %v, want a usage error about the target", err)
	}
	if cr.n > 64<<10 {
		t.Errorf("read %d of %d bytes before failing", cr.n, b.Len())
	}
}

// TestImportTakesTargetFromRequestBody: a request body whose candidates come before
// its com_* fields still imports, taking the target and message from the file.
func TestImportTakesTargetFromRequestBody(t *testing.T) {
	t.Parallel()
	p := newProducer(t)
	body := `{"candidates":[{"email":"a@example.com"},{"email":"b@example.com"}],
	  "invitation_message":"Hello {{candidate_name}}!","com_project_id":"019c5eaa-3c41-7a2e-8f10-6b7d2c9e0a01"}`
	res, err := p.Import(context.Background(), producer.NewJSONSource(strings.NewReader(body)), producer.Options{BatchID: "body"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || res.Segments != 1 {
		t.Errorf("result %+v", res)
	}
}

// TestImportRejectsBadMessage: a message under ten characters is a usage error
// before anything is written.
func TestImportRejectsBadMessage(t *testing.T) {
	t.Parallel()
	p := newProducer(t)
	_, err := p.Import(context.Background(), producer.NewSliceSource([]payload.Candidate{{Email: "a@example.com"}}), producer.Options{
		Job: task.Job{Target: payload.Target{InterviewSetID: "019c5ea9-a792-7f0d-b671-4c3c1602094e"}, InvitationMessage: "short"},
	})
	if !errors.Is(err, producer.ErrUsage) || !strings.Contains(err.Error(), "invitation_message") {
		t.Errorf("err = %v", err)
	}
}

// TestOpenedRequestBodyKeepsFieldsAfterCandidates: the vendor's sample request puts
// invitation_message and send_invite after the candidates, with the target before
// them; an import of the file opened with Open takes all three.
func TestOpenedRequestBodyKeepsFieldsAfterCandidates(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t, redistest.Options{}).Client()
	st := store.New(rdb, store.Config{})
	p := producer.New(st, asynq.NewClientFromRedisClient(rdb), producer.Config{SegmentSize: 10})
	src, closer, err := producer.Open("../configs/sample-request.json", "")
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if _, err := p.Import(context.Background(), src, producer.Options{BatchID: "sample"}); err != nil {
		t.Fatal(err)
	}
	b, err := st.Batch(context.Background(), "sample")
	if err != nil {
		t.Fatal(err)
	}
	if b.Job.Target.InterviewSetID != "019c5ea9-a792-7f0d-b671-4c3c1602094e" ||
		!strings.HasPrefix(b.Job.InvitationMessage, "<p>Dear <b><span>{{candidate_name}}") ||
		b.Job.SendInvite == nil || !*b.Job.SendInvite {
		t.Fatalf("the batch's job is %+v, want the sample's target, message and send_invite", b.Job)
	}
}

// TestImportEnqueuesChunks: every admitted segment is enqueued as its chunk
// tasks, with the ids and candidates the worker's split of a segment would give
// them, so that the workers pick them up in one hop; segments before the bulk
// threshold on the default queue, the rest on bulk: on a single node every
// chunk on the bare queue, on a Redis Cluster each on its shard of the queue,
// a batch's chunks spread over them. A re-run enqueues nothing twice.
func TestImportEnqueuesChunks(t *testing.T) {
	t.Parallel()
	t.Run("single node", func(t *testing.T) {
		t.Parallel()
		importEnqueuesChunks(t, redistest.Start(t, redistest.Options{}).Client(), false)
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		c := redistest.StartCluster(t, redistest.ClusterOptions{})
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = rdb.Close() })
		importEnqueuesChunks(t, rdb, true)
	})
}

// importEnqueuesChunks is TestImportEnqueuesChunks on rdb, whose chunks are
// spread over the queues' shards when sharded.
func importEnqueuesChunks(t *testing.T, rdb redis.UniversalClient, sharded bool) {
	st := store.New(rdb, store.Config{})
	p := producer.New(st, asynq.NewClientFromRedisClient(rdb),
		producer.Config{SegmentSize: 10, ChunkSize: 4, BulkThreshold: 20})
	var rows strings.Builder
	for i := range 25 { // segments 0 and 1 (default queue), 2 (bulk)
		fmt.Fprintf(&rows, "{\"email\":\"p%d@example.com\"}\n", i)
	}
	opts := producer.Options{BatchID: "direct", Job: task.Job{Target: payload.Target{InterviewSetID: uuidA}}}
	for run := range 2 {
		res, err := p.Import(context.Background(), producer.NewJSONLSource(strings.NewReader(rows.String())), opts)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if run == 0 && (res.Accepted != 25 || res.Segments != 3) {
			t.Fatalf("result %+v", res)
		}
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(func() { _ = insp.Close() })
	// The chunks on the shards of a queue, each on the one task.ChunkQueue names.
	chunks := func(queue string) map[string][]int64 {
		tasks, err := pipelinetest.Tasks(insp.ListPendingTasks, queue)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]int64{}
		shards := map[string]bool{}
		for _, ti := range tasks {
			if ti.Type != task.TypeChunk {
				t.Errorf("%s queue: task %s of type %s, want chunks only", queue, ti.ID, ti.Type)
				continue
			}
			if ti.MaxRetry != task.ChunkMaxRetry {
				t.Errorf("chunk %s: max retry %d, want %d", ti.ID, ti.MaxRetry, task.ChunkMaxRetry)
			}
			c, err := task.DecodeChunk(ti.Payload)
			if err != nil {
				t.Fatal(err)
			}
			want := queue
			if sharded {
				want = task.ChunkQueue(true, queue, c.BatchID, c.Segment, c.Chunk, task.SegmentChunks(10, 4))
			}
			if ti.Queue != want {
				t.Errorf("chunk %s on queue %s, want %s", ti.ID, ti.Queue, want)
			}
			shards[ti.Queue] = true
			// A reference to the chunk's candidates, which the batch keeps.
			if _, err := st.LoadChunk(context.Background(), c, false); err != nil {
				t.Fatal(err)
			}
			for _, cand := range c.Candidates {
				got[ti.ID] = append(got[ti.ID], cand.Seq)
			}
		}
		if sharded && len(tasks) > 1 && len(shards) < 2 {
			t.Errorf("%s queue: the batch's %d chunks on one shard, %v; want them spread", queue, len(tasks), shards)
		}
		return got
	}
	id := func(seg, chunk int) string { return task.ChunkID("direct", seg, chunk) }
	wantDefault := map[string][]int64{
		id(0, 0): {0, 1, 2, 3}, id(0, 1): {4, 5, 6, 7}, id(0, 2): {8, 9},
		id(1, 0): {10, 11, 12, 13}, id(1, 1): {14, 15, 16, 17}, id(1, 2): {18, 19},
	}
	if got := chunks(task.QueueDefault); fmt.Sprint(got) != fmt.Sprint(wantDefault) {
		t.Errorf("chunks on the default queue:\n got %v\nwant %v", got, wantDefault)
	}
	wantBulk := map[string][]int64{id(2, 0): {20, 21, 22, 23}, id(2, 1): {24}}
	if got := chunks(task.QueueBulk); fmt.Sprint(got) != fmt.Sprint(wantBulk) {
		t.Errorf("chunks on the bulk queue:\n got %v\nwant %v", got, wantBulk)
	}
}

// failingQueue fails every enqueue after the first ok ones.
type failingQueue struct {
	q  producer.Enqueuer
	mu sync.Mutex
	ok int
}

func (f *failingQueue) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	f.mu.Lock()
	f.ok--
	fail := f.ok < 0
	f.mu.Unlock()
	if fail {
		return nil, errors.New("connection reset by peer")
	}
	return f.q.EnqueueContext(ctx, t, opts...)
}

// TestImportStopsOnEnqueueError: a chunk that cannot be enqueued fails the import,
// which leaves the batch unsealed (a re-run completes it) and no enqueue running.
func TestImportStopsOnEnqueueError(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t, redistest.Options{}).Client()
	st := store.New(rdb, store.Config{})
	p := producer.New(st, &failingQueue{q: asynq.NewClientFromRedisClient(rdb), ok: 5}, producer.Config{SegmentSize: 10, ChunkSize: 2})
	var rows strings.Builder
	for i := range 200 {
		fmt.Fprintf(&rows, "{\"email\":\"p%d@example.com\"}\n", i)
	}
	_, err := p.Import(context.Background(), producer.NewJSONLSource(strings.NewReader(rows.String())),
		producer.Options{BatchID: "fails", Job: task.Job{Target: payload.Target{InterviewSetID: uuidA}}})
	if err == nil || !strings.Contains(err.Error(), "connection reset by peer") || !strings.Contains(err.Error(), "enqueue chunk") {
		t.Fatalf("err = %v, want the enqueue's error", err)
	}
	b, err := st.Batch(context.Background(), "fails")
	if err != nil {
		t.Fatal(err)
	}
	if b.Sealed {
		t.Error("the batch was sealed though a chunk was not enqueued")
	}
}

// TestImportOwnedBatch: an import under another owner's batch id is ErrOwned,
// whatever its target, and adds nothing to that batch; its owner's re-run and
// an import that may act on any owner's batch go on.
func TestImportOwnedBatch(t *testing.T) {
	t.Parallel()
	p := newProducer(t)
	ctx := context.Background()
	job := task.Job{Target: payload.Target{InterviewSetID: "019c5ea9-a792-7f0d-b671-4c3c1602094e"}}
	one := []payload.Candidate{{Email: "b@example.com"}}
	three := []payload.Candidate{{Email: "a1@example.com"}, {Email: "a2@example.com"}, {Email: "a3@example.com"}}
	if _, err := p.Import(ctx, producer.NewSliceSource(one), producer.Options{BatchID: "nightly", Job: job, Owner: "bob"}); err != nil {
		t.Fatal(err)
	}
	other := task.Job{Target: payload.Target{InterviewSetID: "019c5ea9-0000-7000-8000-000000000001"}}
	for _, j := range []task.Job{job, other} {
		res, err := p.Import(ctx, producer.NewSliceSource(three), producer.Options{BatchID: "nightly", Job: j, Owner: "alice"})
		if !errors.Is(err, producer.ErrOwned) || res != nil || strings.Contains(err.Error(), "bob") || strings.Contains(err.Error(), job.Target.InterviewSetID) {
			t.Errorf("alice's import under bob's id: %+v, %v", res, err)
		}
	}
	if res, err := p.Import(ctx, producer.NewSliceSource(one), producer.Options{BatchID: "nightly", Job: job, Owner: "bob"}); err != nil || !res.Existing {
		t.Errorf("bob's re-run: %+v, %v", res, err)
	}
	if res, err := p.Import(ctx, producer.NewSliceSource(one), producer.Options{BatchID: "nightly", Job: job, Owner: "cli", AnyOwner: true}); err != nil || !res.Existing {
		t.Errorf("an import that may act on any owner's batch: %+v, %v", res, err)
	}
}

// failAfter is a source that fails with a read error after n records of src:
// an import that dies part way.
type failAfter struct {
	src producer.Source
	n   int
}

func (f *failAfter) Next() (producer.Record, error) {
	if f.n == 0 {
		return producer.Record{}, errors.New("connection reset while reading the input")
	}
	f.n--
	return f.src.Next()
}

// TestImportRerunNeedsTheSameInput: a batch id names one input. A re-run with the
// same records completes the batch (or finds it complete); one with other
// records (a changed, added, dropped or moved row, a rejected row changed) is
// ErrOtherInput, a usage error, and adds nothing, whether the first import
// finished or died part way.
func TestImportRerunNeedsTheSameInput(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t, redistest.Options{}).Client()
	st := store.New(rdb, store.Config{})
	p := producer.New(st, asynq.NewClientFromRedisClient(rdb), producer.Config{SegmentSize: 10})
	ctx := context.Background()
	job := task.Job{Target: payload.Target{InterviewSetID: uuidA}}
	lines := func(edit func([]string) []string) string {
		var ls []string
		for i := range 25 {
			ls = append(ls, fmt.Sprintf(`{"email":"p%d@example.com"}`, i))
		}
		ls[17] = `{"email":"not-an-email"}` // rejected
		if edit != nil {
			ls = edit(ls)
		}
		return strings.Join(ls, "\n") + "\n"
	}
	others := map[string]func([]string) []string{
		"a changed row": func(ls []string) []string { ls[3] = `{"email":"q3@example.com"}`; return ls },
		"a changed row in the last segment": func(ls []string) []string {
			ls[23] = `{"email":"p23@example.com","name":"P"}`
			return ls
		},
		"an added row":          func(ls []string) []string { return append(ls, `{"email":"p25@example.com"}`) },
		"a dropped row":         func(ls []string) []string { return ls[:24] },
		"two rows swapped":      func(ls []string) []string { ls[1], ls[2] = ls[2], ls[1]; return ls },
		"a rejected row edited": func(ls []string) []string { ls[17] = `{"email":"not-an-email-either"}`; return ls },
	}
	src := func(s string) producer.Source { return producer.NewJSONLSource(strings.NewReader(s)) }
	counts := func(id string) string {
		b, err := st.Batch(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("accepted %d rejected %d sealed %v", b.Accepted, b.Rejected, b.Sealed)
	}

	// Finished: the same input finds it complete; another is refused.
	if _, err := p.Import(ctx, src(lines(nil)), producer.Options{BatchID: "done", Job: job}); err != nil {
		t.Fatal(err)
	}
	if res, err := p.Import(ctx, src(lines(nil)), producer.Options{BatchID: "done", Job: job}); err != nil || !res.AlreadyComplete {
		t.Fatalf("the same input again: %+v, %v", res, err)
	}
	for name, edit := range others {
		res, err := p.Import(ctx, src(lines(edit)), producer.Options{BatchID: "done", Job: job})
		if !errors.Is(err, producer.ErrOtherInput) || !errors.Is(err, producer.ErrUsage) || res != nil {
			t.Errorf("finished batch, %s: %+v, %v; want ErrOtherInput", name, res, err)
		}
	}
	if got := counts("done"); got != "accepted 24 rejected 1 sealed true" {
		t.Errorf("finished batch after the refused re-runs: %s", got)
	}

	// Died after 15 records (segment 0 admitted): a re-run that differs within
	// what was admitted is refused; the same input completes the batch.
	if _, err := p.Import(ctx, &failAfter{src: src(lines(nil)), n: 15}, producer.Options{BatchID: "died", Job: job}); err == nil {
		t.Fatal("the import that died returned no error")
	}
	if got := counts("died"); got != "accepted 10 rejected 0 sealed false" {
		t.Fatalf("after the import died: %s", got)
	}
	for _, name := range []string{"a changed row", "two rows swapped"} {
		if res, err := p.Import(ctx, src(lines(others[name])), producer.Options{BatchID: "died", Job: job}); !errors.Is(err, producer.ErrOtherInput) {
			t.Errorf("died batch, %s: %+v, %v; want ErrOtherInput", name, res, err)
		}
	}
	if got := counts("died"); got != "accepted 10 rejected 0 sealed false" {
		t.Errorf("died batch after the refused re-runs: %s", got)
	}
	res, err := p.Import(ctx, src(lines(nil)), producer.Options{BatchID: "died", Job: job})
	if err != nil || !res.Existing || res.AlreadyComplete {
		t.Fatalf("the same input completing the batch: %+v, %v", res, err)
	}
	if got := counts("died"); got != "accepted 24 rejected 1 sealed true" {
		t.Errorf("died batch completed: %s", got)
	}
	if _, err := p.Import(ctx, src(lines(others["an added row"])), producer.Options{BatchID: "died", Job: job}); !errors.Is(err, producer.ErrOtherInput) {
		t.Errorf("completed batch, an added row: %v; want ErrOtherInput", err)
	}
}

// TestImportDuplicatesAcrossSegments: the import finds duplicates in its own
// process (store.Dedup), across segments and within one: an email in another
// case, an ATS id under a new email; a duplicate owns none of its keys, so a
// later candidate with a duplicate's new email is not one. An import that died
// part way and is run again finds the same ones, as does a run in one go.
func TestImportDuplicatesAcrossSegments(t *testing.T) {
	t.Parallel()
	ats := func(i int) string { return fmt.Sprintf("0190a5e0-0000-7000-8000-%012x", 0xabc000+i) }
	rdb := redistest.Start(t, redistest.Options{}).Client()
	st := store.New(rdb, store.Config{})
	p := producer.New(st, asynq.NewClientFromRedisClient(rdb), producer.Config{SegmentSize: 10, ChunkSize: 4})
	ctx := context.Background()
	rows := make([]string, 50)
	for i := range rows {
		rows[i] = fmt.Sprintf(`{"email":"p%d@example.com","ats_candidate_id":"%s"}`, i, ats(i))
	}
	rows[7] = `{"email":"p6@example.com","ats_candidate_id":"` + ats(7) + `"}`                       // seq 6's email, same segment
	rows[24] = `{"email":"P3@Example.com","ats_candidate_id":"` + ats(24) + `"}`                     // seq 3's email, another case
	rows[31] = `{"email":"new31@example.com","ats_candidate_id":"` + strings.ToUpper(ats(12)) + `"}` // seq 12's ATS id
	rows[45] = `{"email":"new31@example.com","ats_candidate_id":"` + ats(45) + `"}`                  // a duplicate's email: not owned
	wantDups := map[int64]bool{7: true, 24: true, 31: true}
	input := strings.Join(rows, "\n") + "\n"
	job := task.Job{Target: payload.Target{InterviewSetID: uuidA}}

	died := &failAfter{src: producer.NewJSONLSource(strings.NewReader(input)), n: 35}
	if _, err := p.Import(ctx, died, producer.Options{BatchID: "rerun", Job: job}); err == nil {
		t.Fatal("the import that dies part way succeeded")
	}
	for _, id := range []string{"rerun", "one-go"} {
		res, err := p.Import(ctx, producer.NewJSONLSource(strings.NewReader(input)), producer.Options{BatchID: id, Job: job})
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		b, err := st.Batch(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if res.Duplicates != int64(len(wantDups)) || b.Accepted != 50 || b.SkippedDuplicate != int64(len(wantDups)) {
			t.Errorf("%s: result %d duplicates, batch %d accepted %d skipped, want 50 accepted and %d duplicates",
				id, res.Duplicates, b.Accepted, b.SkippedDuplicate, len(wantDups))
		}
		cands := make([]task.Candidate, 50)
		for i := range cands {
			cands[i].Seq = int64(i)
		}
		states, err := st.States(ctx, id, cands)
		if err != nil {
			t.Fatal(err)
		}
		for seq, s := range states {
			if want := wantDups[int64(seq)]; (s == store.Decided) != want {
				t.Errorf("%s: seq %d is %v, duplicate: %v", id, seq, s, want)
			}
		}
	}
}
