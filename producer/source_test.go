package producer_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	const (
		csvBody  = "email\nalex@example.com\n"
		jsonl    = `{"email":"alex@example.com"}` + "\n"
		jsonBody = `[{"email":"alex@example.com"}]`
	)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name   string
		file   string
		body   string
		format string
		want   string // the Source's type
	}{
		{name: "csv by extension", file: "a.csv", body: csvBody, want: "*producer.CSVSource"},
		{name: "CSV upper-case extension", file: "b.CSV", body: csvBody, want: "*producer.CSVSource"},
		{name: "jsonl by extension", file: "c.jsonl", body: jsonl, want: "*producer.JSONLSource"},
		{name: "ndjson by extension", file: "d.ndjson", body: jsonl, want: "*producer.JSONLSource"},
		{name: "json by extension", file: "e.json", body: jsonBody, want: "*producer.JSONSource"},
		{name: "format overrides extension", file: "f.txt", body: jsonl, format: "jsonl", want: "*producer.JSONLSource"},
		{name: "format in upper case", file: "g.data", body: csvBody, format: "CSV", want: "*producer.CSVSource"},
		{name: "ndjson format", file: "h", body: jsonl, format: "ndjson", want: "*producer.JSONLSource"},
		{name: "format beats a misleading extension", file: "i.csv", body: jsonBody, format: "json", want: "*producer.JSONSource"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src, closer, err := producer.Open(write(tt.file, tt.body), tt.format)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer closer.Close()
			if got := fmt.Sprintf("%T", src); got != tt.want {
				t.Errorf("Source is %s, want %s", got, tt.want)
			}
			recs, err := readAll(t, src)
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, whereOf(src), recs, []want{ok(firstRow(src), payload.Candidate{Email: "alex@example.com"})})
		})
	}
}

// whereOf and firstRow say how src numbers its records, and the row of the first
// record of a one-candidate file.
func whereOf(src producer.Source) string {
	if _, ok := src.(*producer.JSONSource); ok {
		return producer.WhereCandidate
	}
	return producer.WhereLine
}

func firstRow(src producer.Source) int64 {
	if _, ok := src.(*producer.CSVSource); ok {
		return 2 // after the header
	}
	return 1
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badCSV := filepath.Join(dir, "people.csv")
	if err := os.WriteFile(badCSV, []byte("name,phone\nAlex,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		path   string
		format string
		want   []string
		is     error
	}{
		{name: "unknown extension names the accepted ones", path: "people.xlsx",
			want: []string{`unknown extension ".xlsx"`, ".csv", ".jsonl", ".ndjson", ".json"}},
		{name: "no extension", path: filepath.Join(dir, "people"), want: []string{"no file extension", ".csv"}},
		{name: "unknown format", path: "people.csv", format: "xml", want: []string{`unknown format "xml"`, "csv, jsonl (or ndjson), json"}},
		{name: "missing file", path: filepath.Join(dir, "missing.csv"), want: []string{"missing.csv"}, is: fs.ErrNotExist},
		{name: "CSV without a usable header names the file", path: badCSV, want: []string{"people.csv", "no email or cv_link column"}, is: producer.ErrCSVHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src, closer, err := producer.Open(tt.path, tt.format)
			if err == nil {
				closer.Close()
				t.Fatalf("Open = %T, want an error", src)
			}
			if src != nil || closer != nil {
				t.Errorf("Open returned a source or closer with error %v", err)
			}
			for _, frag := range tt.want {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error %q lacks %q", err, frag)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
}

func TestNewSource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		format string
		in     string
		want   string
	}{
		{format: "csv", in: "email\nalex@example.com\n", want: "*producer.CSVSource"},
		{format: "jsonl", in: `{"email":"alex@example.com"}`, want: "*producer.JSONLSource"},
		{format: "ndjson", in: `{"email":"alex@example.com"}`, want: "*producer.JSONLSource"},
		{format: "json", in: `[{"email":"alex@example.com"}]`, want: "*producer.JSONSource"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			t.Parallel()
			src, err := producer.NewSource(strings.NewReader(tt.in), tt.format)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%T", src); got != tt.want {
				t.Errorf("NewSource(%q) is %s, want %s", tt.format, got, tt.want)
			}
		})
	}
	if _, err := producer.NewSource(strings.NewReader(""), "yaml"); err == nil || !strings.Contains(err.Error(), `unknown format "yaml"`) {
		t.Errorf("NewSource(yaml) error = %v", err)
	}
}

