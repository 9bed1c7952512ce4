package producer

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulkinvite/bulkinvite/payload"
)

// Meta is what a JSON file that is the vendor's request body says about the whole
// request, besides its candidates.
type Meta struct {
	Target            payload.Target // from com_interview_set_id, com_project_id, com_job_post_id
	InvitationMessage string         // invitation_message, verbatim
	SendInvite        *bool          // send_invite; nil when absent or null
}

// JSONSource reads candidates from a JSON document without holding it in memory.
// The top-level value is either
//
//   - an array of candidate objects, or
//   - an object that is the vendor's request body: com_interview_set_id,
//     com_project_id, com_job_post_id, candidates, invitation_message and
//     send_invite, in any order; other keys are skipped, and keys match ignoring
//     letter case as encoding/json does. Meta returns the request-level fields.
//
// A candidate that is not an object, or whose fields have the wrong type, is
// rejected with a RowError naming its 1-based position and the JSON field, and
// reading goes on. Anything that breaks the structure (malformed or truncated JSON,
// a request-level field of the wrong type, data after the top-level value) is
// fatal, and the error names the byte offset.
//
// Memory stays flat whatever the input: a candidate or a request-level value may
// be at most MaxRecordBytes; the value of a key the reader ignores is skipped
// token by token, so its total size does not matter, but no string or number in
// it may exceed MaxRecordBytes and it may nest at most MaxJSONDepth levels deep.
type JSONSource struct {
	dec        *json.Decoder
	limit      *limitReader
	state      jsonState
	object     bool // the top-level value is a request body
	afterCands bool // the request object's candidates array has been read
	sawKey     bool // the object had a candidate-looking key, for a hint
	n          int64
	meta       Meta
	scanned    bool  // meta was read ahead (OpenJSON): complete from the start
	err        error // sticky: io.EOF or a fatal error
	// raw holds the candidate being read, reused: Decode appends into it.
	raw json.RawMessage

	// Set by ScanRequest: skip counts the candidates without decoding them, and
	// extra holds the string values of more request-level keys, by lower-case key.
	skip  bool
	extra map[string]*string
}

type jsonState int

const (
	jsonStart      jsonState = iota // before the top-level value
	jsonCandidates                  // inside the candidates array
	jsonEnd                         // after the top-level value
)

// NewJSONSource returns a Source reading a JSON array of candidates, or a request
// body, from r. Nothing is read until the first call of Next.
func NewJSONSource(r io.Reader) *JSONSource {
	limit := newLimitReader(r)
	br := bufio.NewReader(limit)
	skipBOM(br)
	return &JSONSource{dec: json.NewDecoder(br), limit: limit}
}

// OpenJSON returns a JSONSource over a file that can be read twice: it reads the
// whole file first (ScanRequest, without decoding the candidates), so that Meta
// holds every request-level field from the start, wherever the file puts it (the
// vendor's sample request has invitation_message and send_invite after the
// candidates), and an import fixes the batch's job with all of them before it
// writes a segment. A file whose structure is broken fails here, before anything
// is imported. It then reads from the start of f.
func OpenJSON(f io.ReadSeeker) (*JSONSource, error) {
	start, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	req, err := ScanRequest(f)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return nil, err
	}
	s := NewJSONSource(f)
	s.meta, s.scanned = req.Meta, true
	return s, nil
}

// Meta returns the request-level fields read so far. The source reads in file
// order, so fields that come before "candidates" are known once Next has returned
// the first record (or io.EOF), and fields after it only once Next has returned
// io.EOF, unless the source was opened by OpenJSON, which reads them first. For a
// top-level array, Meta is always the zero Meta.
func (s *JSONSource) Meta() Meta { return s.meta }

// MoreMeta reports whether request-level fields may still come: before the first
// Next, or while reading a request body whose candidates come before its other
// fields. A top-level array carries none; a source opened by OpenJSON knows them
// all from the start.
func (s *JSONSource) MoreMeta() bool {
	if s.scanned {
		return false
	}
	return s.state == jsonStart || s.object && !s.afterCands && s.err == nil
}

// Next returns the next candidate's record. See Source.
func (s *JSONSource) Next() (Record, error) {
	if s.err != nil {
		return Record{}, s.err
	}
	rec, err := s.next()
	if err != nil {
		s.err = err
	}
	return rec, err
}

