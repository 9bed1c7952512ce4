package sandbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bulkinvite/bulkinvite/payload"
)

// FuzzInvite sends arbitrary bodies: the answer is always one of the documented
// statuses with a JSON body, and a 200 has one result per candidate.
func FuzzInvite(f *testing.F) {
	f.Add([]byte(seedSampleRequest))
	f.Add([]byte(`{"com_project_id":"` + DemoProjectID + `","candidates":[{"cv_link":"https://x.example.com/fail-cv"},{"email":"a+error@b.co"}]}`))
	f.Add([]byte(`{"candidates":{}}`))
	f.Add([]byte(`{"com_interview_set_id":"` + DemoInterviewSetID + `","candidates":[{"email":"a@b.invalid"}]}`))
	s, err := New(Config{MaxBodyBytes: 1 << 16})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, payload.InvitePath, bytes.NewReader(body))
		req.Header.Set(HeaderAPIKey, DefaultKey)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		switch w.Code {
		case 200:
			in, err := payload.DecodeInviteRequest(body)
			if err != nil {
				t.Fatalf("200 for a body that does not decode: %v", err)
			}
			out, err := payload.DecodeInviteResponse(w.Body.Bytes())
			if err != nil || len(out.Results) != len(in.Candidates) {
				t.Fatalf("200 body %s: %v", w.Body.Bytes(), err)
			}
		case 400, 404, 413, 422:
			var e errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Message == "" {
				t.Fatalf("%d body %s: %v", w.Code, w.Body.Bytes(), err)
			}
		default:
			t.Fatalf("status %d", w.Code)
		}
	})
}
