package worker_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/deadletter"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
	"github.com/bulkinvite/bulkinvite/ratelimit"
	"github.com/bulkinvite/bulkinvite/worker"
)

// TestRateLimited: the sandbox allows far less than we ask for. 429s make every
// worker wait, and they do not spend attempts: with MaxAttempts 1 everyone still
// ends invited.
func TestRateLimited(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{Sandbox: sandbox.Config{Faults: sandbox.Faults{Rate: 20, Burst: 2}}})
	b.StartWorker(pipelinetest.WorkerOptions{
		Worker:  worker.Config{ChunkSize: 2, MaxAttempts: 1},
		Limiter: ratelimit.Config{Rate: 200, Burst: 20},
	})
	res := b.Import("throttled", pipelinetest.Candidates("rl", 60), nil)
	bt := b.WaitDone(res.BatchID, wait)
	b.CheckAccounting(res.BatchID)
	if bt.Invited != 60 || bt.DeadLettered != 0 {
		t.Errorf("status %+v, want 60 invited and nothing dead-lettered", bt.Status())
	}
	if st := b.API.Stats(); st.RateLimited == 0 {
		t.Errorf("the sandbox never answered 429: %+v", st)
	}
}

// TestAuthStopAndResume: a 403 stops all sending, keeps the work queued and
// dead-letters nothing; after the key is fixed and resumed, the batch completes.
func TestAuthStopAndResume(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	if err := b.API.SetKeyState(sandbox.DefaultKey, sandbox.KeyInactive); err != nil {
		t.Fatal(err)
	}
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 1, MaxAttempts: 1}})
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 1, MaxAttempts: 1}})
	res := b.Import("auth", pipelinetest.Candidates("auth", 1000), nil)
	ctx := context.Background()

	deadline := time.Now().Add(wait)
	var stop *store.AuthStop
	for stop == nil && time.Now().Before(deadline) {
		var err error
		if stop, err = b.Store.AuthStopped(ctx, b.Key.ID()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if stop == nil || stop.Status != 403 || stop.Key != "fl_live_sandbox.****" {
		t.Fatalf("auth stop = %+v, want 403 with the masked key", stop)
	}
	// While stopped, the batch's queue is paused, so the 1,000 waiting chunks do
	// not each wake every poll to find the stop; requests stop and nothing is
	// decided.
	insp := asynq.NewInspectorFromRedisClient(b.RDB)
	for {
		info, err := pipelinetest.QueueInfo(insp, task.QueueDefault)
		if err == nil && info.Paused {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the default queue is not paused while sending is stopped: %+v %v", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := b.API.Stats().Requests
	time.Sleep(500 * time.Millisecond)
	if after := b.API.Stats().Requests; after != before {
		t.Errorf("workers kept sending while stopped: %d -> %d requests", before, after)
	}
	if bt := b.CheckAccounting(res.BatchID); bt.Pending() != 1000 || bt.DeadLettered != 0 {
		t.Errorf("while stopped: %+v, want all 1000 pending, none dead-lettered", bt.Status())
	}
	if before > 8 {
		t.Errorf("%d requests were sent before every worker stopped; want a handful", before)
	}

	if err := b.API.SetKeyState(sandbox.DefaultKey, sandbox.KeyActive); err != nil {
		t.Fatal(err)
	}
	if stops, err := worker.Resume(ctx, b.Store, asynq.NewInspectorFromRedisClient(b.RDB), "cli@test"); err != nil || len(stops) != 1 {
		t.Fatalf("resume: %v %v", stops, err)
	}
	bt := b.WaitDone(res.BatchID, wait)
	b.CheckAccounting(res.BatchID)
	if bt.Invited != 1000 {
		t.Errorf("after resume: %+v", bt.Status())
	}
	if st := b.API.Stats(); st.DuplicateInvites != 0 {
		t.Errorf("%d duplicate invites", st.DuplicateInvites)
	}
	// The batch's log tells of the stop (once, by a worker) and the resume.
	evs, err := b.Store.Events(ctx, res.BatchID)
	var got []string
	for _, e := range evs {
		got = append(got, e.What+" by "+e.By)
	}
	if want := []string{"created by ", "auth_stopped by " + auth.AtHost(auth.WorkerName), "auth_resumed by cli@test"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("events %q (%v), want %q", got, err, want)
	}
	if err == nil && len(evs) == 3 && !strings.HasPrefix(evs[1].Detail, "vendor answered 403: ") {
		t.Errorf("auth_stopped detail %q, want the vendor's answer", evs[1].Detail)
	}
}

// TestTargetNotFoundThenReplayToCorrectedTarget: a 404 dead-letters the candidates
// as target_not_found; a replay to the right target invites them.
func TestTargetNotFoundThenReplayToCorrectedTarget(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 4}})
	wrong := task.Job{Target: payload.Target{InterviewSetID: "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee"}}
	res := b.Import("wrong-target", pipelinetest.Candidates("nf", 10), &wrong)
	bt := b.WaitDone(res.BatchID, wait)
	b.CheckAccounting(res.BatchID)
	if bt.DeadLettered != 10 {
		t.Fatalf("status %+v, want 10 dead-lettered", bt.Status())
	}
	for who, d := range b.DeadLetters(res.BatchID) {
		if d.Reason != payload.ReasonTargetNotFound || d.LastHTTPStatus != 404 || d.Target != wrong.Target {
			t.Errorf("%s: %+v", who, d)
		}
	}
	rep, err := b.Replayer.Replay(context.Background(), deadletter.Options{
		Filter: store.Filter{Reason: payload.ReasonTargetNotFound},
		Target: pipelinetest.Target,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Batches) != 1 || rep.Replayed != 10 {
		t.Fatalf("replay %+v", rep)
	}
	rb := b.WaitDone(rep.Batches[0], wait)
	b.CheckAccounting(rep.Batches[0])
	if rb.Invited != 10 || len(rb.ReplayOf) != 1 || rb.ReplayOf[0] != "wrong-target" {
		t.Errorf("replay batch %+v", rb.Status())
	}
	if n, _ := b.Store.CountDeadLetters(context.Background()); n != 0 {
		t.Errorf("%d dead letters left after a successful replay", n)
	}
}

// TestValidationIsolation: one candidate the vendor rejects (422) in a chunk of ten
// is isolated by splitting; the other nine are invited.
func TestValidationIsolation(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 10}})
	cands := pipelinetest.Candidates("v", 10)
	cands[6].Email = "rejected@vendor-says-no.invalid"
	res := b.Import("isolate", cands, nil)
	bt := b.WaitDone(res.BatchID, wait)
	b.CheckAccounting(res.BatchID)
	if bt.Invited != 9 || bt.DeadLettered != 1 {
		t.Fatalf("status %+v, want 9 invited and 1 dead-lettered", bt.Status())
	}
	d := b.DeadLetters(res.BatchID)["rejected@vendor-says-no.invalid"]
	if d == nil || d.Reason != payload.ReasonValidation || d.LastHTTPStatus != 422 || len(d.Errors[payload.FieldErrorMessage]) == 0 {
		t.Errorf("dead letter %+v", d)
	}
	// The sandbox's 422 names the candidate it refused: one request more sends
	// the other nine.
	if st := b.API.Stats(); st.Requests != 2 || st.DuplicateInvites != 0 {
		t.Errorf("sandbox %+v, want 2 requests", st)
	}
}

