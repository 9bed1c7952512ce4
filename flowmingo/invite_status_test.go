package flowmingo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/payload"
)

// What the vendor answers, and what Invite makes of it: a test per kind of
// answer, each a table of the answers' cases.

// aliceOK is a result entry of an invited alice.
const aliceOK = `{"email_address":"alice@example.com","invitation":{"id":"inv-1","email":"alice@example.com","status_text":"pending"},"submission":{"id":"sub-1","status_text":"need_interview"}}`

// inviteNow is the client's clock in these tests.
var inviteNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

// answer is one vendor answer: a status, a body and header pairs (name,
// value, ...; an empty value suppresses the header, e.g. Date).
type answer struct {
	status int
	body   string
	header []string
}

// inviteAnswered sends cands (alice when none) to a server answering a, with
// the client configured by mod (may be nil) and its clock at inviteNow, and
// checks that an error comes without results.
func inviteAnswered(t *testing.T, a answer, mod func(*Config), cands ...payload.Candidate) ([]CandidateResult, error) {
	t.Helper()
	return inviteWith(t, reply(a.status, a.body, a.header...), mod, cands...)
}

func inviteWith(t *testing.T, h http.HandlerFunc, mod func(*Config), cands ...payload.Candidate) ([]CandidateResult, error) {
	t.Helper()
	b := setup(t, h, mod)
	b.client.now = func() time.Time { return inviteNow }
	if len(cands) == 0 {
		cands = []payload.Candidate{alice}
	}
	res, err := b.client.Invite(context.Background(), inviteReq(cands...))
	if err != nil && res != nil {
		t.Errorf("results %v along with error %v", res, err)
	}
	return res, err
}

// TestInviteResults: a 200 with a result per candidate gives each candidate
// its kind, the reason of its error fields (by precedence) and those fields
// verbatim.
func TestInviteResults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		cands []payload.Candidate // default: alice
		body  string
		kinds []Kind
		// reasons and errors, when set, are the candidates' Reason and the
		// first candidate's Errors.
		reasons []payload.Reason
		errors  map[string]json.RawMessage
		// detail, when set, is in the first candidate's Detail.
		detail string
	}{{
		name:    "invited",
		body:    `{"results":[` + aliceOK + `]}`,
		kinds:   []Kind{Invited},
		reasons: []payload.Reason{""},
	}, {
		name:  "cv_queued",
		cands: []payload.Candidate{carol},
		body:  `{"results":[{"cv_link":"https://cv.example.com/carol.pdf","candidate_entry":{"id":"ce-1"}}]}`,
		kinds: []Kind{CVQueued},
	}, {
		name:  "error fields null or empty are a success",
		body:  `{"results":[{"email_address":"alice@example.com","error_message":null,"invitation_error_message":""}]}`,
		kinds: []Kind{Invited},
	}, {
		name:    "error field holding an object is kept verbatim",
		body:    `{"results":[{"email_address":"alice@example.com","invitation_error_message":{ "code" : "E42", "details":["already invited", 3] }}]}`,
		kinds:   []Kind{Failed},
		reasons: []payload.Reason{payload.ReasonInvitationError},
		errors:  map[string]json.RawMessage{payload.FieldInvitationErrorMessage: json.RawMessage(`{ "code" : "E42", "details":["already invited", 3] }`)},
	}, {
		name:    "several error fields: every one kept, reason by precedence",
		body:    `{"results":[{"email_address":"alice@example.com","error_message":"generic","submission_error_message":"no slot"}]}`,
		kinds:   []Kind{Failed},
		reasons: []payload.Reason{payload.ReasonSubmissionError},
		errors: map[string]json.RawMessage{
			payload.FieldErrorMessage:           json.RawMessage(`"generic"`),
			payload.FieldSubmissionErrorMessage: json.RawMessage(`"no slot"`),
		},
	}, {
		name:  "mixed chunk: one failure does not touch the others",
		cands: []payload.Candidate{alice, bob, carol},
		body: `{"results":[` + aliceOK + `,
			{"email_address":"BOB@example.com","cv_link":"https://cv.example.com/bob.pdf","application_error_message":"closed"},
			{"cv_link":"https://cv.example.com/carol.pdf","candidate_entry":{"id":"ce-2"}}]}`,
		kinds:   []Kind{Invited, Failed, CVQueued},
		reasons: []payload.Reason{"", payload.ReasonApplicationError, ""},
	}, {
		name:    "fewer results than candidates: every candidate unknown",
		cands:   []payload.Candidate{alice, bob},
		body:    `{"results":[` + aliceOK + `]}`,
		kinds:   []Kind{Unknown, Unknown},
		reasons: []payload.Reason{payload.ReasonUnknownOutcome, payload.ReasonUnknownOutcome},
		detail:  "1 results for 2 candidates",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := inviteAnswered(t, answer{status: 200, body: tc.body}, nil, tc.cands...)
			wantKinds(t, res, err, tc.kinds...)
			for i, want := range tc.reasons {
				if res[i].Reason != want {
					t.Errorf("result %d: Reason %q, want %q", i, res[i].Reason, want)
				}
			}
			if tc.errors != nil && !reflect.DeepEqual(res[0].Errors, tc.errors) {
				t.Errorf("Errors %s, want %s", res[0].Errors, tc.errors)
			}
			if !strings.Contains(res[0].Detail, tc.detail) {
				t.Errorf("Detail %q, want it to contain %q", res[0].Detail, tc.detail)
			}
		})
	}
}

