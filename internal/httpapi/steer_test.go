package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
)

// openBatch creates a sealed batch of 3 candidates owned by owner, with no
// worker to send it: it stays queued.
func openBatch(t *testing.T, tb *testBundle, id, owner string) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := tb.Store.CreateBatch(ctx, store.Meta{ID: id, Job: task.Job{Target: pipelinetest.Target}, SegmentSize: 3, Owner: owner}); err != nil {
		t.Fatal(err)
	}
	var cs []task.Candidate
	for i, c := range pipelinetest.Candidates(id, 3) {
		cs = append(cs, task.Candidate{Seq: int64(i), Candidate: c})
	}
	if _, err := tb.Store.AdmitSegment(ctx, id, 0, cs, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := tb.Store.Seal(ctx, id, 1, ""); err != nil {
		t.Fatal(err)
	}
}

// TestSteerBatch: pause, resume and cancel answer 202 with the status and are
// idempotent; another owner's batch is a 404 and is left as it was; a done
// batch cannot be cancelled (409 batch_done).
func TestSteerBatch(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{AuthTokens: ownerTokens(t)})
	openBatch(t, tb, "st-a", "alice")
	steer := func(who, step, id string) store.Status {
		t.Helper()
		rec := tb.do(t, as(who, req{method: "POST", target: "/v1/batches/" + id + "/" + step}))
		if rec.Code != http.StatusAccepted {
			t.Fatalf("%s %s of %s: %d %s", who, step, id, rec.Code, rec.Body)
		}
		var st store.Status
		decode(t, rec, &st)
		return st
	}
	for _, step := range []string{"pause", "resume", "cancel"} {
		rec := tb.do(t, as("bob", req{method: "POST", target: "/v1/batches/st-a/" + step}))
		if e := errorOf(t, rec, http.StatusNotFound); e.Code != httpapi.CodeNotFound {
			t.Errorf("bob's %s of alice's batch: %+v, want not_found", step, e)
		}
	}
	for range 2 {
		if st := steer("alice", "pause", "st-a"); st.State != store.StatePaused {
			t.Errorf("after pause: state %s", st.State)
		}
	}
	for range 2 {
		if st := steer("alice", "resume", "st-a"); st.State != store.StateQueued {
			t.Errorf("after resume: state %s", st.State)
		}
	}
	for _, who := range []string{"alice", "root"} {
		st := steer(who, "cancel", "st-a")
		if st.State != store.StateCancelled || st.Cancelled != 3 || st.Pending != 0 || !st.Done() {
			t.Errorf("%s's cancel: %+v, want cancelled, 3 cancelled, done", who, st)
		}
	}
	tb.CheckAccounting("st-a")

	// A done batch: its candidates recorded.
	openBatch(t, tb, "st-done", "alice")
	var recs []store.Record
	for i, c := range pipelinetest.Candidates("st-done", 3) {
		recs = append(recs, store.Record{Seq: int64(i), Outcome: "invited", Candidate: c})
	}
	if _, err := tb.Store.RecordOutcomes(context.Background(), "st-done", pipelinetest.Target, recs); err != nil {
		t.Fatal(err)
	}
	rec := tb.do(t, as("alice", req{method: "POST", target: "/v1/batches/st-done/cancel"}))
	if e := errorOf(t, rec, http.StatusConflict); e.Code != httpapi.CodeBatchDone {
		t.Errorf("cancel of a done batch: %+v, want batch_done", e)
	}
	if st := steer("alice", "pause", "st-done"); st.State != store.StateDone {
		t.Errorf("pause of a done batch: state %s, want done", st.State)
	}
	if e := errorOf(t, tb.do(t, as("alice", req{method: "POST", target: "/v1/batches/nope/pause"})), http.StatusNotFound); e.Code != httpapi.CodeNotFound {
		t.Errorf("pause of an unknown batch: %+v", e)
	}
}