// failAfter is a source that fails after n records, as a producer that dies halfway.
type failAfter struct {
	producer.Source
	n int
}

func (f *failAfter) Next() (producer.Record, error) {
	if f.n == 0 {
		return producer.Record{}, errors.New("producer killed")
	}
	f.n--
	return f.Source.Next()
}

// TestProducerRerun: an import that dies halfway and is run again with the same
// batch id completes the batch with nothing enqueued twice; a third run is a no-op.
func TestProducerRerun(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{SegmentSize: 10})
	cands := pipelinetest.Candidates("rerun", 95)
	cands[40] = cands[3] // a duplicate within the batch
	cands[50] = payload.Candidate{Name: "nobody"}
	ctx := context.Background()
	job := task.Job{Target: pipelinetest.Target}
	_, err := b.Producer.Import(ctx, &failAfter{producer.NewSliceSource(cands), 57}, producer.Options{BatchID: "nightly", Job: job})
	if err == nil {
		t.Fatal("the first run should fail")
	}
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 7}})
	res, err := b.Producer.Import(ctx, producer.NewSliceSource(cands), producer.Options{BatchID: "nightly", Job: job})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Existing || res.AlreadyComplete {
		t.Errorf("second run %+v, want Existing", res)
	}
	bt := b.WaitDone("nightly", wait)
	b.CheckAccounting("nightly")
	s := bt.Status()
	if s.Total != 95 || s.Rejected != 1 || s.Accepted != 94 || s.Invited != 93 || s.SkippedDuplicate != 1 {
		t.Errorf("status %+v", s)
	}
	res, err = b.Producer.Import(ctx, producer.NewSliceSource(cands), producer.Options{BatchID: "nightly", Job: job})
	if err != nil || !res.AlreadyComplete {
		t.Errorf("third run: %+v %v", res, err)
	}
	if _, err := b.Producer.Import(ctx, producer.NewSliceSource(cands), producer.Options{
		BatchID: "nightly", Job: task.Job{Target: payload.Target{ProjectID: sandbox.DemoProjectID}},
	}); !errors.Is(err, producer.ErrUsage) {
		t.Errorf("re-run for another target: %v, want a usage error", err)
	}
	if st := b.API.Stats(); st.DuplicateInvites != 0 || st.Invites != 93 {
		t.Errorf("sandbox %+v", st)
	}
	if after := b.CheckAccounting("nightly").Status(); !reflect.DeepEqual(after, s) {
		t.Errorf("a no-op re-run changed the batch: %+v -> %+v", s, after)
	}
}

