package producer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
	"github.com/bulkinvite/bulkinvite/store"
	"github.com/bulkinvite/bulkinvite/task"
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

// TestSmallSegmentsGoAsChunks: segments on the default queue are enqueued as their
// chunk tasks, with the ids and candidates the worker's split would give them, so
// that a small push takes one queue hop; segments past the bulk threshold go as
// segment tasks. A re-run enqueues nothing twice.
func TestSmallSegmentsGoAsChunks(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t, redistest.Options{}).Client()
	p := producer.New(store.New(rdb, store.Config{}), asynq.NewClientFromRedisClient(rdb),
		producer.Config{SegmentSize: 10, ChunkSize: 4, BulkThreshold: 20})
	var rows strings.Builder
	for i := range 35 { // segments 0 and 1 (default queue), 2 and 3 (bulk)
		fmt.Fprintf(&rows, "{\"email\":\"p%d@example.com\"}\n", i)
	}
	opts := producer.Options{BatchID: "direct", Job: task.Job{Target: payload.Target{InterviewSetID: uuidA}}}
	for run := range 2 {
		res, err := p.Import(context.Background(), producer.NewJSONLSource(strings.NewReader(rows.String())), opts)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if run == 0 && (res.Accepted != 35 || res.Segments != 4) {
			t.Fatalf("result %+v", res)
		}
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(func() { _ = insp.Close() })
	pending := func(queue string) []*asynq.TaskInfo {
		tasks, err := insp.ListPendingTasks(queue, asynq.PageSize(100))
		if err != nil {
			t.Fatal(err)
		}
		return tasks
	}
	got := map[string][]int64{}
	for _, ti := range pending(task.QueueDefault) {
		if ti.Type != task.TypeChunk {
			t.Errorf("default queue: task %s of type %s, want chunks only", ti.ID, ti.Type)
			continue
		}
		c, err := task.DecodeChunk(ti.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if ti.MaxRetry != task.ChunkMaxRetry {
			t.Errorf("chunk %s: max retry %d, want %d", ti.ID, ti.MaxRetry, task.ChunkMaxRetry)
		}
		for _, cand := range c.Candidates {
			got[ti.ID] = append(got[ti.ID], cand.Seq)
		}
	}
	want := map[string][]int64{
		task.ChunkID("direct", 0, 0): {0, 1, 2, 3}, task.ChunkID("direct", 0, 1): {4, 5, 6, 7}, task.ChunkID("direct", 0, 2): {8, 9},
		task.ChunkID("direct", 1, 0): {10, 11, 12, 13}, task.ChunkID("direct", 1, 1): {14, 15, 16, 17}, task.ChunkID("direct", 1, 2): {18, 19},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("chunks on the default queue:\n got %v\nwant %v", got, want)
	}
	var segs []string
	for _, ti := range pending(task.QueueBulk) {
		if ti.Type != task.TypeSegment {
			t.Errorf("bulk queue: task %s of type %s, want segments only", ti.ID, ti.Type)
		}
		segs = append(segs, ti.ID)
	}
	if fmt.Sprint(segs) != fmt.Sprint([]string{task.SegmentID("direct", 2), task.SegmentID("direct", 3)}) {
		t.Errorf("segments on the bulk queue: %v", segs)
	}
}
