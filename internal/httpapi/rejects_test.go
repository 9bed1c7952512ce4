package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
)

// readRejects reads every page of a batch's rejects as who (an owner of
// owner_test.go, "" for the default token), limit at a time, and says how many
// pages it took.
func readRejects(t *testing.T, tb *testBundle, who, id string, limit int) ([]httpapi.Reject, int) {
	t.Helper()
	var all []httpapi.Reject
	cursor, pages := "", 0
	for {
		r := req{method: "GET", target: fmt.Sprintf("/v1/batches/%s/rejects?limit=%d%s", id, limit, cursor)}
		if who != "" {
			r = as(who, r)
		}
		rec := tb.do(t, r)
		if rec.Code != http.StatusOK {
			t.Fatalf("page %d: %d %s", pages+1, rec.Code, rec.Body)
		}
		var l httpapi.RejectList
		decode(t, rec, &l)
		if l.Rejects == nil {
			t.Fatalf("page %d: %s, want a rejects array", pages+1, rec.Body)
		}
		all, pages = append(all, l.Rejects...), pages+1
		if l.NextCursor == "" {
			return all, pages
		}
		if pages > 100 {
			t.Fatal("the pages do not end")
		}
		cursor = "&cursor=" + l.NextCursor
	}
}

// rejectText is a reject as a comparable string.
func rejectText(r httpapi.Reject) string {
	s := ""
	if r.Index != nil {
		s += fmt.Sprintf("index %d ", *r.Index)
	}
	if r.Line != nil {
		s += fmt.Sprintf("line %d ", *r.Line)
	}
	return s + r.Field + ": " + r.Reason
}

func rejectTexts(rs []httpapi.Reject) string {
	var out []string
	for _, r := range rs {
		out = append(out, rejectText(r))
	}
	return strings.Join(out, "\n")
}

// TestRejectsLater: GET /v1/batches/{id}/rejects gives the rejects of a JSON
// body by index and of a CSV body by line, as the 202 gave them, in pages by
// row; a batch without rejects has an empty list; bad parameters are a 400.
func TestRejectsLater(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	var cands []string
	for i := range 11 {
		switch i % 3 {
		case 0:
			cands = append(cands, fmt.Sprintf(`{"email":"ok%d@example.com"}`, i))
		case 1:
			cands = append(cands, fmt.Sprintf(`{"email":"bad-%d@"}`, i))
		default:
			cands = append(cands, fmt.Sprintf(`{"email":"c%d@example.com","cv_link":"http://cv.example.com/%d"}`, i, i))
		}
	}
	body := `{"com_interview_set_id":"` + sandbox.DemoInterviewSetID + `","batch_id":"rl-json","candidates":[` + strings.Join(cands, ",") + `]}`
	rec := tb.do(t, req{method: "POST", target: "/v1/batches", body: body})
	var acc httpapi.Accepted
	decode(t, rec, &acc)
	if rec.Code != http.StatusAccepted || acc.Rejected != 7 || len(acc.Rejects) != 7 {
		t.Fatalf("json: %d %s", rec.Code, rec.Body)
	}
	got, pages := readRejects(t, tb, "", "rl-json", 3)
	if rejectTexts(got) != rejectTexts(acc.Rejects) || pages != 3 {
		t.Errorf("json rejects in %d pages:\n%s\nwant in 3, as the 202:\n%s", pages, rejectTexts(got), rejectTexts(acc.Rejects))
	}
	if r := got[0]; r.Index == nil || *r.Index != 1 || r.Line != nil || r.Field != "email" || !strings.Contains(r.Reason, "bad-1@") {
		t.Errorf("first json reject: %s", rejectText(r))
	}

	csv := "Email,First Name\njo@example.com,Jo\n"
	for i := range 6 {
		csv += fmt.Sprintf("not-an-email-%d,Bo\n", i)
	}
	rec = tb.do(t, req{method: "POST", target: "/v1/batches?com_interview_set_id=" + sandbox.DemoInterviewSetID + "&batch_id=rl-csv",
		body: csv, header: []string{"Content-Type", "text/csv"}})
	acc = httpapi.Accepted{}
	decode(t, rec, &acc)
	if rec.Code != http.StatusAccepted || len(acc.Rejects) != 6 {
		t.Fatalf("csv: %d %s", rec.Code, rec.Body)
	}
	got, pages = readRejects(t, tb, "", "rl-csv", 2)
	if rejectTexts(got) != rejectTexts(acc.Rejects) || pages != 3 {
		t.Errorf("csv rejects in %d pages:\n%s\nwant in 3, as the 202:\n%s", pages, rejectTexts(got), rejectTexts(acc.Rejects))
	}
	if r := got[5]; r.Line == nil || *r.Line != 8 || r.Index != nil || r.Field != "email" {
		t.Errorf("last csv reject: %s", rejectText(r))
	}
	var all httpapi.RejectList
	decode(t, tb.do(t, req{method: "GET", target: "/v1/batches/rl-csv/rejects"}), &all)
	if len(all.Rejects) != 6 || all.NextCursor != "" {
		t.Errorf("default page: %d rejects, next %q", len(all.Rejects), all.NextCursor)
	}

	deadLetters(t, tb, "rl-none", 1)
	if got, _ := readRejects(t, tb, "", "rl-none", 5); len(got) != 0 {
		t.Errorf("a batch without rejects: %v", got)
	}

	for _, tt := range []struct{ target, field string }{
		{"/v1/batches/rl-csv/rejects?limit=0", "limit"},
		{"/v1/batches/rl-csv/rejects?limit=1001", "limit"},
		{"/v1/batches/rl-csv/rejects?cursor=nope", "cursor"},
		{"/v1/batches/rl-csv/rejects?batch_id=rl-csv", "batch_id"},
		{"/v1/batches/a%20b/rejects", "id"},
	} {
		if e := errorOf(t, tb.do(t, req{method: "GET", target: tt.target}), http.StatusBadRequest); !hasField(e, tt.field) {
			t.Errorf("%s: %+v, want a 400 naming %s", tt.target, e, tt.field)
		}
	}
	if e := errorOf(t, tb.do(t, req{method: "GET", target: "/v1/batches/rl-never/rejects"}), http.StatusNotFound); e.Code != httpapi.CodeNotFound {
		t.Errorf("unknown batch: %+v", e)
	}
}
