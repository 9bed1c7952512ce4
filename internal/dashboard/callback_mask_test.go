package dashboard_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/dashboard"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/producer"
)

// TestCallbackShownMasked: a batch's callback is shown with its URL's path and
// query masked (they often hold a secret) and its last error as a category, not
// the addresses and ports the delivery met.
func TestCallbackShownMasked(t *testing.T) {
	t.Parallel()
	tb := setup(t, dashboard.Config{})
	opts := producer.Options{BatchID: "cb", Job: task.Job{Target: pipelinetest.Target}, CallbackURL: "https://h.example/secret-token"}
	if _, err := tb.Producer.Import(context.Background(), producer.NewSliceSource(pipelinetest.Candidates("cb", 2)), opts); err != nil {
		t.Fatal(err)
	}
	if err := tb.Store.RecordCallback(context.Background(), "cb", store.CallbackAttempt{
		Err: errors.New("POST the callback: dial tcp 203.0.113.9:8443: connect: connection refused")}); err != nil {
		t.Fatal(err)
	}
	c := tb.client()
	c.signIn(t, token1)
	page := c.get(t, "/batches/cb").Body.String()
	must(t, strings.Contains(page, "https://h.example/****"), "the batch page does not show the masked callback URL")
	for _, path := range []string{"/", "/batches/cb", "/batches/cb/deadletters"} {
		body := c.get(t, path).Body.String()
		for _, leak := range []string{"secret-token", "203.0.113.9", "8443"} {
			must(t, !strings.Contains(body, leak), "%s shows %q", path, leak)
		}
	}
}
