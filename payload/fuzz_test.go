package payload_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/payload"
)

func FuzzDecodeInviteRequest(f *testing.F) {
	for _, s := range []string{
		seedRequest,
		`{"com_project_id":"` + uuidA + `","com_job_post_id":"` + uuidB + `","candidates":[{"ats_candidate_id":"` + uuidC + `","email":"a@example.com"},{"cv_link":"https://x.example/cv"}],"send_invite":false}`,
		`{"candidates":[{"ats_candidate_id":"` + uuidC + `"},{"ats_candidate_id":"` + uuidC + `"}]}`,
		`{"candidates":[{"email":1}]}`,
		`{"x":[[1,{"a":[2]}],{}],"candidates":[{},{"ats_candidate_id":7}]}`,
		`[]`, `{}`, ``, `{"candidates":[}`, `{} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := payload.DecodeInviteRequest(b)
		if err != nil {
			if req != nil {
				t.Fatalf("DecodeInviteRequest returned a request and an error %v", err)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		verr := payload.ValidateRequest(req)
		if verr == nil {
			if len(req.Candidates) == 0 {
				t.Fatal("ValidateRequest accepted a request without candidates")
			}
			return
		}
		var es payload.Errors
		if !errors.As(verr, &es) || len(es) == 0 {
			t.Fatalf("ValidateRequest error %T %v, want non-empty payload.Errors", verr, verr)
		}
		for _, e := range es {
			if e.Field == "" || e.Msg == "" || e.Index >= len(req.Candidates) {
				t.Fatalf("FieldError %+v does not name a field", e)
			}
		}
	})
}

func FuzzDecodeInviteResponse(f *testing.F) {
	for _, s := range []string{
		seedResponse,
		`{"results":[{"error_message":"e","candidate_entry_error_message":{"c":1},"invitation_error_message":null}]}`,
		`{"results":[{"cv_link":"https://x.example/cv","candidate_entry":{"id":"ce1"}}]}`,
		`{"results":[{},{"email_address":1}]}`,
		`{"results":null}`, `{"results":{}}`, `[]`, ``, `<html>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, err := payload.DecodeInviteResponse(b)
		if err != nil {
			if resp != nil {
				t.Fatalf("DecodeInviteResponse returned a response and an error %v", err)
			}
			return
		}
		for i := range resp.Results {
			r := &resp.Results[i]
			errs := r.Errors()
			reason := r.ErrorReason()
			if (errs != nil) != (reason != "") || r.HasError() != (errs != nil) {
				t.Fatalf("result %d: Errors %s but ErrorReason %q", i, errs, reason)
			}
			if reason != "" && !reason.Valid() {
				t.Fatalf("result %d: invalid reason %q", i, reason)
			}
			for k, v := range errs {
				if !json.Valid(v) {
					t.Fatalf("result %d: error field %s is not valid JSON: %q", i, k, v)
				}
			}
		}
	})
}

// FuzzIsUUID: IsUUID answers as the check through uuid.Parse did.
func FuzzIsUUID(f *testing.F) {
	for _, s := range []string{
		uuidA, strings.ToUpper(uuidB), "{" + uuidC + "}", "urn:uuid:" + uuidA, strings.ReplaceAll(uuidA, "-", ""),
		uuidA[:35] + "g", uuidA[:8] + "_" + uuidA[9:], "", "------------------------------------",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := payload.IsUUID(s), uuidParseIsUUID(s); got != want {
			t.Fatalf("IsUUID(%q) = %v, uuid.Parse says %v", s, got, want)
		}
	})
}
