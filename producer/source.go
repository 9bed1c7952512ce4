package producer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
)

// Record is one row of input: a candidate, or why the row was rejected.
type Record struct {
	// Row says where the record is in its input, for messages a person reads.
	// For CSV and JSONL it is the 1-based line number of the file on which the
	// record starts (in CSV the header is line 1, so the first data row is usually
	// line 2; a quoted field may span lines, and the next record's Row says so).
	// For JSON and for a SliceSource it is the candidate's 1-based position in its
	// array. RowError.Where says which of the two it is.
	Row int64
	// Candidate is normalised (see Normalize). For a rejected row it holds what
	// could be read, which may be nothing.
	Candidate payload.Candidate
	// Err is non-nil when the row is rejected; the candidate must not be sent.
	Err *RowError
	// History is what a replayed candidate brings from its dead letter. The file
	// readers leave it nil; a source of replayed dead letters sets it.
	History *task.History
}

// Where a RowError points: a line of a file or a position in a JSON array.
const (
	WhereLine      = "line"
	WhereCandidate = "candidate"
)

// RowError says why one row of input was rejected. It is not fatal: the source goes
// on with the next row.
type RowError struct {
	Row   int64  `json:"row"`   // as Record.Row
	Where string `json:"where"` // WhereLine or WhereCandidate
	// Field is the vendor's name of the first field at fault ("email", "cv_link",
	// ...), or "" when the row as a whole could not be read.
	Field string `json:"field,omitempty"`
	Msg   string `json:"message"` // what is wrong; with more than one field at fault, all of them
}

// Error reads like `line 17: email: not a valid email address: "x@"`.
func (e *RowError) Error() string {
	where := e.Where
	if where == "" {
		where = "row"
	}
	s := where + " " + strconv.FormatInt(e.Row, 10) + ": "
	if e.Field != "" {
		s += e.Field + ": "
	}
	return s + e.Msg
}

// Source yields records one at a time. Next returns io.EOF after the last record.
// A rejected row comes back as a Record with Err set and a nil error. Any other
// error is fatal — the input cannot be read on (a broken JSON structure, a read
// error, a record larger than MaxRecordBytes) — and names the line or byte offset;
// Next then returns the same error on every call.
type Source interface {
	Next() (Record, error)
}

// MaxRecordBytes bounds the size of one record (a CSV record, a JSONL line, a JSON
// candidate or request-level value), so that a malformed file cannot make a reader
// hold the rest of the input in memory. A CSV record or JSON value over the limit
// is fatal; an over-long JSONL line is rejected as a row.
const MaxRecordBytes = 1 << 20

// The input formats Open and NewSource accept.
const (
	FormatCSV   = "csv"
	FormatJSONL = "jsonl"
	FormatJSON  = "json"
)

// formatNames maps what a user may write (a --format value or an extension without
// its dot) to the format.
var formatNames = map[string]string{
	"csv":    FormatCSV,
	"jsonl":  FormatJSONL,
	"ndjson": FormatJSONL,
	"json":   FormatJSON,
}

const acceptedFormats = "csv, jsonl (or ndjson), json"

// Open opens the file at path for reading candidates. format is "csv", "jsonl"
// ("ndjson") or "json"; "" chooses by the file's extension (.csv, .jsonl, .ndjson,
// .json, in any letter case). The caller closes the returned Closer once done with
// the Source. (Standard input is read with NewSource; see OpenJSON for what a
// JSON request body read once in a stream cannot do.)
//
// A CSV header is read by Open, so a file without a usable header fails here; a
// JSON file is read through once first (OpenJSON), so a broken one fails here and
// its request-level fields are all known before the first candidate. To
// reach a reader's extras, assert the Source's type: *CSVSource has Ignored,
// *JSONSource has Meta.
func Open(path, format string) (Source, io.Closer, error) {
	f, err := resolveFormat(path, format)
	if err != nil {
		return nil, nil, err
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	var src Source
	if f == FormatJSON {
		src, err = OpenJSON(file)
	} else {
		src, err = NewSource(file, f)
	}
	if err != nil {
		_ = file.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return src, file, nil
}

func resolveFormat(path, format string) (string, error) {
	if format != "" {
		f, ok := formatNames[strings.ToLower(format)]
		if !ok {
			return "", fmt.Errorf("unknown format %q: accepted formats are %s", format, acceptedFormats)
		}
		return f, nil
	}
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	f, ok := formatNames[ext]
	if !ok {
		if ext == "" {
			return "", fmt.Errorf("%s: no file extension to tell the format: use .csv, .jsonl, .ndjson or .json, or give a format (%s)", path, acceptedFormats)
		}
		return "", fmt.Errorf("%s: unknown extension %q: accepted are .csv, .jsonl, .ndjson and .json, or give a format (%s)", path, "."+ext, acceptedFormats)
	}
	return f, nil
}

// NewSource returns the reader for format ("csv", "jsonl", "ndjson" or "json") over r.
func NewSource(r io.Reader, format string) (Source, error) {
	f, ok := formatNames[strings.ToLower(format)]
	if !ok {
		return nil, fmt.Errorf("unknown format %q: accepted formats are %s", format, acceptedFormats)
	}
	switch f {
	case FormatCSV:
		return NewCSVSource(r)
	case FormatJSONL:
		return NewJSONLSource(r), nil
	default:
		return NewJSONSource(r), nil
	}
}

// SliceSource reads candidates that are already in memory, such as the candidates of
// a request body or of a Go caller, with the same normalisation and validation as
// the file readers. Record.Row is the 1-based position in the slice.
type SliceSource struct {
	cands []payload.Candidate
	next  int
}

// NewSliceSource returns a Source over cands. It does not modify cands.
func NewSliceSource(cands []payload.Candidate) *SliceSource {
	return &SliceSource{cands: cands}
}

// Next returns the next candidate's record, or io.EOF.
func (s *SliceSource) Next() (Record, error) {
	if s.next >= len(s.cands) {
		return Record{}, io.EOF
	}
	s.next++
	return NewRecord(int64(s.next), WhereCandidate, s.cands[s.next-1]), nil
}

// errRecordTooLarge is returned by a limitReader whose allowance ran out.
var errRecordTooLarge = errors.New("record larger than the limit")

// readChunk bounds one read from the underlying reader, so that the bytes read while
// one record is parsed are at most the record plus one chunk of read-ahead.
const readChunk = 64 << 10

// limitReader fails reads once more than MaxRecordBytes (plus one chunk of
// read-ahead) have been read since the last reset. A reader resets it before each
// record, so that a record without an end fails instead of being buffered whole.
type limitReader struct {
	r    io.Reader
	left int64
	max  int64
}

func newLimitReader(r io.Reader) *limitReader {
	l := &limitReader{r: r, max: MaxRecordBytes}
	l.reset()
	return l
}

func (l *limitReader) reset() { l.left = l.max + readChunk }

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errRecordTooLarge
	}
	if len(p) > readChunk {
		p = p[:readChunk]
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// skipBOM consumes a UTF-8 byte order mark at the start of br, if there is one.
func skipBOM(br *bufio.Reader) {
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		_, _ = br.Discard(3)
	}
}
