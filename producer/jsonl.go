package producer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/bulkinvite/bulkinvite/payload"
)

// JSONLSource reads candidates from JSON Lines: one candidate object per line, with
// the vendor's field names (email, cv_link, ...; unknown fields are ignored). Blank
// lines are skipped. A line that is not a JSON object, or whose fields have the
// wrong type, is rejected with a RowError naming the line and the JSON field, and
// reading goes on. A UTF-8 byte order mark and CRLF line ends are accepted.
type JSONLSource struct {
	br   *bufio.Reader
	buf  []byte
	line int64
	err  error // sticky: io.EOF or a fatal error
}

// NewJSONLSource returns a Source reading JSON Lines from r.
func NewJSONLSource(r io.Reader) *JSONLSource {
	br := bufio.NewReaderSize(r, 16<<10)
	skipBOM(br)
	return &JSONLSource{br: br}
}

// Next returns the next non-blank line's record. See Source.
func (s *JSONLSource) Next() (Record, error) {
	for s.err == nil {
		line, tooLong, err := s.readLine()
		if err != nil && (err != io.EOF || len(line) == 0 && !tooLong) {
			if err == io.EOF {
				s.err = io.EOF
			} else {
				s.err = fmt.Errorf("JSONL: reading line %d: %w", s.line+1, err)
			}
			break
		}
		s.line++
		if tooLong {
			return Record{Row: s.line, Err: &RowError{Row: s.line, Where: WhereLine,
				Msg: fmt.Sprintf("line longer than %d bytes", MaxRecordBytes)}}, nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		return decodeCandidate(s.line, WhereLine, line), nil
	}
	return Record{}, s.err
}

// readLine returns the next line, without keeping more than MaxRecordBytes of it:
// tooLong reports a longer line, which is consumed and dropped. err is io.EOF for
// the last line when it has no line end.
func (s *JSONLSource) readLine() (line []byte, tooLong bool, err error) {
	chunk, err := s.br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return chunk, false, err // the common case: the whole line, without a copy
	}
	s.buf = append(s.buf[:0], chunk...)
	for err == bufio.ErrBufferFull {
		chunk, err = s.br.ReadSlice('\n')
		if !tooLong && len(s.buf)+len(chunk) > MaxRecordBytes {
			tooLong, s.buf = true, s.buf[:0]
		}
		if !tooLong {
			s.buf = append(s.buf, chunk...)
		}
	}
	if tooLong && err == io.EOF {
		err = nil
	}
	return s.buf, tooLong, err
}

// decodeCandidate reads one candidate object (a JSONL line or a JSON array element)
// into a Record.
func decodeCandidate(row int64, where string, b []byte) Record {
	if c, ok := fastCandidate(b); ok {
		return NewRecord(row, where, c)
	}
	var c *payload.Candidate
	err := json.Unmarshal(b, &c)
	rec := candidateRecord(row, where, c, err)
	if err == nil && !utf8.Valid(b) {
		// encoding/json has turned the bad bytes into U+FFFD; say where they were
		// instead of sending a name the input did not hold.
		if field, msg := invalidUTF8Field(b); field != "" {
			rec.Err = &RowError{Row: row, Where: where, Field: field, Msg: msg}
		}
	}
	return rec
}

// invalidUTF8Field returns the first candidate field (in the vendor's order) whose
// string in the JSON object b is not valid UTF-8, matching keys as encoding/json
// does, ignoring letter case, and why. Keys the reader ignores are not looked at.
func invalidUTF8Field(b []byte) (field, msg string) {
	var raw map[string]json.RawMessage
	if json.Unmarshal(b, &raw) != nil {
		return "", ""
	}
	for _, name := range fieldNames {
		for k, v := range raw {
			if !strings.EqualFold(k, name) || utf8.Valid(v) || len(v) < 2 || v[0] != '"' {
				continue
			}
			if err := payload.ValidateText(string(v[1 : len(v)-1])); err != nil {
				return name, err.Error()
			}
		}
	}
	return "", ""
}

// candidateRecord makes the Record for a decoded candidate object: err is what
// encoding/json said, c what it read (nil for JSON null).
func candidateRecord(row int64, where string, c *payload.Candidate, err error) Record {
	if err == nil && c == nil {
		err = &json.UnmarshalTypeError{Value: "null", Type: reflect.TypeFor[payload.Candidate]()}
	}
	if err == nil {
		return NewRecord(row, where, *c)
	}
	rec := Record{Row: row}
	if c != nil {
		rec.Candidate = Normalize(*c)
	}
	rec.Err = &RowError{Row: row, Where: where}
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field == "":
		rec.Err.Msg = "not a JSON object (got " + jsonKind(te.Value) + "); each candidate is an object like {\"email\":\"a@example.com\"}"
	case errors.As(err, &te):
		rec.Err.Field = te.Field
		rec.Err.Msg = "expected " + expectedKind(te.Type) + ", got " + jsonKind(te.Value)
	case errors.As(err, &se):
		rec.Err.Msg = fmt.Sprintf("not valid JSON (at byte %d): %v", se.Offset, se)
	default:
		rec.Err.Msg = "not valid JSON: " + err.Error()
	}
	return rec
}

// jsonKind turns encoding/json's description of a value ("number", "number -5",
// "string", "array", ...) into words for a person.
func jsonKind(v string) string {
	switch {
	case v == "null":
		return "null"
	case v == "bool":
		return "true or false"
	case len(v) >= 6 && v[:6] == "number":
		return "a number"
	case v == "array":
		return "an array"
	case v == "object":
		return "an object"
	case v == "string":
		return "a string"
	}
	return v
}

func expectedKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return t.String()
}
