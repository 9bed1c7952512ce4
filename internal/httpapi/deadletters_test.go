package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

// deadLetters imports n candidates as batchID and records each as a dead letter,
// every third a validation failure, the rest invitation errors.
func deadLetters(t *testing.T, tb *testBundle, batchID string, n int) {
	t.Helper()
	deadLettersOf(t, tb, batchID, "", n)
}

// deadLettersOf is deadLetters in a batch that owner creates ("": no owner, an
// admin's only).
func deadLettersOf(t *testing.T, tb *testBundle, batchID, owner string, n int) {
	t.Helper()
	ctx := context.Background()
	cands := pipelinetest.Candidates(batchID, n)
	if _, err := tb.Producer.Import(ctx, producer.NewSliceSource(cands), producer.Options{BatchID: batchID, Job: task.Job{Target: pipelinetest.Target}, Owner: owner}); err != nil {
		t.Fatal(err)
	}
	recs := make([]store.Record, n)
	for i, c := range cands {
		reason := payload.ReasonInvitationError
		if i%3 == 0 {
			reason = payload.ReasonValidation
		}
		recs[i] = store.Record{Seq: int64(i), Candidate: c, Outcome: payload.OutcomeDeadLettered, DeadLetter: &store.DeadLetter{
			ID: store.DeadLetterID(batchID, int64(i)), BatchID: batchID, Reason: reason, Candidate: c, Target: pipelinetest.Target,
			Errors: map[string]json.RawMessage{"invitation_error_message": json.RawMessage(`"already invited"`)}, Attempts: 1, LastHTTPStatus: 200,
		}}
	}
	if _, err := tb.Store.RecordOutcomes(ctx, batchID, pipelinetest.Target, recs); err != nil {
		t.Fatal(err)
	}
}

// TestDeadLetterRoutes: list with filters and cursor pages, replay, and purge
// only with confirm=true.
func TestDeadLetterRoutes(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	deadLetters(t, tb, "dl-a", 7)
	deadLetters(t, tb, "dl-b", 5)

	list := func(query string) []string {
		var ids []string
		target := "/v1/deadletters?" + query
		for range 50 {
			var page httpapi.DeadLetterList
			decode(t, tb.do(t, req{method: "GET", target: target}), &page)
			for _, d := range page.DeadLetters {
				ids = append(ids, d.ID)
			}
			if page.NextCursor == "" {
				return ids
			}
			target = "/v1/deadletters?" + query + "&cursor=" + page.NextCursor
		}
		t.Fatal("no end of pages")
		return nil
	}
	if got := list("limit=3"); len(got) != 12 || got[0] != "dl-a:0" || got[11] != "dl-b:4" {
		t.Errorf("all, in pages of 3: %v", got)
	}
	if got := list("batch_id=dl-b&reason=validation"); fmt.Sprint(got) != "[dl-b:0 dl-b:3]" {
		t.Errorf("filtered: %v", got)
	}
	for _, bad := range []string{"reason=sad", "batch_id=a%20b", "limit=1001", "cursor=!!", "batch=dl-a"} {
		errorOf(t, tb.do(t, req{method: "GET", target: "/v1/deadletters?" + bad}), http.StatusBadRequest)
	}

	// Replay dl-a's validation failures to a corrected target.
	body := `{"batch_id":"dl-a","reason":"validation","com_interview_set_id":"` + sandbox.DemoInterviewSetID + `"}`
	var rp httpapi.Replayed
	decode(t, tb.do(t, req{method: "POST", target: "/v1/deadletters/replay", body: body}), &rp)
	if rp.Replayed != 3 || len(rp.Batches) != 1 {
		t.Fatalf("replay: %+v", rp)
	}
	if b, err := tb.Store.Batch(context.Background(), rp.Batches[0]); err != nil || b.Accepted != 3 || fmt.Sprint(b.ReplayOf) != "[dl-a]" {
		t.Errorf("replay batch %+v %v", b, err)
	}
	for _, bad := range []string{`{"reason":"sad"}`, `{"batch":"x"}`, `{"com_project_id":"nope"}`, `[`} {
		errorOf(t, tb.do(t, req{method: "POST", target: "/v1/deadletters/replay", body: bad}), http.StatusBadRequest)
	}
	errorOf(t, tb.do(t, req{method: "POST", target: "/v1/deadletters/replay", body: `{}`, header: []string{"Content-Type", "text/csv"}}), http.StatusUnsupportedMediaType)

	// Purge: nothing without confirm=true, then the filtered ones.
	e := errorOf(t, tb.do(t, req{method: "DELETE", target: "/v1/deadletters?batch_id=dl-b"}), http.StatusBadRequest)
	if e.Code != httpapi.CodeConfirmationRequired || !strings.Contains(e.Message, "would purge 5") || !hasField(e, "confirm") {
		t.Errorf("unconfirmed purge: %+v", e)
	}
	var pg httpapi.Purged
	decode(t, tb.do(t, req{method: "DELETE", target: "/v1/deadletters?batch_id=dl-b&confirm=true"}), &pg)
	if pg.Purged != 5 {
		t.Errorf("purged %d", pg.Purged)
	}
	if got := list(""); len(got) != 4 {
		t.Errorf("left: %v", got)
	}
}

