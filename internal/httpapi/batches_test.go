package httpapi_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
)

// TestPostSeedSample: the vendor's sample body, unchanged, is accepted as a batch
// whose job keeps the message and send_invite that follow its candidates.
func TestPostSeedSample(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	rec := tb.do(t, req{method: "POST", target: "/v1/batches", body: seed})
	if rec.Code != http.StatusAccepted {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var acc httpapi.Accepted
	decode(t, rec, &acc)
	if acc.Accepted != 1 || acc.Rejected != 0 || len(acc.Rejects) != 0 || acc.Existing || rec.Header().Get("Location") != "/v1/batches/"+acc.BatchID {
		t.Errorf("answer %+v, Location %q", acc, rec.Header().Get("Location"))
	}
	b, err := tb.Store.Batch(context.Background(), acc.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Sealed || b.Source != "http" || !strings.HasPrefix(b.Job.InvitationMessage, "<p>Dear") || b.Job.SendInvite == nil || !*b.Job.SendInvite ||
		b.Job.Target.InterviewSetID != sandbox.DemoInterviewSetID {
		t.Errorf("batch %+v", b)
	}
}

// TestPostRejectsAndCSV: candidates that cannot succeed are rejected one by one
// with their index (JSON) or line (CSV), field and reason; the rest are accepted.
func TestPostRejectsAndCSV(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	body := `{"candidates":[{"email":"a@example.com"},{"email":"x@"},{"email":"a@example.com"},{"cv_link":"http://insecure.example.com/cv.pdf"}],
		"com_interview_set_id":"` + sandbox.DemoInterviewSetID + `","batch_id":"rejects-1"}`
	rec := tb.do(t, req{method: "POST", target: "/v1/batches", body: body})
	var acc httpapi.Accepted
	decode(t, rec, &acc)
	if rec.Code != http.StatusAccepted || acc.BatchID != "rejects-1" || acc.Accepted != 2 || acc.Duplicates != 1 || acc.Rejected != 2 || len(acc.Rejects) != 2 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if r := acc.Rejects[0]; r.Index == nil || *r.Index != 1 || r.Field != "email" || !strings.Contains(r.Reason, "email") || r.Line != nil {
		t.Errorf("first reject %+v", r)
	}
	if r := acc.Rejects[1]; r.Index == nil || *r.Index != 3 || r.Field != "cv_link" {
		t.Errorf("second reject %+v", r)
	}

	csv := "Email,First Name\njo@example.com,Jo\nnot-an-email,Bo\n"
	rec = tb.do(t, req{method: "POST", target: "/v1/batches?com_interview_set_id=" + sandbox.DemoInterviewSetID + "&send_invite=false&batch_id=csv-1",
		body: csv, header: []string{"Content-Type", "text/csv; charset=utf-8"}})
	acc = httpapi.Accepted{}
	decode(t, rec, &acc)
	if rec.Code != http.StatusAccepted || acc.Accepted != 1 || len(acc.Rejects) != 1 || acc.Rejects[0].Line == nil || *acc.Rejects[0].Line != 3 {
		t.Fatalf("csv: %d %s", rec.Code, rec.Body)
	}
	b, err := tb.Store.Batch(context.Background(), "csv-1")
	if err != nil || b.Job.SendInvite == nil || *b.Job.SendInvite {
		t.Errorf("csv batch %+v %v", b, err)
	}
}

// TestPostErrors: a body that cannot be accepted at all is refused before
// anything is written, with the status and exactly the fields at fault (a body
// that cannot be read names the body only, not fields it may have held).
func TestPostErrors(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{MaxBodyBytes: 4 << 10})
	is := sandbox.DemoInterviewSetID
	csv := []string{"Content-Type", "text/csv"}
	tests := []struct {
		name   string
		r      req
		status int
		fields []string
	}{
		{"wrong content type", req{body: seed, header: []string{"Content-Type", "text/plain"}}, 415, nil},
		{"no content type", req{body: seed, header: []string{"Content-Type", ""}}, 415, nil},
		{"latin-1", req{body: seed, header: []string{"Content-Type", "application/json; charset=iso-8859-1"}}, 415, nil},
		{"malformed", req{body: `{"com_interview_set_id":"` + is + `","candidates":[{"email":"a@example.com"}`}, 400, []string{"body"}},
		{"an array", req{body: `[{"email":"a@example.com"}]`}, 400, []string{"body"}},
		{"data after the object", req{body: seed + "x"}, 400, []string{"body"}},
		{"no target", req{body: `{"candidates":[{"email":"a@example.com"}]}`}, 400, []string{"com_interview_set_id"}},
		{"bad target and message", req{body: `{"com_project_id":"nope","invitation_message":"hi","candidates":[{"email":"a@example.com"}]}`}, 400,
			[]string{"com_project_id", "invitation_message"}},
		{"no candidates", req{body: `{"com_interview_set_id":"` + is + `","candidates":[]}`}, 400, []string{"candidates"}},
		{"candidates not an array", req{body: `{"com_interview_set_id":"` + is + `","candidates":{}}`}, 400, []string{"candidates"}},
		{"send_invite a string", req{body: `{"com_interview_set_id":"` + is + `","send_invite":"yes","candidates":[{"email":"a@example.com"}]}`}, 400, []string{"send_invite"}},
		{"bad batch id", req{body: `{"com_interview_set_id":"` + is + `","batch_id":"a b","candidates":[{"email":"a@example.com"}]}`}, 400, []string{"batch_id"}},
		{"batch id a number", req{body: `{"com_interview_set_id":"` + is + `","candidates":[{"email":"a@example.com"}],"batch_id":7}`}, 400, []string{"batch_id"}},
		{"private callback", req{body: `{"com_interview_set_id":"` + is + `","callback_url":"http://10.0.0.1/cb","candidates":[{"email":"a@example.com"}]}`}, 400, []string{"callback_url"}},
		{"callback without a secret", req{body: `{"com_interview_set_id":"` + is + `","callback_url":"https://hooks.example.com/cb","candidates":[{"email":"a@example.com"}]}`}, 400, []string{"callback_url"}},
		{"query on JSON", req{target: "/v1/batches?batch_id=x", body: seed}, 400, []string{"batch_id"}},
		{"too large", req{body: `{"candidates":[` + strings.Repeat(`{"email":"a@example.com"},`, 400) + `{}]}`}, 413, nil},
		{"bad idempotency key", req{body: seed, header: []string{"Idempotency-Key", "é"}}, 400, []string{"Idempotency-Key"}},
		{"csv unknown parameter", req{target: "/v1/batches?interview_set=" + is, body: "email\na@example.com\n", header: csv}, 400, []string{"interview_set"}},
		{"csv no header", req{target: "/v1/batches?com_interview_set_id=" + is, body: "", header: csv}, 400, []string{"body"}},
		{"csv no rows", req{target: "/v1/batches?com_interview_set_id=" + is, body: "email\n", header: csv}, 400, []string{"body"}},
		{"csv bad send_invite", req{target: "/v1/batches?com_interview_set_id=" + is + "&send_invite=maybe", body: "email\na@example.com\n", header: csv}, 400, []string{"send_invite"}},
		{"not_before not RFC 3339", req{body: `{"com_interview_set_id":"` + is + `","not_before":"tomorrow 8am","candidates":[{"email":"a@example.com"}]}`}, 400, []string{"not_before"}},
		{"not_before a duration", req{body: `{"com_interview_set_id":"` + is + `","not_before":"2h","candidates":[{"email":"a@example.com"}]}`}, 400, []string{"not_before"}},
		{"not_before years ahead", req{body: `{"com_interview_set_id":"` + is + `","not_before":"2999-01-01T00:00:00Z","candidates":[{"email":"a@example.com"}]}`}, 400, []string{"not_before"}},
		{"not_before a number", req{body: `{"com_interview_set_id":"` + is + `","not_before":1767225600,"candidates":[{"email":"a@example.com"}]}`}, 400, []string{"not_before"}},
		{"send_window bad zone", req{body: `{"com_interview_set_id":"` + is + `","send_window":"Mon-Fri 09:00-17:00 Europe/Berln","candidates":[{"email":"a@example.com"}]}`}, 400, []string{"send_window"}},
		{"send_window bad day", req{body: `{"com_interview_set_id":"` + is + `","send_window":"Mon-Fry 09:00-17:00","candidates":[{"email":"a@example.com"}]}`}, 400, []string{"send_window"}},
		{"send_window bad time", req{body: `{"com_interview_set_id":"` + is + `","send_window":"09:00-17:60","candidates":[{"email":"a@example.com"}]}`}, 400, []string{"send_window"}},
		{"csv bad send_window", req{target: "/v1/batches?com_interview_set_id=" + is + "&send_window=9-5", body: "email\na@example.com\n", header: csv}, 400, []string{"send_window"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.r.method = "POST"
			if tt.r.target == "" {
				tt.r.target = "/v1/batches"
			}
			e := errorOf(t, tb.do(t, tt.r), tt.status)
			var fields []string
			for _, d := range e.Details {
				fields = append(fields, d.Field)
			}
			if fmt.Sprint(fields) != fmt.Sprint(tt.fields) {
				t.Errorf("details %+v, want exactly the fields %v", e.Details, tt.fields)
			}
		})
	}
	t.Cleanup(func() {
		if ids, _, err := tb.Store.BatchPage(context.Background(), "", 10); err != nil || len(ids) != 0 {
			t.Errorf("refused requests left batches %v (%v)", ids, err)
		}
	})
}

// TestCallbackURL: with a secret configured, a public callback_url is accepted and
// recorded with the batch.
func TestCallbackURL(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{CallbackSigning: true})
	body := `{"com_interview_set_id":"` + sandbox.DemoInterviewSetID + `","candidates":[{"email":"a@example.com"}],"callback_url":"https://hooks.example.com/done","batch_id":"cb-1"}`
	if rec := tb.do(t, req{method: "POST", target: "/v1/batches", body: body}); rec.Code != http.StatusAccepted {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	b, err := tb.Store.Batch(context.Background(), "cb-1")
	if err != nil || b.CallbackURL != "https://hooks.example.com/done" {
		t.Errorf("batch %+v %v", b, err)
	}
	// The status shows where the callback stands (checked against its schema by
	// do), its URL's path masked.
	var st store.Status
	decode(t, tb.do(t, req{method: "GET", target: "/v1/batches/cb-1"}), &st)
	if st.Callback == nil || st.Callback.URL != "https://hooks.example.com/****" || st.Callback.State != store.CallbackPending {
		t.Errorf("status callback %+v", st.Callback)
	}
	rec := tb.do(t, req{method: "POST", target: "/v1/batches?com_interview_set_id=" + sandbox.DemoInterviewSetID + "&callback_url=http://127.0.0.1/x",
		body: "email\nb@example.com\n", header: []string{"Content-Type", "text/csv"}})
	if e := errorOf(t, rec, 400); !hasField(e, "callback_url") || !strings.Contains(e.Message, "BULKINVITE_CALLBACK_ALLOW_PRIVATE") {
		t.Errorf("private csv callback: %+v", e)
	}
}

// TestIdempotentRetries: the same Idempotency-Key and body give the same batch and
// answer, and nothing is enqueued twice; another body under the key is a 409; a
// batch_id reused for another target is a 409 too.
func TestIdempotentRetries(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	post := func(body, key, tok string) *httptestRecorder {
		return tb.do(t, req{method: "POST", target: "/v1/batches", body: body, header: []string{"Idempotency-Key", key, "Authorization", "Bearer " + tok}})
	}
	first := post(seed, "key-1", token1)
	var a1 httpapi.Accepted
	decode(t, first, &a1)
	for range 3 {
		again := post(seed, "key-1", token1)
		if again.Code != http.StatusAccepted || again.Body.String() != first.Body.String() || again.Header().Get("Idempotent-Replayed") != "true" {
			t.Errorf("retry: %d %s %v", again.Code, again.Body, again.Header())
		}
	}
	tasks := queued(t, tb)
	if len(tasks) != 1 || !strings.HasPrefix(tasks[0], "bi:"+a1.BatchID+":s0") {
		t.Errorf("tasks %v, want one segment of %s", tasks, a1.BatchID)
	}
	e := errorOf(t, post(strings.Replace(seed, "alex@", "sam@", 1), "key-1", token1), http.StatusConflict)
	if e.Code != httpapi.CodeIdempotencyConflict {
		t.Errorf("other body: %+v", e)
	}
	// Keys are the client's own: another token's key of the same name is another.
	var a2 httpapi.Accepted
	decode(t, post(seed, "key-1", token2), &a2)
	if a2.BatchID == a1.BatchID {
		t.Errorf("token2's key-1 gave token1's batch")
	}
	// Without a key, the same batch_id twice is one batch; for another target a 409.
	body := `{"com_interview_set_id":"` + sandbox.DemoInterviewSetID + `","batch_id":"named","candidates":[{"email":"a@example.com"},{"email":"b@example.com"}]}`
	decode(t, tb.do(t, req{method: "POST", target: "/v1/batches", body: body}), &a2)
	decode(t, tb.do(t, req{method: "POST", target: "/v1/batches", body: body}), &a2)
	if a2.BatchID != "named" || !a2.Existing || a2.Accepted != 2 {
		t.Errorf("same batch_id again: %+v", a2)
	}
	other := strings.Replace(body, sandbox.DemoInterviewSetID, sandbox.DemoProjectID, 1)
	other = strings.Replace(other, "com_interview_set_id", "com_project_id", 1)
	if e := errorOf(t, tb.do(t, req{method: "POST", target: "/v1/batches", body: other}), http.StatusConflict); e.Code != httpapi.CodeBatchConflict {
		t.Errorf("batch_id for another target: %+v", e)
	}
}

// queued lists the task ids in the default queue's shards.
func queued(t *testing.T, tb *testBundle) []string {
	t.Helper()
	ins := asynq.NewInspectorFromRedisClient(tb.RDB)
	infos, err := pipelinetest.Tasks(ins.ListPendingTasks, task.QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ti := range infos {
		ids = append(ids, ti.ID)
	}
	return ids
}

// TestGetBatch: the status --json shape, 404 for an unknown batch, 400 for an id
// that cannot be one.
func TestGetBatch(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	var acc httpapi.Accepted
	decode(t, tb.do(t, req{method: "POST", target: "/v1/batches", body: seed}), &acc)
	rec := tb.do(t, req{method: "GET", target: acc.StatusURL})
	var st map[string]any
	decode(t, rec, &st)
	for _, k := range []string{"batch_id", "state", "total", "accepted", "rejected", "invited", "cv_queued", "dead_lettered", "skipped_duplicate", "pending"} {
		if _, ok := st[k]; !ok {
			t.Errorf("status lacks %q: %s", k, rec.Body)
		}
	}
	if st["state"] != "queued" || st["pending"] != 1.0 {
		t.Errorf("status %s", rec.Body)
	}
	if e := errorOf(t, tb.do(t, req{method: "GET", target: "/v1/batches/no-such-batch"}), 404); e.Code != httpapi.CodeNotFound {
		t.Errorf("unknown: %+v", e)
	}
	errorOf(t, tb.do(t, req{method: "GET", target: "/v1/batches/%20bad"}), 400)
}

// TestListBatches: pages of recent batches, newest first, with an opaque cursor.
func TestListBatches(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	for i := range 5 {
		body := fmt.Sprintf(`{"com_interview_set_id":"%s","batch_id":"list-%d","candidates":[{"email":"a@example.com"}]}`, sandbox.DemoInterviewSetID, i)
		if rec := tb.do(t, req{method: "POST", target: "/v1/batches", body: body}); rec.Code != 202 {
			t.Fatal(rec.Body)
		}
	}
	var got []string
	target := "/v1/batches?limit=2"
	for range 5 {
		var page httpapi.BatchList
		decode(t, tb.do(t, req{method: "GET", target: target}), &page)
		for _, b := range page.Batches {
			got = append(got, b.BatchID)
		}
		if page.NextCursor == "" {
			break
		}
		target = "/v1/batches?limit=2&cursor=" + page.NextCursor
	}
	if fmt.Sprint(got) != "[list-4 list-3 list-2 list-1 list-0]" {
		t.Errorf("pages: %v", got)
	}
	for _, bad := range []string{"?limit=0", "?limit=201", "?cursor=zzz", "?page=2", "?limit=1&limit=2"} {
		errorOf(t, tb.do(t, req{method: "GET", target: "/v1/batches" + bad}), 400)
	}
}

// TestLongCursorRefused: a cursor longer than any the lists give out is a 400
// naming the cursor, even when it is well-formed, on both lists.
func TestLongCursorRefused(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	long := base64.RawURLEncoding.EncodeToString([]byte(`{"s":1,"m":"` + strings.Repeat("x", 600) + `"}`))
	for _, list := range []string{"/v1/batches", "/v1/deadletters"} {
		if e := errorOf(t, tb.do(t, req{method: "GET", target: list + "?cursor=" + long}), http.StatusBadRequest); !hasField(e, "cursor") {
			t.Errorf("%s: %+v", list, e)
		}
	}
}

type httptestRecorder = httptest.ResponseRecorder
