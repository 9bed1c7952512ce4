package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// owners are two submitters and an admin.
var owners = map[string]string{
	"alice": "alice:submit+read+operate:owner-test-alice-4c7e1a9b0d3f6e28",
	"bob":   "bob:submit+read+operate:owner-test-bob-8e2d5b1c7a9f0e3641",
	"root":  "root:admin:owner-test-root-1f6a3d9c8b2e7f05a4c",
}

func ownerTokens(t *testing.T) []auth.Token {
	t.Helper()
	toks, err := auth.ParseEnv(owners["alice"] + "," + owners["bob"] + "," + owners["root"])
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

// as sends r with the named owner's token.
func as(name string, r req) req {
	e := owners[name]
	r.header = append(r.header, "Authorization", "Bearer "+e[strings.LastIndexByte(e, ':')+1:])
	return r
}

// batchBody is a JSON batch for interview set is with n candidates under id.
func batchBody(id, is string, n int) string {
	var c []string
	for i := range n {
		c = append(c, `{"name":"C`+string(rune('a'+i))+`","email":"c`+string(rune('a'+i))+`-`+id+`@example.com"}`)
	}
	return `{"com_interview_set_id":"` + is + `","batch_id":"` + id + `","send_invite":false,"candidates":[` + strings.Join(c, ",") + `]}`
}

func listedBatches(t *testing.T, tb *testBundle, who string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	cursor := ""
	for {
		var l httpapi.BatchList
		rec := tb.do(t, as(who, req{method: "GET", target: "/v1/batches?limit=1" + cursor}))
		decode(t, rec, &l)
		for _, b := range l.Batches {
			out[b.BatchID] = true
		}
		if l.NextCursor == "" {
			return out
		}
		cursor = "&cursor=" + l.NextCursor
	}
}

func listedDeadLetters(t *testing.T, tb *testBundle, who, query string) map[string]int {
	t.Helper()
	out := map[string]int{}
	var l httpapi.DeadLetterList
	decode(t, tb.do(t, as(who, req{method: "GET", target: "/v1/deadletters" + query})), &l)
	for _, d := range l.DeadLetters {
		out[d.BatchID]++
	}
	return out
}

// TestIsolationBetweenTokens: a token without admin sees and acts on its own
// batches only — another owner's batch and dead letters are a 404 on every
// route and absent from every list, its batch id a 409 that names nothing of
// it — while the admin sees both.
func TestIsolationBetweenTokens(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{AuthTokens: ownerTokens(t)})
	is := sandbox.DemoInterviewSetID
	if rec := tb.do(t, as("alice", req{method: "POST", target: "/v1/batches", body: batchBody("iso-a", is, 2)})); rec.Code != http.StatusAccepted {
		t.Fatalf("alice's batch: %d %s", rec.Code, rec.Body)
	}
	deadLettersOf(t, tb, "iso-a-dl", "alice", 3)
	rj := strings.Replace(batchBody("iso-a-rj", is, 3), `"cb-iso-a-rj@example.com"`, `"alice-3@"`, 1)
	if rec := tb.do(t, as("alice", req{method: "POST", target: "/v1/batches", body: rj})); rec.Code != http.StatusAccepted || !strings.Contains(rec.Body.String(), `"rejected":1`) {
		t.Fatalf("alice's batch with a reject: %d %s", rec.Code, rec.Body)
	}
	deadLettersOf(t, tb, "iso-b-dl", "bob", 2)

	notFound := map[string]req{
		"GET /v1/batches/{id}":     {method: "GET", target: "/v1/batches/iso-a"},
		"GET /v1/batches/{id} dl":  {method: "GET", target: "/v1/batches/iso-a-dl"},
		"GET /v1/deadletters":      {method: "GET", target: "/v1/deadletters?batch_id=iso-a-dl"},
		"replay":                   {method: "POST", target: "/v1/deadletters/replay", body: `{"batch_id":"iso-a-dl"}`},
		"purge, asking how many":   {method: "DELETE", target: "/v1/deadletters?batch_id=iso-a-dl"},
		"purge":                    {method: "DELETE", target: "/v1/deadletters?batch_id=iso-a-dl&confirm=true"},
		"purge one reason":         {method: "DELETE", target: "/v1/deadletters?batch_id=iso-a-dl&reason=validation&confirm=true"},
		"replay to another target": {method: "POST", target: "/v1/deadletters/replay", body: `{"batch_id":"iso-a-dl","com_interview_set_id":"` + is + `"}`},
		"rejects":                  {method: "GET", target: "/v1/batches/iso-a-rj/rejects"},
		"events":                   {method: "GET", target: "/v1/batches/iso-a/events"},
		"events dl":                {method: "GET", target: "/v1/batches/iso-a-dl/events"},
		"pause":                    {method: "POST", target: "/v1/batches/iso-a/pause"},
		"resume":                   {method: "POST", target: "/v1/batches/iso-a/resume"},
		"cancel":                   {method: "POST", target: "/v1/batches/iso-a/cancel"},
	}
	for name, r := range notFound {
		rec := tb.do(t, as("bob", r))
		if rec.Code != http.StatusNotFound || strings.Contains(rec.Body.String(), "alice") || strings.Contains(rec.Body.String(), "3") {
			t.Errorf("bob, %s: %d %s", name, rec.Code, rec.Body)
		}
	}
	// Candidates: each finds a person in its own batches only, the admin in all.
	for who, want := range map[string]int{"bob": 0, "alice": 1, "root": 1} {
		var l httpapi.CandidateList
		decode(t, tb.do(t, as(who, req{method: "GET", target: "/v1/candidates?email=CA-iso-a@example.com"})), &l)
		if len(l.Candidates) != want || want == 1 && l.Candidates[0].BatchID != "iso-a" {
			t.Errorf("%s finds ca-iso-a@example.com in %+v, want %d", who, l.Candidates, want)
		}
	}
	if got := listedBatches(t, tb, "bob"); got["iso-a"] || got["iso-a-dl"] || !got["iso-b-dl"] {
		t.Errorf("bob lists %v", got)
	}
	if got := listedDeadLetters(t, tb, "bob", ""); got["iso-a-dl"] != 0 || got["iso-b-dl"] != 2 {
		t.Errorf("bob lists dead letters %v", got)
	}
	// Another owner's batch id, with its target or another: a 409 naming nothing of it.
	for _, target := range []string{is, pipelinetest.Target.InterviewSetID, "019c5ea9-0000-7000-8000-000000000001"} {
		rec := tb.do(t, as("bob", req{method: "POST", target: "/v1/batches", body: batchBody("iso-a", target, 1)}))
		e := errorOf(t, rec, http.StatusConflict)
		if e.Code != httpapi.CodeBatchConflict || strings.Contains(rec.Body.String(), is) || strings.Contains(rec.Body.String(), "alice") {
			t.Errorf("bob posts alice's batch id for %s: %s", target, rec.Body)
		}
	}
	// Nothing of alice's was touched: her dead letters are all there.
	if got := listedDeadLetters(t, tb, "alice", "?batch_id=iso-a-dl"); got["iso-a-dl"] != 3 {
		t.Errorf("alice's dead letters after bob's tries: %v", got)
	}
	if got := listedBatches(t, tb, "alice"); !got["iso-a"] || !got["iso-a-dl"] || got["iso-b-dl"] {
		t.Errorf("alice lists %v", got)
	}
	if rec := tb.do(t, as("alice", req{method: "GET", target: "/v1/batches/iso-b-dl"})); rec.Code != http.StatusNotFound {
		t.Errorf("alice reads bob's batch: %d", rec.Code)
	}
	for _, who := range []string{"alice", "root"} {
		if got, _ := readRejects(t, tb, who, "iso-a-rj", 10); len(got) != 1 || !strings.Contains(got[0].Reason, "alice-3@") {
			t.Errorf("%s reads alice's rejects: %v", who, got)
		}
		if got := readEvents(t, tb, who, "iso-a"); len(got) != 1 || got[0].What != "created" || got[0].By != "alice" {
			t.Errorf("%s reads alice's events: %+v", who, got)
		}
	}
	// The admin sees and acts on both.
	if got := listedBatches(t, tb, "root"); !got["iso-a"] || !got["iso-a-dl"] || !got["iso-b-dl"] {
		t.Errorf("root lists %v", got)
	}
	if got := listedDeadLetters(t, tb, "root", ""); got["iso-a-dl"] != 3 || got["iso-b-dl"] != 2 {
		t.Errorf("root lists dead letters %v", got)
	}
	for _, id := range []string{"iso-a", "iso-b-dl"} {
		if rec := tb.do(t, as("root", req{method: "GET", target: "/v1/batches/" + id})); rec.Code != http.StatusOK {
			t.Errorf("root reads %s: %d %s", id, rec.Code, rec.Body)
		}
	}
	var st struct{ Accepted int }
	decode(t, tb.do(t, as("alice", req{method: "GET", target: "/v1/batches/iso-a"})), &st)
	if st.Accepted != 2 {
		t.Errorf("alice's batch took bob's candidates: accepted %d, want 2", st.Accepted)
	}
	if rec := tb.do(t, as("root", req{method: "DELETE", target: "/v1/deadletters?batch_id=iso-b-dl&confirm=true"})); rec.Code != http.StatusOK {
		t.Errorf("root purges bob's dead letters: %d %s", rec.Code, rec.Body)
	}
	if got := readEvents(t, tb, "bob", "iso-b-dl"); len(got) != 2 || got[1].What != "purged" || got[1].By != "root" || got[1].Detail != "purged 2 dead letters" {
		t.Errorf("bob reads his batch's events after root's purge: %+v", got)
	}
	// Alice replays her own: the replay batch is hers.
	var rp httpapi.Replayed
	decode(t, tb.do(t, as("alice", req{method: "POST", target: "/v1/deadletters/replay", body: `{"batch_id":"iso-a-dl"}`})), &rp)
	if rp.Replayed != 3 || len(rp.Batches) != 1 {
		t.Fatalf("alice's replay: %+v", rp)
	}
	for who, want := range map[string]int{"alice": http.StatusOK, "bob": http.StatusNotFound, "root": http.StatusOK} {
		if rec := tb.do(t, as(who, req{method: "GET", target: "/v1/batches/" + rp.Batches[0]})); rec.Code != want {
			t.Errorf("%s reads alice's replay batch: %d, want %d", who, rec.Code, want)
		}
	}
}