// TestInviteResultEntries: a success carries the vendor's entry and nothing
// of a failure.
func TestInviteResultEntries(t *testing.T) {
	t.Parallel()
	t.Run("invited", func(t *testing.T) {
		t.Parallel()
		res, err := inviteAnswered(t, answer{status: 200, body: `{"results":[` + aliceOK + `]}`}, nil)
		wantKinds(t, res, err, Invited)
		r := res[0]
		if r.Reason != "" || r.Errors != nil || r.Detail != "" {
			t.Errorf("success carries Reason %q, Errors %v, Detail %q", r.Reason, r.Errors, r.Detail)
		}
		if r.Result == nil || r.Result.Invitation == nil || r.Result.Invitation.ID != "inv-1" || r.Result.Submission.ID != "sub-1" {
			t.Errorf("Result = %+v, want the vendor's entry", r.Result)
		}
	})
	t.Run("cv_queued", func(t *testing.T) {
		t.Parallel()
		res, err := inviteAnswered(t, answer{status: 200, body: `{"results":[{"cv_link":"https://cv.example.com/carol.pdf","candidate_entry":{"id":"ce-1"}}]}`}, nil, carol)
		wantKinds(t, res, err, CVQueued)
		if got := string(res[0].Result.CandidateEntry); got != `{"id":"ce-1"}` {
			t.Errorf("CandidateEntry %s", got)
		}
	})
}

// TestInviteErrorFields: each error field of the API alone fails the
// candidate with its reason, the field kept verbatim beside the entry.
func TestInviteErrorFields(t *testing.T) {
	t.Parallel()
	reasons := map[string]payload.Reason{
		payload.FieldErrorMessage:               payload.ReasonCandidateError,
		payload.FieldInvitationErrorMessage:     payload.ReasonInvitationError,
		payload.FieldApplicationErrorMessage:    payload.ReasonApplicationError,
		payload.FieldSubmissionErrorMessage:     payload.ReasonSubmissionError,
		payload.FieldCandidateEntryErrorMessage: payload.ReasonCandidateEntryError,
	}
	if len(payload.ErrorFields) != len(reasons) {
		t.Fatalf("docs/vendor-api.md lists 5 error fields, payload.ErrorFields has %d", len(payload.ErrorFields))
	}
	for _, f := range payload.ErrorFields {
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			body := `{"results":[{"email_address":"alice@example.com",` + fmt.Sprintf("%q", f) + `:"boom: \u00e9 \"quoted\""}]}`
			res, err := inviteAnswered(t, answer{status: 200, body: body}, nil)
			wantKinds(t, res, err, Failed)
			want := map[string]json.RawMessage{f: json.RawMessage(`"boom: \u00e9 \"quoted\""`)}
			if !reflect.DeepEqual(res[0].Errors, want) {
				t.Errorf("Errors %s, want %s", res[0].Errors, want)
			}
			if res[0].Reason != reasons[f] || res[0].Result == nil {
				t.Errorf("Reason %q, want %q; Result %v", res[0].Reason, reasons[f], res[0].Result)
			}
		})
	}
}