func (s *JSONSource) next() (Record, error) {
	for {
		switch s.state {
		case jsonStart:
			tok, err := s.token(true)
			if err != nil {
				return Record{}, err
			}
			switch tok {
			case json.Delim('['):
				s.state = jsonCandidates
			case json.Delim('{'):
				s.object = true
				if err := s.readKeys(); err != nil {
					return Record{}, err
				}
			default:
				return Record{}, s.errorf("the top-level value is %s; expected an array of candidates or an object with a \"candidates\" array", describeToken(tok))
			}
		case jsonCandidates:
			s.limit.reset()
			if s.dec.More() && s.skip {
				if err := s.skipCandidate(); err != nil {
					return Record{}, err
				}
				continue
			}
			if s.dec.More() {
				return s.candidate()
			}
			if _, err := s.token(false); err != nil { // the array's ']'
				return Record{}, err
			}
			s.state = jsonEnd
			if s.object {
				s.afterCands = true
				if err := s.readKeys(); err != nil {
					return Record{}, err
				}
			}
		case jsonEnd:
			s.limit.reset()
			if _, err := s.dec.Token(); err != io.EOF {
				return Record{}, s.errorf("unexpected data after the top-level JSON value")
			}
			return Record{}, io.EOF
		}
	}
}

// candidate decodes the next element of the candidates array.
func (s *JSONSource) candidate() (Record, error) {
	if err := s.dec.Decode(&s.raw); err != nil {
		// The decoder stays at the start of the value it could not read.
		return Record{}, s.structureError(err, fmt.Sprintf("candidate %d (offset %d)", s.n+1, s.dec.InputOffset()))
	}
	s.n++
	return decodeCandidate(s.n, WhereCandidate, s.raw), nil
}

// readKeys reads the request object's keys and values up to the "candidates" array
// (state becomes jsonCandidates) or the object's end (state becomes jsonEnd; an
// error unless the candidates array was read before).
func (s *JSONSource) readKeys() error {
	for {
		tok, err := s.token(false)
		if err != nil {
			return err
		}
		if tok == json.Delim('}') {
			if !s.afterCands {
				hint := ""
				if s.sawKey {
					hint = "; one candidate object per line is JSON Lines: name the file .jsonl or give the format jsonl"
				}
				return s.errorf("the JSON object has no \"candidates\" array%s", hint)
			}
			s.state = jsonEnd
			return nil
		}
		key, _ := tok.(string)
		off := s.dec.InputOffset()
		var str *string
		trim := true
		switch {
		case strings.EqualFold(key, "candidates"):
			if s.afterCands {
				return s.errorf("\"candidates\" appears twice in the request object")
			}
			tok, err := s.token(false)
			if err != nil {
				return err
			}
			if tok != json.Delim('[') {
				return &KeyError{Key: key, Err: s.errorf("candidates is %s; expected an array of candidate objects", describeToken(tok))}
			}
			s.state = jsonCandidates
			return nil
		case strings.EqualFold(key, "com_interview_set_id"):
			str = &s.meta.Target.InterviewSetID
		case strings.EqualFold(key, "com_project_id"):
			str = &s.meta.Target.ProjectID
		case strings.EqualFold(key, "com_job_post_id"):
			str = &s.meta.Target.JobPostID
		case strings.EqualFold(key, "invitation_message"):
			str, trim = &s.meta.InvitationMessage, false
		case strings.EqualFold(key, "send_invite"):
			s.limit.reset()
			var b *bool
			if err := s.dec.Decode(&b); err != nil {
				return s.valueError(key, off, err)
			}
			s.meta.SendInvite = b
			continue
		case s.extra[strings.ToLower(key)] != nil:
			str = s.extra[strings.ToLower(key)]
		default:
			if _, ok := candidateKeys[strings.ToLower(key)]; ok {
				s.sawKey = true
			}
			if err := s.skipValue(key); err != nil {
				return err
			}
			continue
		}
		s.limit.reset()
		var raw json.RawMessage
		if err := s.dec.Decode(&raw); err != nil {
			return s.valueError(key, off, err)
		}
		var v *string
		if err := json.Unmarshal(raw, &v); err != nil {
			return s.valueError(key, off, err)
		}
		if v != nil && !utf8.Valid(raw) {
			// encoding/json has turned the bad bytes into U+FFFD.
			err := payload.ValidateText(string(raw[1 : len(raw)-1]))
			return &KeyError{Key: key, Err: fmt.Errorf("JSON: %s (offset %d): %v", key, off, err)}
		}
		switch {
		case v == nil:
			*str = ""
		case trim:
			*str = strings.TrimSpace(*v)
		default:
			*str = *v
		}
	}
}