// TestBatchIDSquatting: B's batch under an id does not swallow A's later import
// under it: A gets a 409, not 202 existing:true with B's one candidate.
func TestBatchIDSquatting(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{AuthTokens: ownerTokens(t)})
	is := sandbox.DemoInterviewSetID
	if rec := tb.do(t, as("bob", req{method: "POST", target: "/v1/batches", body: batchBody("nightly-2026-12-08", is, 1)})); rec.Code != http.StatusAccepted {
		t.Fatalf("bob: %d %s", rec.Code, rec.Body)
	}
	rec := tb.do(t, as("alice", req{method: "POST", target: "/v1/batches", body: batchBody("nightly-2026-12-08", is, 3)}))
	e := errorOf(t, rec, http.StatusConflict)
	if e.Code != httpapi.CodeBatchConflict || strings.Contains(e.Message, "bob") {
		t.Errorf("alice's import under bob's id: %s", rec.Body)
	}
}

// TestBatchIDRepostedWithAnotherBody: a batch id names one body. Its owner's
// re-post of the same body is the same batch (202, existing); with other
// candidates it is a 409 batch_id_conflict that adds nothing, not a 202 that
// drops the new candidates unsent.
func TestBatchIDRepostedWithAnotherBody(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{AuthTokens: ownerTokens(t)})
	is := sandbox.DemoInterviewSetID
	post := func(n int) *httptest.ResponseRecorder {
		return tb.do(t, as("alice", req{method: "POST", target: "/v1/batches", body: batchBody("rp-a", is, n)}))
	}
	for i := range 2 {
		var a httpapi.Accepted
		rec := post(2)
		if rec.Code != http.StatusAccepted {
			t.Fatalf("post %d: %d %s", i, rec.Code, rec.Body)
		}
		decode(t, rec, &a)
		if a.Existing != (i == 1) || a.Accepted != 2 {
			t.Errorf("post %d: %+v", i, a)
		}
	}
	rec := post(3)
	e := errorOf(t, rec, http.StatusConflict)
	if e.Code != httpapi.CodeBatchConflict || len(e.Details) != 1 || e.Details[0].Field != "batch_id" || !strings.Contains(e.Details[0].Message, "other candidates") {
		t.Errorf("re-post with a third candidate: %s", rec.Body)
	}
	var st store.Status
	decode(t, tb.do(t, as("alice", req{method: "GET", target: "/v1/batches/rp-a"})), &st)
	if st.Accepted != 2 {
		t.Errorf("after the refused re-post the batch has %d accepted, want 2", st.Accepted)
	}
}