// TestInviteTransient: answers that say nothing sure about the candidates
// (an unusable 200, a 5xx, a status the API does not use) are a
// TransientError with an ambiguous outcome.
func TestInviteTransient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		answer answer
		config func(*Config)
		msg    string // part of the error's text
	}{
		{"200 non-JSON", answer{status: 200, body: `<html>Gateway says hi</html>`}, nil, "unusable body"},
		{"200 JSON without results", answer{status: 200, body: `{"ok":true}`}, nil, `no "results" array`},
		{"200 results null", answer{status: 200, body: `{"results":null}`}, nil, `no "results" array`},
		{"200 results of the wrong type", answer{status: 200, body: `{"results":{"email_address":"alice@example.com"}}`}, nil, "unusable body"},
		{"200 with trailing data", answer{status: 200, body: `{"results":[` + aliceOK + `]} {"results":[]}`}, nil, "unexpected data after the JSON value"},
		{"200 body over MaxResponseBytes", answer{status: 200, body: `{"results":[` + aliceOK + `]}`},
			func(c *Config) { c.MaxResponseBytes = 64 }, "response over 64 bytes"},
		{"500", answer{status: 500, body: `{"message":"Internal server error"}`}, nil, "HTTP 500 Internal Server Error: Internal server error"},
		{"502 with an HTML page", answer{status: 502, body: "<html>\n<head><title>502 Bad Gateway</title></head>\n</html>\n"}, nil,
			"<html> <head><title>502 Bad Gateway</title></head> </html>"},
		{"503 with Retry-After", answer{status: 503, header: []string{"Retry-After", "12"}}, nil, "retry after 12s"},
		{"418 is unknown, treated as 5xx", answer{status: 418, body: "I'm a teapot"}, nil, "unexpected status: I'm a teapot"},
		{"201 is unknown, treated as 5xx", answer{status: 201, body: `{"results":[` + aliceOK + `]}`}, nil, "unexpected status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := inviteAnswered(t, tc.answer, tc.config)
			wantTransient(t, err, tc.answer.status, true, tc.msg)
		})
	}
}

// TestInviteTransientRetryAfter: a 5xx's Retry-After is the error's, and
// only when the answer has one.
func TestInviteTransientRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		answer answer
		want   time.Duration // 0: none
	}{
		{"500 without Retry-After", answer{status: 500, body: `{"message":"Internal server error"}`}, 0},
		{"503 with Retry-After", answer{status: 503, header: []string{"Retry-After", "12"}}, 12 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := inviteAnswered(t, tc.answer, nil)
			te := errAs[*TransientError](t, err)
			if te.RetryAfter != tc.want {
				t.Errorf("RetryAfter %s, want %s", te.RetryAfter, tc.want)
			}
			if d, ok := RetryAfter(err); ok != (tc.want != 0) || d != tc.want {
				t.Errorf("RetryAfter(err) = %s, %v; want %s, %v", d, ok, tc.want, tc.want != 0)
			}
		})
	}
}

// TestInviteRedirectNotFollowed: a redirect is an ambiguous TransientError,
// not followed, its query redacted in the error.
func TestInviteRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	var followed atomic.Int32
	_, err := inviteWith(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Add(1)
			reply(200, `{"results":[`+aliceOK+`]}`)(w, r)
			return
		}
		reply(302, "", "Location", "/elsewhere?token=abc")(w, r)
	}, nil)
	wantTransient(t, err, 302, true, `redirect to "/elsewhere?[redacted]" not followed`)
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}

