package deadletter_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/deadletter"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
)

// TestWriteCSVEscapesFormulas: a cell of outside data that a spreadsheet
// would run as a formula (it begins with =, +, -, @, a tab or a carriage return) is
// written with a leading single quote, as OWASP's "CSV Injection" page says; our own
// cells (reason, counts, times) are written as they are.
func TestWriteCSVEscapesFormulas(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 3, 4, 5, 0, time.UTC)
	dls := []*store.DeadLetter{
		{
			ID: "b1:0", BatchID: "b1", Reason: payload.ReasonCandidateError,
			Errors: map[string]json.RawMessage{payload.FieldErrorMessage: json.RawMessage(`"=HYPERLINK(\"https://evil.example\",\"x\")"`)},
			Candidate: payload.Candidate{
				ATSCandidateID: "-2+3",
				Email:          "=1+2@example.com",
				Name:           `=HYPERLINK("https://evil.example","click")`,
				Firstname:      "+cmd|' /C calc'!A0",
				Lastname:       "@SUM(1+1)",
				CVLink:         "\thttps://cv.example/a.pdf",
			},
			Attempts: 2, FirstFailedAt: at, LastFailedAt: at, LastHTTPStatus: 200,
		},
		{
			ID: "b1:1", BatchID: "b1", Reason: payload.ReasonRetriesExhausted,
			Candidate: payload.Candidate{Email: "ann@example.com", Name: "\r=cmd", Firstname: "Ann", Lastname: "O'Neil-Smith"},
			Attempts:  10, FirstFailedAt: at, LastFailedAt: at, LastHTTPStatus: 503,
		},
	}
	var buf bytes.Buffer
	err := deadletter.WriteCSV(&buf, func(fn func(*store.DeadLetter) error) error {
		for _, d := range dls {
			if err := fn(d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "id,batch_id,reason,ats_candidate_id,email,name,firstname,lastname,cv_link,attempts,first_failed_at,last_failed_at,last_http_status,errors\n" +
		`b1:0,b1,candidate_error,'-2+3,'=1+2@example.com,"'=HYPERLINK(""https://evil.example"",""click"")",'+cmd|' /C calc'!A0,'@SUM(1+1),'` + "\thttps://cv.example/a.pdf" +
		`,2,2026-11-25T03:04:05Z,2026-11-25T03:04:05Z,200,"{""error_message"":""=HYPERLINK(\""https://evil.example\"",\""x\"")""}"` + "\n" +
		`b1:1,b1,retries_exhausted,,ann@example.com,"'` + "\r" + `=cmd",Ann,O'Neil-Smith,,10,2026-11-25T03:04:05Z,2026-11-25T03:04:05Z,503,null` + "\n"
	if got := buf.String(); got != want {
		t.Errorf("CSV\n got %q\nwant %q", got, want)
	}
}
