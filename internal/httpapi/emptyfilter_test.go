package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/httpapi"
)

// countDeadLetters is how many dead letters batchID still has.
func countDeadLetters(t *testing.T, tb *testBundle, batchID string) int {
	t.Helper()
	var page httpapi.DeadLetterList
	decode(t, tb.do(t, req{method: "GET", target: "/v1/deadletters?limit=1000&batch_id=" + batchID}), &page)
	return len(page.DeadLetters)
}

// TestEmptyFilterIsNotEverything: a present but empty parameter or body field
// is a 400 naming it, and a purge or replay with neither a batch nor all is a
// 400; none of them touches a dead letter. Before, `batch_id=` purged every
// batch's dead letters, an empty replay body replayed all of them, and `limit=`
// was the default.
func TestEmptyFilterIsNotEverything(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	deadLetters(t, tb, "ef-a", 3)
	deadLetters(t, tb, "ef-b", 2)
	tests := []struct {
		name, method, target, body string
		field                      string // the detail's field
		says                       string // in the message or a detail
	}{
		{"purge batch_id=", "DELETE", "/v1/deadletters?batch_id=&confirm=true", "", "batch_id", "empty"},
		{"purge reason=", "DELETE", "/v1/deadletters?batch_id=ef-a&reason=&confirm=true", "", "reason", "empty"},
		{"purge all=", "DELETE", "/v1/deadletters?all=&confirm=true", "", "all", "empty"},
		{"purge all=yes", "DELETE", "/v1/deadletters?all=yes&confirm=true", "", "all", "true"},
		{"purge no filter", "DELETE", "/v1/deadletters?confirm=true", "", "batch_id", "all=true"},
		{"purge reason only", "DELETE", "/v1/deadletters?reason=validation&confirm=true", "", "batch_id", "all=true"},
		{"purge all and batch", "DELETE", "/v1/deadletters?all=true&batch_id=ef-a&confirm=true", "", "all", "not both"},
		{"replay empty body", "POST", "/v1/deadletters/replay", "", "batch_id", "all"},
		{"replay {}", "POST", "/v1/deadletters/replay", `{}`, "batch_id", "all"},
		{"replay all false", "POST", "/v1/deadletters/replay", `{"all":false}`, "batch_id", "all"},
		{"replay reason only", "POST", "/v1/deadletters/replay", `{"reason":"validation"}`, "batch_id", "all"},
		{"replay batch_id empty", "POST", "/v1/deadletters/replay", `{"batch_id":""}`, "batch_id", "empty"},
		{"replay reason empty", "POST", "/v1/deadletters/replay", `{"batch_id":"ef-a","reason":""}`, "reason", "empty"},
		{"replay all and batch", "POST", "/v1/deadletters/replay", `{"all":true,"batch_id":"ef-a"}`, "all", "not both"},
		{"list limit=", "GET", "/v1/deadletters?limit=", "", "limit", "empty"},
		{"list batch_id=", "GET", "/v1/deadletters?batch_id=", "", "batch_id", "empty"},
		{"list reason=", "GET", "/v1/deadletters?reason=", "", "reason", "empty"},
		{"list cursor=", "GET", "/v1/deadletters?cursor=", "", "cursor", "empty"},
		{"list batch_id without =", "GET", "/v1/deadletters?batch_id", "", "batch_id", "empty"},
		{"batches limit=", "GET", "/v1/batches?limit=", "", "limit", "empty"},
		{"batches cursor=", "GET", "/v1/batches?cursor=", "", "cursor", "empty"},
		{"rejects limit=", "GET", "/v1/batches/ef-a/rejects?limit=", "", "limit", "empty"},
		{"rejects cursor=", "GET", "/v1/batches/ef-a/rejects?cursor=", "", "cursor", "empty"},
		{"candidates email=", "GET", "/v1/candidates?email=", "", "email", "empty"},
		{"candidates ats_candidate_id=", "GET", "/v1/candidates?ats_candidate_id=", "", "ats_candidate_id", "empty"},
		{"candidates neither", "GET", "/v1/candidates", "", "email", "ats_candidate_id"},
		{"candidates both", "GET", "/v1/candidates?email=a@example.com&ats_candidate_id=0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "", "ats_candidate_id", "not both"},
		{"candidates ats_candidate_id not a uuid", "GET", "/v1/candidates?ats_candidate_id=42", "", "ats_candidate_id", "UUID"},
		{"events limit=", "GET", "/v1/batches/ef-a/events?limit=", "", "limit", "takes none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := errorOf(t, tb.do(t, req{method: tt.method, target: tt.target, body: tt.body}), http.StatusBadRequest)
			text := e.Message
			for _, d := range e.Details {
				text += " " + d.Message
			}
			if e.Code != httpapi.CodeInvalidRequest || !hasField(e, tt.field) || !strings.Contains(text, tt.says) {
				t.Errorf("%+v, want %s naming %q and saying %q", e, httpapi.CodeInvalidRequest, tt.field, tt.says)
			}
		})
	}
	if a, b := countDeadLetters(t, tb, "ef-a"), countDeadLetters(t, tb, "ef-b"); a != 3 || b != 2 {
		t.Errorf("dead letters left: ef-a %d of 3, ef-b %d of 2: a refused request purged or replayed some", a, b)
	}
}

// TestAllIsExplicit: all=true (query) and {"all": true} (body) act on every
// batch, narrowed by reason when given; a batch's own purge and replay act on
// that batch only.
func TestAllIsExplicit(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	for _, b := range []string{"al-a", "al-b", "al-c"} {
		deadLetters(t, tb, b, 3) // seq 0 validation, 1 and 2 invitation_error
	}

	// One batch's purge leaves the others alone.
	var pg httpapi.Purged
	decode(t, tb.do(t, req{method: "DELETE", target: "/v1/deadletters?batch_id=al-c&confirm=true"}), &pg)
	if pg.Purged != 3 || countDeadLetters(t, tb, "al-a") != 3 || countDeadLetters(t, tb, "al-b") != 3 {
		t.Fatalf("purge of al-c: %+v", pg)
	}
	// Replay every batch's validation failures.
	var rp httpapi.Replayed
	decode(t, tb.do(t, req{method: "POST", target: "/v1/deadletters/replay", body: `{"all":true,"reason":"validation"}`}), &rp)
	if rp.Replayed != 2 || fmt.Sprint(countDeadLetters(t, tb, "al-a"), countDeadLetters(t, tb, "al-b")) != "2 2" {
		t.Fatalf("replay all validation: %+v", rp)
	}
	// The dry run of a purge of all says how many; confirmed, it deletes them.
	e := errorOf(t, tb.do(t, req{method: "DELETE", target: "/v1/deadletters?all=true"}), http.StatusBadRequest)
	if e.Code != httpapi.CodeConfirmationRequired || !strings.Contains(e.Message, "would purge 4") {
		t.Errorf("unconfirmed purge of all: %+v", e)
	}
	decode(t, tb.do(t, req{method: "DELETE", target: "/v1/deadletters?all=true&confirm=true"}), &pg)
	if pg.Purged != 4 || countDeadLetters(t, tb, "al-a")+countDeadLetters(t, tb, "al-b") != 0 {
		t.Errorf("purge all: %+v", pg)
	}
	// all=false is as if all were not given: a batch is needed.
	decode(t, tb.do(t, req{method: "DELETE", target: "/v1/deadletters?all=false&batch_id=al-a&confirm=true"}), &pg)
	if pg.Purged != 0 {
		t.Errorf("purge all=false of an empty batch: %+v", pg)
	}
}