// TestInviteRateLimited: a 429's Retry-After, in seconds or as a date (against
// the answer's Date, else our clock), bounded and defaulted by the Config.
func TestInviteRateLimited(t *testing.T) {
	t.Parallel()
	retryAfter := func(v string, more ...string) answer {
		return answer{status: 429, header: append(more, "Retry-After", v)}
	}
	for _, tc := range []struct {
		name   string
		answer answer
		config func(*Config)
		want   time.Duration
	}{
		{"seconds", answer{status: 429, body: `{"message":"Too many requests"}`, header: []string{"Retry-After", "7"}}, nil, 7 * time.Second},
		{"HTTP date, against the response's Date (vendor's clock an hour behind)",
			retryAfter(httpDate(inviteNow.Add(-time.Hour+30*time.Second)), "Date", httpDate(inviteNow.Add(-time.Hour))), nil, 30 * time.Second},
		{"HTTP date without a Date header, against our clock", retryAfter(httpDate(inviteNow.Add(45*time.Second)), "Date", ""), nil, 45 * time.Second},
		{"date already past", retryAfter(httpDate(inviteNow.Add(-time.Minute)), "Date", httpDate(inviteNow)), nil, 0},
		{"none", answer{status: 429}, nil, DefaultDefaultRetryAfter},
		{"none, DefaultRetryAfter set", answer{status: 429}, func(c *Config) { c.DefaultRetryAfter = 3 * time.Second }, 3 * time.Second},
		{"garbage", retryAfter("soon"), nil, DefaultDefaultRetryAfter},
		{"negative", retryAfter("-5"), nil, DefaultDefaultRetryAfter},
		{"fractional", retryAfter("1.5"), nil, DefaultDefaultRetryAfter},
		{"huge is capped", retryAfter("86400"), nil, DefaultMaxRetryAfter},
		{"past int64 is capped", retryAfter("99999999999999999999999999"), nil, DefaultMaxRetryAfter},
		{"overflowing a Duration is capped", retryAfter("9223372037"), nil, DefaultMaxRetryAfter},
		{"date far ahead is capped", retryAfter("Fri, 31 Dec 9999 23:59:59 GMT"), nil, DefaultMaxRetryAfter},
		{"capped at MaxRetryAfter set", retryAfter("30"), func(c *Config) { c.MaxRetryAfter = 10 * time.Second }, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := inviteAnswered(t, tc.answer, tc.config)
			wantRetryAfter(t, err, tc.want)
		})
	}
	t.Run("message", func(t *testing.T) {
		t.Parallel()
		_, err := inviteAnswered(t, answer{status: 429, body: `{"message":"Too many requests"}`, header: []string{"Retry-After", "7"}}, nil)
		if rl := errAs[*RateLimitError](t, err); rl.Message != "Too many requests" {
			t.Errorf("Message %q", rl.Message)
		}
	})
}

// TestInviteRefused: the statuses that refuse the whole request (400, 422,
// 413, 401, 403, 404) are each their error type, with the vendor's message
// (from NestJS, FastAPI or a plain text body), and not ambiguous.
func TestInviteRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		answer answer
		// check reads err as its type and returns the status and message it
		// carries.
		check func(t *testing.T, err error) (status int, msg string)
		msg   string
	}{
		{"400 with a JSON message", answer{status: 400, body: `{"statusCode":400,"message":"candidates must contain at least 1 candidate","error":"Bad Request"}`},
			asValidation, "candidates must contain at least 1 candidate"},
		{"400 plain text", answer{status: 400, body: "bad request\n"}, asValidation, "bad request"},
		{"422 with a list of messages", answer{status: 422, body: `{"statusCode":422,"message":["candidates.0.email must be an email","candidates.1.cv_link must be a URL"],"error":"Unprocessable Entity"}`},
			asValidation, "candidates.0.email must be an email; candidates.1.cv_link must be a URL"},
		{"422 with a detail list", answer{status: 422, body: `{"detail":[{"loc":["body","candidates",0,"email"],"msg":"value is not a valid email address","type":"value_error"}]}`},
			asValidation, "value is not a valid email address"},
		{"413", answer{status: 413, body: `{"message":"request entity too large"}`}, func(t *testing.T, err error) (int, string) {
			e := errAs[*TooLargeError](t, err)
			return e.HTTPStatus(), e.Message
		}, "request entity too large"},
		{"401", answer{status: 401, body: `{"error":"Unauthorized","message":"API key expired"}`}, asAuth, "API key expired"},
		{"403", answer{status: 403, body: "API key lacks scope invite_candidates"}, asAuth, "API key lacks scope invite_candidates"},
		{"404", answer{status: 404, body: `{"error":{"code":"NOT_FOUND","message":"Interview set not found"}}`}, func(t *testing.T, err error) (int, string) {
			return HTTPStatus(err), errAs[*NotFoundError](t, err).Message
		}, "Interview set not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := inviteAnswered(t, tc.answer, nil)
			status, msg := tc.check(t, err)
			if status != tc.answer.status || HTTPStatus(err) != tc.answer.status || msg != tc.msg {
				t.Errorf("status %d (HTTPStatus %d), message %q; want %d, %q", status, HTTPStatus(err), msg, tc.answer.status, tc.msg)
			}
			if Ambiguous(err) {
				t.Errorf("%v is ambiguous: the vendor refused the whole request", err)
			}
		})
	}
}