// TestReplayAfterRecovery: a sandbox failing every request exhausts the retries;
// once it recovers, a replay invites everyone, nobody twice, and a later import of
// the same people to the same target skips them.
func TestReplayAfterRecovery(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{Sandbox: sandbox.Config{Faults: sandbox.Faults{FailRate: 1}}})
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 5, MaxAttempts: 3}})
	cands := pipelinetest.Candidates("rec", 20)
	cands = append(cands, payload.Candidate{Email: "again+invitation_error@example.com"})
	res := b.Import("down", cands, nil)
	bt := b.WaitDone(res.BatchID, wait)
	b.CheckAccounting(res.BatchID)
	if bt.DeadLettered != 21 {
		t.Fatalf("status %+v", bt.Status())
	}
	for who, d := range b.DeadLetters(res.BatchID) {
		if d.Reason != payload.ReasonRetriesExhausted || d.Attempts != 3 || d.LastHTTPStatus < 500 || d.FirstFailedAt.After(d.LastFailedAt) {
			t.Errorf("%s: %+v", who, d)
		}
	}
	if err := b.API.SetFaults(sandbox.Faults{}); err != nil {
		t.Fatal(err)
	}
	rep, err := b.Replayer.Replay(context.Background(), deadletter.Options{Filter: store.Filter{BatchID: res.BatchID}})
	if err != nil {
		t.Fatal(err)
	}
	rb := b.WaitDone(rep.Batches[0], wait)
	b.CheckAccounting(rep.Batches[0])
	if rb.Invited != 20 || rb.DeadLettered != 1 {
		t.Fatalf("replay %+v", rb.Status())
	}
	again := b.DeadLetters(rep.Batches[0])["again+invitation_error@example.com"]
	if again == nil || again.Reason != payload.ReasonInvitationError || again.Attempts != 4 ||
		again.ReplayedFrom != store.DeadLetterID("down", 20) {
		t.Errorf("replayed failure %+v, want invitation_error with 3+1 attempts and its origin", again)
	}
	// A later import of the same people to the same target sends nobody again.
	later := b.Import("later", pipelinetest.Candidates("rec", 20), nil)
	lb := b.WaitDone(later.BatchID, wait)
	if lb.SkippedDuplicate != 20 {
		t.Errorf("later import %+v, want 20 skipped_duplicate", lb.Status())
	}
	if st := b.API.Stats(); st.DuplicateInvites != 0 || st.Invites != 20 {
		t.Errorf("sandbox %+v", st)
	}
	// --reinvite sends them again on purpose.
	re := b.Import("reinvite", pipelinetest.Candidates("rec", 2), &task.Job{Target: pipelinetest.Target, Reinvite: true})
	if rb := b.WaitDone(re.BatchID, wait); rb.Invited != 2 {
		t.Errorf("reinvite %+v", rb.Status())
	}
}

