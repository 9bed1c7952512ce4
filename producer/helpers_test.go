package producer_test

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

const (
	uuidA = "019c5ea9-a792-7f0d-b671-4c3c1602094e"
	uuidB = "019c5eb3-fb50-707b-9833-0862efa4b275"
	uuidC = "019c5eb4-55ab-76fc-90ec-98930c56a7bd"
)

// maxRecords bounds readAll, so that a Source that never ends fails the test.
const maxRecords = 1_000_000

// readAll reads src to its end. It returns the records and the fatal error, if any
// (io.EOF is not returned). It checks that a fatal error or io.EOF is sticky.
func readAll(tb testing.TB, src producer.Source) ([]producer.Record, error) {
	tb.Helper()
	var recs []producer.Record
	for range maxRecords {
		rec, err := src.Next()
		if err != nil {
			if _, again := src.Next(); again != err && !errors.Is(again, err) {
				tb.Errorf("Next after %v returned %v, want the same error", err, again)
			}
			if err == io.EOF {
				return recs, nil
			}
			return recs, err
		}
		recs = append(recs, rec)
	}
	tb.Fatalf("Source did not end after %d records", maxRecords)
	return nil, nil
}

// want is an expected record: the row, the candidate, and for a rejected row the
// field and a fragment of the message.
type want struct {
	row   int64
	c     payload.Candidate
	field string // "" and msg "" for an accepted row
	msg   string
}

func ok(row int64, c payload.Candidate) want { return want{row: row, c: c} }

func rejected(row int64, field, msg string) want { return want{row: row, field: field, msg: msg} }

// checkRecords compares recs with ws. For a rejected row only the row, the field and
// the message are compared, unless w.c is set.
func checkRecords(tb testing.TB, where string, recs []producer.Record, ws []want) {
	tb.Helper()
	if len(recs) != len(ws) {
		for _, r := range recs {
			tb.Logf("  record row %d %+v err %v", r.Row, r.Candidate, r.Err)
		}
		tb.Fatalf("got %d records, want %d", len(recs), len(ws))
	}
	for i, w := range ws {
		r := recs[i]
		if r.Row != w.row {
			tb.Errorf("record %d: Row = %d, want %d", i, r.Row, w.row)
		}
		if w.msg == "" && w.field == "" {
			if r.Err != nil {
				tb.Errorf("record %d: rejected: %v", i, r.Err)
			}
			if r.Candidate != w.c {
				tb.Errorf("record %d: Candidate = %+v, want %+v", i, r.Candidate, w.c)
			}
			continue
		}
		if r.Err == nil {
			tb.Errorf("record %d: accepted %+v, want rejected (%s: %s)", i, r.Candidate, w.field, w.msg)
			continue
		}
		if r.Err.Row != r.Row || r.Err.Where != where {
			tb.Errorf("record %d: RowError at %s %d, record Row %d, want %s", i, r.Err.Where, r.Err.Row, r.Row, where)
		}
		if r.Err.Field != w.field {
			tb.Errorf("record %d: Field = %q, want %q (%v)", i, r.Err.Field, w.field, r.Err)
		}
		if !strings.Contains(r.Err.Msg, w.msg) {
			tb.Errorf("record %d: Msg = %q, want it to contain %q", i, r.Err.Msg, w.msg)
		}
		prefix := where + " " + strconv.FormatInt(r.Row, 10) + ": "
		if w.field != "" {
			prefix += w.field + ": "
		}
		if !strings.HasPrefix(r.Err.Error(), prefix) {
			tb.Errorf("record %d: Error() = %q, want it to start with %q", i, r.Err.Error(), prefix)
		}
		if w.c != (payload.Candidate{}) && r.Candidate != w.c {
			tb.Errorf("record %d: Candidate = %+v, want %+v", i, r.Candidate, w.c)
		}
	}
}