func asValidation(t *testing.T, err error) (int, string) {
	ve := errAs[*ValidationError](t, err)
	return ve.StatusCode, ve.Message
}

func asAuth(t *testing.T, err error) (int, string) {
	ae := errAs[*AuthError](t, err)
	if ae.HTTPStatus() != ae.StatusCode {
		t.Errorf("HTTPStatus %d, StatusCode %d", ae.HTTPStatus(), ae.StatusCode)
	}
	return ae.StatusCode, ae.Message
}

// TestInviteValidationBody: a ValidationError keeps a JSON body verbatim and
// no plain text one.
func TestInviteValidationBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		answer answer
		want   string // "": no Body
		valid  bool   // only check that Body is valid JSON
	}{
		{name: "400 JSON", answer: answer{status: 400, body: `{"statusCode":400,"message":"candidates must contain at least 1 candidate","error":"Bad Request"}`},
			want: `{"statusCode":400,"message":"candidates must contain at least 1 candidate","error":"Bad Request"}`},
		{name: "400 plain text", answer: answer{status: 400, body: "bad request\n"}},
		{name: "422 JSON", answer: answer{status: 422, body: `{"statusCode":422,"message":["candidates.0.email must be an email"],"error":"Unprocessable Entity"}`}, valid: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := inviteAnswered(t, tc.answer, nil)
			ve := errAs[*ValidationError](t, err)
			switch {
			case tc.valid && !json.Valid(ve.Body):
				t.Errorf("Body %s, want JSON", ve.Body)
			case !tc.valid && tc.want == "" && ve.Body != nil:
				t.Errorf("Body %s, want none", ve.Body)
			case !tc.valid && tc.want != "" && string(ve.Body) != tc.want:
				t.Errorf("Body %s, want %s", ve.Body, tc.want)
			}
		})
	}
}

// TestInviteValidationNamesCandidates: a 422 that names candidates by index
// says which (NamedCandidates, for a request of n candidates), or that it is
// about the request as a whole (AboutRequest), or neither.
func TestInviteValidationNamesCandidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		body  string
		n     int
		named string // fmt.Sprint of NamedCandidates(n); "" when not ok
		about bool
	}{
		{"an errors list", `{"message":"validation failed","errors":[{"field":"candidates[2].email","message":"domain refused"},{"field":"candidates[0].cv_link","message":"not reachable"}]}`,
			3, "map[0:[not reachable] 2:[domain refused]]", false},
		{"an index past the request's candidates", `{"message":"validation failed","errors":[{"field":"candidates[2].email","message":"domain refused"},{"field":"candidates[0].cv_link","message":"not reachable"}]}`,
			2, "", false},
		{"about the request as a whole", `{"errors":[{"field":"invitation_message","message":"too long"}]}`, 5, "", true},
		{"FastAPI detail", `{"detail":[{"loc":["body","candidates",1,"email"],"msg":"value is not a valid email address"}]}`,
			2, "map[1:[value is not a valid email address]]", false},
		{"NestJS messages, one not about a candidate", `{"message":["candidates.0.email must be an email","something else is wrong"]}`, 2, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := inviteAnswered(t, answer{status: 422, body: tc.body}, nil)
			ve := errAs[*ValidationError](t, err)
			named, ok := ve.NamedCandidates(tc.n)
			got := ""
			if ok {
				got = fmt.Sprint(named)
			}
			if got != tc.named || ve.AboutRequest() != tc.about {
				t.Errorf("NamedCandidates(%d) = %q, AboutRequest %v; want %q, %v; fields %+v", tc.n, got, ve.AboutRequest(), tc.named, tc.about, ve.Fields)
			}
		})
	}
}
