package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TestPostExpiredBatchID: a batch_id whose batch was done and expired
// (BULKINVITE_BATCH_RETENTION) is a 410 batch_expired saying when it was used;
// nothing is imported under it. Its status, rejects and events are a 410 too.
func TestPostExpiredBatchID(t *testing.T) {
	t.Parallel()
	tb := setupWith(t, httpapi.Config{}, pipelinetest.Options{Store: store.Config{Retention: 300 * time.Millisecond}})
	ctx := context.Background()
	cands := pipelinetest.Candidates("old", 1)
	tb.Import("old", cands, nil)
	if _, err := tb.Store.RecordOutcomes(ctx, "old", pipelinetest.Target, []store.Record{{Seq: 0, Outcome: payload.OutcomeInvited, Candidate: cands[0]}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, err := tb.Store.Batch(ctx, "old"); !errors.Is(err, store.ErrBatchExpired); _, err = tb.Store.Batch(ctx, "old") {
		if time.Now().After(deadline) {
			t.Fatalf("the batch never expired: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, path := range []string{"/v1/batches/old", "/v1/batches/old/rejects", "/v1/batches/old/events"} {
		if e := errorOf(t, tb.do(t, req{method: http.MethodGet, target: path}), http.StatusGone); e.Code != httpapi.CodeBatchExpired {
			t.Errorf("GET %s: %+v, want batch_expired", path, e)
		}
	}
	body := `{"com_interview_set_id":"` + sandbox.DemoInterviewSetID + `","batch_id":"old","candidates":[{"email":"new@example.com"}]}`
	e := errorOf(t, tb.do(t, req{method: http.MethodPost, target: "/v1/batches", body: body}), http.StatusGone)
	if e.Code != httpapi.CodeBatchExpired || !strings.Contains(e.Message, "batch id old was used on ") || !hasField(e, "batch_id") {
		t.Errorf("error %+v, want batch_expired saying when old was used, naming batch_id", e)
	}
	if _, err := tb.Store.Batch(ctx, "old"); !errors.Is(err, store.ErrBatchExpired) {
		t.Errorf("after the refused POST: %v, want the batch still expired", err)
	}
}
