package payload

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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
		return describeJSONError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("unexpected data after the JSON value")
	}
	return nil
}

// describeJSONError rewords encoding/json's errors so they name the field.
func describeJSONError(err error) error {
	switch e := err.(type) {
	case *json.UnmarshalTypeError:
		field := e.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Errorf("field %s: expected %s, got JSON %s (offset %d)", field, e.Type, e.Value, e.Offset)
	case *json.SyntaxError:
		return fmt.Errorf("malformed JSON at offset %d: %v", e.Offset, e)
	}
	return fmt.Errorf("malformed JSON: %w", err)
}
