package payload

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// DecodeInviteRequest reads a request body as the vendor accepts it, rejecting
// trailing data and reporting type errors with the field's path. It does not
// validate; call ValidateRequest for that.
func DecodeInviteRequest(b []byte) (*InviteRequest, error) {
	var r InviteRequest
	if err := decodeStrict(b, &r); err != nil {
		return nil, fmt.Errorf("invite request: %w", err)
	}
	return &r, nil
}

// DecodeInviteResponse reads a 200 body. Unknown fields are tolerated; a body that
// is not an object with a "results" array is an error.
func DecodeInviteResponse(b []byte) (*InviteResponse, error) {
	return DecodeInviteResponseOf(b, 0)
}

// DecodeInviteResponseOf is DecodeInviteResponse for the answer to a request of n
// candidates: the results are decoded into room for n, without growing a slice
// result by result.
func DecodeInviteResponseOf(b []byte, n int) (*InviteResponse, error) {
	if n > 0 {
		var sized struct {
			Results []Result `json:"results"`
		}
		sized.Results = make([]Result, 0, n)
		if err := decodeStrict(b, &sized); err == nil && len(sized.Results) > 0 {
			return &InviteResponse{Results: sized.Results}, nil
		}
		// An error, or no result: absent, null or empty look alike here; say which.
	}
	var raw struct {
		Results *[]Result `json:"results"`
	}
	if err := decodeStrict(b, &raw); err != nil {
		return nil, fmt.Errorf("invite response: %w", err)
	}
	if raw.Results == nil {
		return nil, fmt.Errorf("invite response: no \"results\" array")
	}
	return &InviteResponse{Results: *raw.Results}, nil
}

func decodeStrict(b []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(into); err != nil {
		return describeJSONError(b, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("unexpected data after the JSON value")
	}
	return nil
}

// describeJSONError rewords encoding/json's errors so they name the field, with the
// index of every array on the way ("candidates[3].email", not encoding/json's
// "candidates.email"), so that one bad candidate in thousands can be found.
func describeJSONError(b []byte, err error) error {
	switch e := err.(type) {
	case *json.UnmarshalTypeError:
		field := pathAt(b, e.Offset)
		if field == "" {
			field = e.Field
		}
		if field == "" {
			field = "(top level)"
		}
		return fmt.Errorf("field %s: expected %s, got JSON %s (offset %d)", field, e.Type, e.Value, e.Offset)
	case *json.SyntaxError:
		return fmt.Errorf("malformed JSON at offset %d: %v", e.Offset, e)
	}
	if err == io.EOF {
		return fmt.Errorf("empty body: expected a JSON object")
	}
	return fmt.Errorf("malformed JSON: %w", err)
}

// pathAt returns the path, like "candidates[3].email", of the value of b that
// encoding/json was reading when it had read off bytes: the first value whose first
// token ends at or after off. It returns "" for the top-level value or when b cannot be
// walked that far.
func pathAt(b []byte, off int64) string {
	type frame struct {
		array   bool
		index   int
		key     string
		wantKey bool
	}
	var stack []frame
	path := func() string {
		var p strings.Builder
		for _, f := range stack {
			if f.array {
				p.WriteString("[" + strconv.Itoa(f.index) + "]")
				continue
			}
			if p.Len() > 0 {
				p.WriteByte('.')
			}
			p.WriteString(f.key)
		}
		return p.String()
	}
	// valueDone moves the innermost container past the value just read.
	valueDone := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].wantKey = true
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].wantKey {
			if key, ok := tok.(string); ok {
				stack[n-1].key, stack[n-1].wantKey = key, false
				continue
			}
		}
		switch tok {
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
			continue
		}
		if dec.InputOffset() >= off {
			return path()
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{wantKey: true})
		case json.Delim('['):
			stack = append(stack, frame{array: true})
		default:
			valueDone()
		}
	}
}
