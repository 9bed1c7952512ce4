package producer

import (
	"fmt"
	"io"
	"strings"
)

// Request is what ScanRequest learns of a JSON request body without decoding its
// candidates.
type Request struct {
	// Meta holds the request-level fields, wherever they stand in the body.
	Meta
	// Object is true when the top-level value is an object (the vendor's request
	// body), false for an array of candidates.
	Object bool
	// Candidates counts the elements of the candidates array.
	Candidates int64
	// Extra holds the values of the extra keys ScanRequest was asked for, by the
	// lower-case key; a key absent, null or "" is not in it.
	Extra map[string]string
}

// ScanRequest reads a JSON request body (what a JSONSource reads) to its end
// without decoding its candidates: it checks the structure, counts the
// candidates, and returns the request-level fields wherever they are, with the
// string values of the extra keys (matched ignoring case, whitespace trimmed). A
// caller that must know them all before importing reads the body twice: the
// vendor's own sample request puts invitation_message and send_invite after the
// candidates, which a single streaming pass learns only at the end.
//
// The errors are those of JSONSource.Next; an error in a request-level value is a
// *KeyError naming the key. Memory stays flat as with JSONSource.
func ScanRequest(r io.Reader, extra ...string) (*Request, error) {
	s, vals := newRequestSource(r, true, extra)
	if _, err := s.Next(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("JSON: a candidate was decoded while scanning")
		}
		return nil, err
	}
	return s.request(vals), nil
}

// ReadRequest is ScanRequest for a body small enough to hold in memory: it
// decodes the candidates too and returns their records, in order, so that such a
// body is parsed once. Its memory grows with the body.
func ReadRequest(r io.Reader, extra ...string) (*Request, []Record, error) {
	s, vals := newRequestSource(r, false, extra)
	var recs []Record
	for {
		rec, err := s.Next()
		if err == io.EOF {
			return s.request(vals), recs, nil
		}
		if err != nil {
			return nil, nil, err
		}
		recs = append(recs, rec)
	}
}

func newRequestSource(r io.Reader, skip bool, extra []string) (*JSONSource, map[string]*string) {
	s := NewJSONSource(r)
	s.skip = skip
	vals := make(map[string]*string, len(extra))
	for _, k := range extra {
		vals[strings.ToLower(k)] = new(string)
	}
	s.extra = vals
	return s, vals
}

func (s *JSONSource) request(vals map[string]*string) *Request {
	req := &Request{Meta: s.meta, Object: s.object, Candidates: s.n, Extra: map[string]string{}}
	for k, v := range vals {
		if *v != "" {
			req.Extra[k] = *v
		}
	}
	return req
}

// skipCandidate reads the next element of the candidates array without decoding
// it, for ScanRequest.
func (s *JSONSource) skipCandidate() error {
	if err := s.dec.Decode(&s.raw); err != nil {
		return s.structureError(err, fmt.Sprintf("candidate %d (offset %d)", s.n+1, s.dec.InputOffset()))
	}
	s.n++
	return nil
}