// TestPoisonTaskDoesNotBlock: an undecodable chunk is archived and the queue goes
// on. A chunk written by a newer producer (a payload version this build cannot
// read, as in a rolling upgrade) is not poison: it is handed back, untouched, for
// a newer worker, and does not block the queue either.
func TestPoisonTaskDoesNotBlock(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{})
	ctx := context.Background()
	const newer = `{"v":99,"batch_id":"x","candidates":[{"seq":0}]}`
	for id, body := range map[string]string{"poison": "{not json", "newer": newer} {
		if _, err := b.Queue.EnqueueContext(ctx, asynq.NewTask(task.TypeChunk, []byte(body)), asynq.Queue(task.QueueDefault), asynq.TaskID(id)); err != nil {
			t.Fatal(err)
		}
	}
	b.StartWorker(pipelinetest.WorkerOptions{})
	res := b.Import("after-poison", pipelinetest.Candidates("ok", 5), nil)
	if bt := b.WaitDone(res.BatchID, wait); bt.Invited != 5 {
		t.Errorf("status %+v", bt.Status())
	}
	insp := asynq.NewInspectorFromRedisClient(b.RDB)
	deadline := time.Now().Add(wait)
	for {
		info, err := insp.GetTaskInfo(task.QueueDefault, "poison")
		if err != nil {
			t.Fatal(err)
		}
		if info.State == asynq.TaskStateArchived {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the undecodable task is %s, want archived", info.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	info, err := insp.GetTaskInfo(task.QueueDefault, "newer")
	if err != nil {
		t.Fatal(err)
	}
	if info.State != asynq.TaskStateRetry || string(info.Payload) != newer {
		t.Errorf("the newer producer's task is %s with payload %s; want it waiting (retry) for a newer worker, untouched", info.State, info.Payload)
	}
}

// TestConcurrentBatchesSamePeople: two batches holding the same people run at the
// same time (a nightly import and a push from another service, say). Each person is
// invited once: one batch invites, the other records skipped_duplicate.
func TestConcurrentBatchesSamePeople(t *testing.T) {
	t.Parallel()
	b := pipelinetest.New(t, pipelinetest.Options{SegmentSize: 10, Sandbox: sandbox.Config{Seed: 2, Faults: sandbox.Faults{Latency: 50 * time.Millisecond, LatencyJitter: 50 * time.Millisecond}}})
	people := pipelinetest.Candidates("same", 40)
	first := b.Import("first", people, nil)
	second := b.Import("second", people, nil)
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 3}, Concurrency: 4})
	b.StartWorker(pipelinetest.WorkerOptions{Worker: worker.Config{ChunkSize: 3}, Concurrency: 4})
	x := b.WaitDone(first.BatchID, wait)
	y := b.WaitDone(second.BatchID, wait)
	b.CheckAccounting(first.BatchID)
	b.CheckAccounting(second.BatchID)
	if x.Invited+y.Invited != 40 || x.SkippedDuplicate+y.SkippedDuplicate != 40 {
		t.Errorf("first %+v\nsecond %+v\nwant 40 invited and 40 skipped between them", x.Status(), y.Status())
	}
	if st := b.API.Stats(); st.DuplicateInvites != 0 || st.Invites != 40 {
		t.Errorf("sandbox: %d invites, %d duplicates", st.Invites, st.DuplicateInvites)
	}
}
