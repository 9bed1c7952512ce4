package producer_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/producer"
)

// TestScanRequest: the request-level fields are found wherever they stand, the
// seed's sample included (its message follows the candidates), with the extra keys
// asked for; a wrong value names its key.
func TestScanRequest(t *testing.T) {
	t.Parallel()
	req, err := producer.ScanRequest(strings.NewReader(seedRequest), "batch_id")
	if err != nil {
		t.Fatal(err)
	}
	if !req.Object || req.Candidates != 1 || req.Target.InterviewSetID != uuidA || !strings.HasPrefix(req.InvitationMessage, "<p>Dear") ||
		req.SendInvite == nil || !*req.SendInvite || len(req.Extra) != 0 {
		t.Errorf("seed sample: %+v", req)
	}

	body := `{"candidates":[{"email":"a@example.com"},{"email":5},"x"],"Batch_ID":" nightly-1 ","callback_url":null,"com_project_id":"` + uuidA + `"}`
	req, err = producer.ScanRequest(strings.NewReader(body), "batch_id", "callback_url")
	if err != nil {
		t.Fatal(err)
	}
	if req.Candidates != 3 || req.Extra["batch_id"] != "nightly-1" || len(req.Extra) != 1 || req.Target.ProjectID != uuidA {
		t.Errorf("fields after the candidates: %+v", req)
	}

	full, recs, err := producer.ReadRequest(strings.NewReader(body), "batch_id")
	if err != nil || len(recs) != 3 || recs[0].Err != nil || recs[1].Err == nil || recs[2].Row != 3 || full.Extra["batch_id"] != "nightly-1" || full.Candidates != 3 {
		t.Errorf("ReadRequest: %+v %+v %v", full, recs, err)
	}

	if req, err = producer.ScanRequest(strings.NewReader(`[{"email":"a@example.com"}]`)); err != nil || req.Object || req.Candidates != 1 {
		t.Errorf("array: %+v, %v", req, err)
	}

	for in, key := range map[string]string{
		`{"candidates":[],"batch_id":5}`:        "batch_id",
		`{"send_invite":"yes","candidates":[]}`: "send_invite",
		`{"candidates":{}}`:                     "candidates",
	} {
		_, err := producer.ScanRequest(strings.NewReader(in), "batch_id")
		var ke *producer.KeyError
		if !errors.As(err, &ke) || ke.Key != key {
			t.Errorf("%s: %v, want a KeyError for %s", in, err, key)
		}
	}
	if _, err := producer.ScanRequest(strings.NewReader(`{"candidates":[{"email":"a@example.com"}`)); err == nil || !strings.Contains(err.Error(), "ends early") {
		t.Errorf("truncated: %v", err)
	}
}