func TestSliceSource(t *testing.T) {
	t.Parallel()
	in := []payload.Candidate{
		{Email: " alex@example.com "},
		{Name: "Nobody"},
		{CVLink: "https://example.com/cv.pdf", ATSCandidateID: uuidA},
	}
	orig := append([]payload.Candidate(nil), in...)
	recs, err := readAll(t, producer.NewSliceSource(in))
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, producer.WhereCandidate, recs, []want{
		ok(1, payload.Candidate{Email: "alex@example.com"}),
		rejected(2, "email", "required"),
		ok(3, payload.Candidate{CVLink: "https://example.com/cv.pdf", ATSCandidateID: uuidA}),
	})
	for i := range in {
		if in[i] != orig[i] {
			t.Errorf("NewSliceSource changed its input: %+v, was %+v", in[i], orig[i])
		}
	}
	if _, err := producer.NewSliceSource(nil).Next(); err != io.EOF {
		t.Errorf("empty SliceSource: Next = %v, want io.EOF", err)
	}
}

func TestRowErrorError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		e    producer.RowError
		want string
	}{
		{name: "line and field", e: producer.RowError{Row: 17, Where: producer.WhereLine, Field: "email", Msg: `not a valid email address: "x@"`},
			want: `line 17: email: not a valid email address: "x@"`},
		{name: "candidate and field", e: producer.RowError{Row: 3, Where: producer.WhereCandidate, Field: "cv_link", Msg: "must be an https URL"},
			want: "candidate 3: cv_link: must be an https URL"},
		{name: "no field", e: producer.RowError{Row: 2, Where: producer.WhereLine, Msg: "not valid JSON"},
			want: "line 2: not valid JSON"},
		{name: "no where", e: producer.RowError{Row: 5, Msg: "bad"}, want: "row 5: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var err error = &tt.e
			if got := err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	got := producer.Normalize(payload.Candidate{
		ATSCandidateID: "\t" + uuidA + " ", Email: " Alex@Example.com\r\n", Name: "  Alex  Doe ",
		Firstname: "\u00a0Alex\u00a0", Lastname: " ", CVLink: "\nhttps://example.com/cv.pdf\n",
	})
	want := payload.Candidate{ATSCandidateID: uuidA, Email: "Alex@Example.com", Name: "Alex  Doe", Firstname: "Alex", CVLink: "https://example.com/cv.pdf"}
	if got != want {
		t.Errorf("Normalize = %+v, want %+v", got, want)
	}
}

func TestNewRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		c     payload.Candidate
		field string
		msg   string
	}{
		{name: "valid", c: payload.Candidate{Email: " alex@example.com "}},
		{name: "blank email and cv link", c: payload.Candidate{Email: "  ", CVLink: "\t", Name: "N"}, field: "email", msg: "required when cv_link is absent"},
		{name: "first field named, all listed", c: payload.Candidate{Email: "x@", CVLink: "http://h/cv"}, field: "email",
			msg: `not a valid email address: "x@"; cv_link: must be an https URL: "http://h/cv"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := producer.NewRecord(9, producer.WhereLine, tt.c)
			if rec.Row != 9 || rec.Candidate != producer.Normalize(tt.c) {
				t.Errorf("NewRecord = %+v", rec)
			}
			if tt.msg == "" {
				if rec.Err != nil {
					t.Errorf("rejected: %v", rec.Err)
				}
				return
			}
			if rec.Err == nil {
				t.Fatal("accepted")
			}
			if e := *rec.Err; e.Row != 9 || e.Where != producer.WhereLine || e.Field != tt.field || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("RowError = %+v, want field %q msg %q", *rec.Err, tt.field, tt.msg)
			}
		})
	}
}
