package httpapi_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
)

// readEvents reads a batch's events as who ("" for the default token).
func readEvents(t *testing.T, tb *testBundle, who, id string) []httpapi.Event {
	t.Helper()
	r := req{method: "GET", target: "/v1/batches/" + id + "/events"}
	if who != "" {
		r = as(who, r)
	}
	rec := tb.do(t, r)
	if rec.Code != http.StatusOK {
		t.Fatalf("events of %s as %q: %d %s", id, who, rec.Code, rec.Body)
	}
	var l httpapi.EventList
	decode(t, rec, &l)
	if l.Events == nil {
		t.Fatalf("events of %s: %s, want an events array", id, rec.Body)
	}
	return l.Events
}

// atPattern is an event's time: RFC 3339 in UTC with milliseconds.
var atPattern = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// TestBatchEvents: GET /v1/batches/{id}/events gives who did what to the
// batch: its creation by the token, from the client's address (the trusted
// proxy header's when set) with the import's counts; a replay on the source
// batch (how many, into which batch) and as the replay batch's creation; a
// purge with how many; every time in RFC 3339 with milliseconds.
func TestBatchEvents(t *testing.T) {
	t.Parallel()
	throttle := httpapi.NewAuthThrottle(httpapi.ThrottleConfig{ProxyHeader: "X-Forwarded-For"})
	tb := setup(t, httpapi.Config{AuthTokens: ownerTokens(t), FailedAuth: throttle})
	is := sandbox.DemoInterviewSetID
	body := strings.Replace(batchBody("ev-a", is, 3), `"cb-ev-a@example.com"`, `"x@"`, 1)
	r := as("alice", req{method: "POST", target: "/v1/batches", body: body, remote: "10.0.0.2:4000"})
	r.header = append(r.header, "X-Forwarded-For", "198.51.100.7, 203.0.113.9")
	if rec := tb.do(t, r); rec.Code != http.StatusAccepted {
		t.Fatalf("post: %d %s", rec.Code, rec.Body)
	}
	evs := readEvents(t, tb, "alice", "ev-a")
	if len(evs) != 1 || evs[0].What != "created" || evs[0].By != "alice" || evs[0].Detail != "source http, from 203.0.113.9; 2 accepted, 1 rejected" ||
		!atPattern.MatchString(evs[0].At) {
		t.Errorf("events of a new batch: %+v", evs)
	}

	deadLettersOf(t, tb, "ev-dl", "alice", 3)
	var rp httpapi.Replayed
	decode(t, tb.do(t, as("alice", req{method: "POST", target: "/v1/deadletters/replay", body: `{"batch_id":"ev-dl","reason":"invitation_error"}`})), &rp)
	if rp.Replayed != 2 || len(rp.Batches) != 1 {
		t.Fatalf("replay: %+v", rp)
	}
	if rec := tb.do(t, as("alice", req{method: "DELETE", target: "/v1/deadletters?batch_id=ev-dl&confirm=true"})); rec.Code != http.StatusOK {
		t.Fatalf("purge: %d %s", rec.Code, rec.Body)
	}
	evs = readEvents(t, tb, "alice", "ev-dl")
	var got []string
	for _, e := range evs {
		got = append(got, e.What+" by "+e.By+": "+e.Detail)
	}
	want := []string{"created by alice: 3 accepted, 0 rejected", "replayed by alice: replayed 2 dead letters into batch " + rp.Batches[0], "purged by alice: purged 1 dead letter"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events of the replayed and purged batch:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	evs = readEvents(t, tb, "root", rp.Batches[0])
	if len(evs) != 1 || evs[0].By != "alice" || evs[0].Detail != "replay of dead letters of batch ev-dl; 2 accepted, 0 rejected" {
		t.Errorf("events of the replay batch: %+v", evs)
	}

	e := errorOf(t, tb.do(t, as("alice", req{method: "GET", target: "/v1/batches/ev-a/events?cursor=x"})), http.StatusBadRequest)
	if e.Code != httpapi.CodeInvalidRequest || !hasField(e, "cursor") {
		t.Errorf("a parameter: %+v, want invalid_request naming it", e)
	}
	if e := errorOf(t, tb.do(t, as("alice", req{method: "GET", target: "/v1/batches/no-such/events"})), http.StatusNotFound); e.Code == "" {
		t.Errorf("unknown batch: %+v", e)
	}
}
