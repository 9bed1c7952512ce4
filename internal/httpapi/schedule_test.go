package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// TestPostScheduled: not_before and send_window in a JSON body, or as query
// parameters of a CSV body, are recorded with the batch, whose status says
// scheduled with its start time and the window's next opening (checked against
// the OpenAPI document by do).
func TestPostScheduled(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	start := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	body := `{"com_interview_set_id":"` + sandbox.DemoInterviewSetID + `","batch_id":"json","not_before":"` + start.Format(time.RFC3339) +
		`","send_window":"sat-fri 00:00-24:00 America/New_York","candidates":[{"email":"a@example.com"}]}`
	if rec := tb.do(t, req{method: "POST", target: "/v1/batches", body: body}); rec.Code != http.StatusAccepted {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	q := url.Values{"com_interview_set_id": {sandbox.DemoInterviewSetID}, "batch_id": {"csv"}, "not_before": {start.Format(time.RFC3339)}}
	if rec := tb.do(t, req{method: "POST", target: "/v1/batches?" + q.Encode(), body: "email\nb@example.com\n", header: []string{"Content-Type", "text/csv"}}); rec.Code != http.StatusAccepted {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	for id, window := range map[string]string{"json": "00:00-24:00 America/New_York", "csv": ""} {
		var st store.Status
		decode(t, tb.do(t, req{method: "GET", target: "/v1/batches/" + id}), &st)
		if st.State != store.StateScheduled || st.NotBefore == nil || !st.NotBefore.Equal(start) || st.SendWindow != window {
			t.Errorf("%s: state %s, not_before %v, send_window %q; want scheduled, %s, %q", id, st.State, st.NotBefore, st.SendWindow, start, window)
		}
		if (window != "") != (st.NextWindow != nil) || st.NextWindow != nil && !st.NextWindow.Equal(start) {
			t.Errorf("%s: next_window %v, want %v with a window", id, st.NextWindow, start)
		}
	}
}
