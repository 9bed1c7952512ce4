package store

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// Where a batch's callback stands (CallbackState.State).
const (
	CallbackPending   = "pending"   // not sent yet, or being retried
	CallbackDelivered = "delivered" // the receiver answered 2xx
	CallbackFailed    = "failed"    // given up on
)

// CallbackState is where a batch's callback stands, as status shows it.
type CallbackState struct {
	// URL is the callback URL without its query, which may hold a token.
	URL            string     `json:"url"`
	State          string     `json:"state"`
	Attempts       int        `json:"attempts"`
	LastHTTPStatus int        `json:"last_http_status,omitempty"`
	LastError      string     `json:"last_error,omitempty"`
	SettledAt      *time.Time `json:"settled_at,omitempty"` // when delivered or given up on
}

// callbackState reads the state from a batch record's fields.
func callbackState(m map[string]string) *CallbackState {
	raw := m["callback_url"]
	if raw == "" {
		return nil
	}
	cs := &CallbackState{URL: withoutQuery(raw), State: CallbackPending, Attempts: atoi(m["cb_attempts"]),
		LastHTTPStatus: atoi(m["cb_status"]), LastError: m["cb_error"]}
	if s := m["cb_state"]; s != "" {
		cs.State = s
	}
	if at := msTime(m["cb_at"]); !at.IsZero() {
		cs.SettledAt = &at
	}
	return cs
}

func withoutQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	shown := u.Scheme + "://" + u.Host + u.Path
	if u.RawQuery != "" {
		shown += "?…"
	}
	return shown
}

// CallbackAttempt is the result of one delivery of a batch's callback.
type CallbackAttempt struct {
	// HTTPStatus is the receiver's answer, 0 when none came.
	HTTPStatus int
	// Err is why it failed; nil when delivered.
	Err error
	// Final is set when no more attempt will be made.
	Final bool
}

// RecordCallback counts an attempt to deliver the batch's callback and what came
// of it: delivered, failed for good (Final), or failed for now. A batch whose
// record is gone (expired) gets nothing written.
func (s *Store) RecordCallback(ctx context.Context, batchID string, a CallbackAttempt) error {
	state, at, msg := CallbackPending, "", ""
	switch {
	case a.Err == nil:
		state, at = CallbackDelivered, nowMS(s.now())
	case a.Final:
		state, at, msg = CallbackFailed, nowMS(s.now()), a.Err.Error()
	default:
		msg = a.Err.Error()
	}
	if err := s.eval(ctx, callbackScript, []string{s.bkey(batchID, "")}, a.HTTPStatus, state, msg, at).Err(); err != nil {
		return fmt.Errorf("record the callback of batch %s: %w", batchID, err)
	}
	return nil
}