// MaxJSONDepth is how many levels of arrays and objects the value of an ignored
// key of a JSON request body may nest. encoding/json's Decoder keeps state for every
// open level, so without a limit a file of nothing but '[' would take memory in
// proportion to its size; 64 is far more than any real export needs.
const MaxJSONDepth = 64

var candidateKeys = map[string]struct{}{"email": {}, "cv_link": {}, "ats_candidate_id": {}, "name": {}, "firstname": {}, "lastname": {}}

// skipValue skips the value of key token by token, so that an ignored value of any
// size is not held in memory, and refuses one nested deeper than MaxJSONDepth.
func (s *JSONSource) skipValue(key string) error {
	start := s.dec.InputOffset()
	depth := 0
	for {
		s.limit.reset()
		off := s.dec.InputOffset()
		tok, err := s.dec.Token()
		if err != nil {
			return s.structureError(err, fmt.Sprintf("offset %d (inside %s)", off, quoteKey(key)))
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			if depth > MaxJSONDepth {
				return fmt.Errorf("JSON at offset %d: the value of %s (offset %d) is nested deeper than %d levels",
					s.dec.InputOffset(), quoteKey(key), start, MaxJSONDepth)
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// quoteKey shows a key of the input in an error, quoted and cut short.
func quoteKey(key string) string {
	const max = 80
	if len(key) > max {
		key = strings.ToValidUTF8(key[:max], "") + "..."
	}
	return strconv.Quote(key)
}

// token reads the next token. At the start an empty input is an error of its own;
// anywhere else the end of the input means the JSON was cut short.
func (s *JSONSource) token(start bool) (json.Token, error) {
	s.limit.reset()
	off := s.dec.InputOffset()
	tok, err := s.dec.Token()
	if err == io.EOF && start {
		return nil, errors.New("JSON: the input is empty; expected an array of candidates or an object with a \"candidates\" array")
	}
	if err != nil {
		return nil, s.structureError(err, fmt.Sprintf("offset %d", off))
	}
	return tok, nil
}

// structureError describes an error that leaves the JSON unreadable from here on.
func (s *JSONSource) structureError(err error, where string) error {
	var se *json.SyntaxError
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("JSON: the input ends early, at offset %d, inside %s: is the file truncated?", s.dec.InputOffset(), s.inside())
	case errors.Is(err, errRecordTooLarge):
		return fmt.Errorf("JSON: the value at %s is larger than %d bytes", where, MaxRecordBytes)
	case errors.As(err, &se):
		return fmt.Errorf("JSON: malformed at %s: %v", where, se)
	}
	return fmt.Errorf("JSON: reading at %s: %w", where, err)
}

func (s *JSONSource) valueError(key string, off int64, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &KeyError{Key: key, Err: fmt.Errorf("JSON: %s (offset %d): expected %s, got %s", key, off, expectedKind(te.Type), jsonKind(te.Value))}
	}
	return &KeyError{Key: key, Err: s.structureError(err, fmt.Sprintf("%s (offset %d)", key, off))}
}

// KeyError is a fatal error in the value of a request-level key of a JSON request
// body (a message that is not a string, say): Key is the key as the input spells it.
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string { return e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

func (s *JSONSource) inside() string {
	switch {
	case s.state == jsonCandidates && s.object:
		return fmt.Sprintf("the candidates array, after %d complete candidates", s.n)
	case s.state == jsonCandidates:
		return fmt.Sprintf("the array, after %d complete candidates", s.n)
	case s.object:
		return "the request object"
	}
	return "the top-level value"
}

func (s *JSONSource) errorf(format string, args ...any) error {
	return fmt.Errorf("JSON at offset %d: %s", s.dec.InputOffset(), fmt.Sprintf(format, args...))
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "true or false"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}
