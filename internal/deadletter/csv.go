package deadletter

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/store"
)

// WriteCSV writes dead letters as CSV with a header row: each calls its argument
// once per dead letter (store.Store.DeadLetters has that shape). Every cell that
// carries outside data (the candidate's fields, the vendor's errors, the ids) goes
// through CSVCell, so that opening the file in a spreadsheet runs no formula.
// `deadletter list --csv` and the dashboard's export both write through it.
func WriteCSV(w io.Writer, each func(func(*store.DeadLetter) error) error) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"id", "batch_id", "reason", "ats_candidate_id", "email", "name", "firstname", "lastname", "cv_link",
		"attempts", "first_failed_at", "last_failed_at", "last_http_status", "errors"})
	err := each(func(d *store.DeadLetter) error {
		errs, _ := json.Marshal(d.Errors)
		c := d.Candidate
		return cw.Write([]string{CSVCell(d.ID), CSVCell(d.BatchID), string(d.Reason),
			CSVCell(c.ATSCandidateID), CSVCell(c.Email), CSVCell(c.Name), CSVCell(c.Firstname), CSVCell(c.Lastname), CSVCell(c.CVLink),
			strconv.Itoa(d.Attempts), d.FirstFailedAt.Format(time.RFC3339), d.LastFailedAt.Format(time.RFC3339),
			strconv.Itoa(d.LastHTTPStatus), CSVCell(string(errs))})
	})
	cw.Flush()
	if err != nil {
		return err
	}
	return cw.Error()
}

// CSVCell defuses a cell of outside data for spreadsheets, as OWASP's "CSV
// Injection" page recommends: a cell that begins with '=', '+', '-', '@', a tab or a
// carriage return would be run as a formula by Excel, LibreOffice or Google Sheets,
// so it gets a leading single quote, which they read as "this is text". Quoting
// (commas, quotes, line breaks) is left to encoding/csv.
func CSVCell(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}
