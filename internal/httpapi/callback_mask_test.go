package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// loggedText is every log line so far, message and fields, as one string.
func (tb *testBundle) loggedText() string {
	var b strings.Builder
	for _, e := range tb.logs.All() {
		line, _ := json.Marshal(e.ContextMap())
		b.WriteString(e.Message + string(line) + "\n")
	}
	return b.String()
}

// TestCallbackURLMasked: a callback_url's path and query (often a secret) are
// not shown back: the status shows https://host/****, and neither the answers
// nor the log hold the path; the stored URL stays whole for delivery.
func TestCallbackURLMasked(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{CallbackSigning: true})
	const hook = "https://h.example/secret-token?sig=hush"
	body := `{"com_interview_set_id":"` + sandbox.DemoInterviewSetID + `","candidates":[{"email":"a@example.com"}],"callback_url":"` + hook + `","batch_id":"cb-m"}`
	answers := []string{}
	rec := tb.do(t, req{method: "POST", target: "/v1/batches", body: body})
	if rec.Code != http.StatusAccepted {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	answers = append(answers, rec.Body.String())
	err := tb.Store.RecordCallback(context.Background(), "cb-m", store.CallbackAttempt{HTTPStatus: 0,
		Err: errors.New("POST the callback: dial tcp 203.0.113.9:8443: connect: connection refused")})
	if err != nil {
		t.Fatal(err)
	}
	var st store.Status
	rec = tb.do(t, req{method: "GET", target: "/v1/batches/cb-m"})
	decode(t, rec, &st)
	answers = append(answers, rec.Body.String(), tb.do(t, req{method: "GET", target: "/v1/batches"}).Body.String())
	if st.Callback == nil || st.Callback.URL != "https://h.example/****" {
		t.Errorf("callback shown as %+v", st.Callback)
	}
	for _, a := range append(answers, tb.loggedText()) {
		for _, secret := range []string{"secret-token", "hush", "203.0.113.9", "8443"} {
			if strings.Contains(a, secret) {
				t.Errorf("%q is shown: %s", secret, a)
			}
		}
	}
	if b, err := tb.Store.Batch(context.Background(), "cb-m"); err != nil || b.CallbackURL != hook {
		t.Errorf("stored URL %q, %v; want it whole", b.CallbackURL, err)
	}
}