// TestHealth: /healthz always; /readyz while Redis answers and sending is not
// stopped for the configured key; and a server without auth on loopback.
func TestHealth(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{InsecureNoAuth: true, KeyID: "key-1"})
	for _, p := range []string{"/healthz", "/readyz", "/v1/batches"} {
		if rec := tb.do(t, req{method: "GET", target: p, header: []string{"Authorization", ""}}); rec.Code != http.StatusOK {
			t.Errorf("%s: %d %s", p, rec.Code, rec.Body)
		}
	}
	ctx := context.Background()
	if err := tb.Store.StopAuth(ctx, "other-key", "fl_live_other.****", 401, "bad key"); err != nil {
		t.Fatal(err)
	}
	if rec := tb.do(t, req{method: "GET", target: "/readyz"}); rec.Code != http.StatusOK {
		t.Errorf("another key's stop: %d", rec.Code)
	}
	if err := tb.Store.StopAuth(ctx, "key-1", "fl_live_abcd.****", 403, "key inactive"); err != nil {
		t.Fatal(err)
	}
	if rec := tb.do(t, req{method: "GET", target: "/readyz"}); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), httpapi.ReasonAuthStopped) {
		t.Errorf("auth stop: %d %s", rec.Code, rec.Body)
	}
	// The batch status reports the configured key's stop.
	tb.Import("stopped", pipelinetest.Candidates("s", 1), &task.Job{Target: pipelinetest.Target})
	var st store.Status
	decode(t, tb.do(t, req{method: "GET", target: "/v1/batches/stopped"}), &st)
	if st.AuthStop == nil || st.AuthStop.Status != 403 {
		t.Errorf("status %+v", st)
	}

	tb.Redis.Kill()
	if rec := tb.do(t, req{method: "GET", target: "/readyz"}); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), httpapi.ReasonRedis) {
		t.Errorf("Redis down: %d %s", rec.Code, rec.Body)
	}
	if rec := tb.do(t, req{method: "GET", target: "/healthz"}); rec.Code != http.StatusOK {
		t.Errorf("healthz with Redis down: %d", rec.Code)
	}
	if e := errorOf(t, tb.do(t, req{method: "GET", target: "/v1/batches/stopped"}), http.StatusServiceUnavailable); e.Code != httpapi.CodeNotReady || !strings.Contains(e.Message, "request id") {
		t.Errorf("503: %+v", e)
	}
	if tb.logs.FilterMessage("Redis cannot be reached").Len() == 0 {
		t.Error("the 503's cause was not logged")
	}
}

// TestReplayRequestErrors: a replay body that cannot be meant is refused whole,
// with the status and field at fault, and replays nothing: one over 64 KiB is a
// 413, trailing data after the object a 400 (not a replay of what came first).
func TestReplayRequestErrors(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	deadLetters(t, tb, "rq-a", 3)
	big := `{"batch_id":"rq-a"` + strings.Repeat(" ", 64<<10) + `}`
	tests := []struct {
		name, body string
		status     int
		code       string
		fields     []string // exactly the details' fields
	}{
		{"over 64 KiB", big, http.StatusRequestEntityTooLarge, httpapi.CodeBodyTooLarge, nil},
		{"trailing object", `{"batch_id":"rq-a"}{"batch_id":"x"}`, http.StatusBadRequest, httpapi.CodeInvalidRequest, []string{"body"}},
		{"trailing garbage", `{} x`, http.StatusBadRequest, httpapi.CodeInvalidRequest, []string{"body"}},
		{"malformed", `{"batch_id":`, http.StatusBadRequest, httpapi.CodeInvalidRequest, []string{"body"}},
		{"job post alone", `{"batch_id":"rq-a","com_job_post_id":"` + sandbox.DemoInterviewSetID + `"}`, http.StatusBadRequest, httpapi.CodeInvalidRequest, []string{"com_interview_set_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := errorOf(t, tb.do(t, req{method: "POST", target: "/v1/deadletters/replay", body: tt.body}), tt.status)
			var fields []string
			for _, d := range e.Details {
				fields = append(fields, d.Field)
			}
			if e.Code != tt.code || fmt.Sprint(fields) != fmt.Sprint(tt.fields) {
				t.Errorf("%+v, want code %s and fields %v", e, tt.code, tt.fields)
			}
		})
	}
	var page httpapi.DeadLetterList
	decode(t, tb.do(t, req{method: "GET", target: "/v1/deadletters?batch_id=rq-a"}), &page)
	if len(page.DeadLetters) != 3 {
		t.Errorf("%d dead letters left of 3: a refused request replayed some", len(page.DeadLetters))
	}
}
