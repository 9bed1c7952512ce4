package store

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

// Where a batch's callback stands (CallbackState.State).
const (
	CallbackPending   = "pending"   // not sent yet, or being retried
	CallbackDelivered = "delivered" // the receiver answered 2xx
	CallbackFailed    = "failed"    // given up on
)

// CallbackState is where a batch's callback stands, as status shows it to
// every token that may read the batch.
type CallbackState struct {
	// URL is the callback URL with its path and query masked
	// (https://host/****): they often hold a secret. Batch.CallbackURL is whole.
	URL            string `json:"url"`
	State          string `json:"state"`
	Attempts       int    `json:"attempts"`
	LastHTTPStatus int    `json:"last_http_status,omitempty"`
	// LastError is why the last attempt failed, as a category (callback.Reason*),
	// never the error's text, which may name addresses and ports.
	LastError string     `json:"last_error,omitempty"`
	SettledAt *time.Time `json:"settled_at,omitempty"` // when delivered or given up on
}

// callbackState reads the state from a batch record's fields.
func callbackState(m map[string]string) *CallbackState {
	raw := m["callback_url"]
	if raw == "" {
		return nil
	}
	cs := &CallbackState{URL: maskURL(raw), State: CallbackPending, Attempts: atoi(m["cb_attempts"]),
		LastHTTPStatus: atoi(m["cb_status"]), LastError: shownReason(m["cb_error"])}
	if s := m["cb_state"]; s != "" {
		cs.State = s
	}
	if at := msTime(m["cb_at"]); !at.IsZero() {
		cs.SettledAt = &at
	}
	return cs
}

// maskURL is a callback URL as it may be shown to people and logs: its scheme
// and host, and "/****" for a path or query, which often hold a secret.
func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	if (u.Path == "" || u.Path == "/") && u.RawQuery == "" {
		return u.Scheme + "://" + u.Host + "/"
	}
	return u.Scheme + "://" + u.Host + "/****"
}

// reasonPattern is the shape of a delivery failure's category.
var reasonPattern = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

// shownReason is a recorded last error as status shows it: a category as it
// is, and "error" for the text that records written before categories held.
func shownReason(recorded string) string {
	if recorded == "" || reasonPattern.MatchString(recorded) {
		return recorded
	}
	return "error"
}

// CallbackAttempt is the result of one delivery of a batch's callback.
type CallbackAttempt struct {
	// HTTPStatus is the receiver's answer, 0 when none came.
	HTTPStatus int
	// Err is why it failed; nil when delivered. Its text is not recorded.
	Err error
	// Reason is what status shows of Err: a category (callback.Reason); "error"
	// when empty.
	Reason string
	// Final is set when no more attempt will be made.
	Final bool
	// By is who made the attempt ("worker@<host>"), for the batch's event log,
	// which records the delivered or given-up callback.
	By string
}

// reason is the category recorded for a failed attempt.
func (a CallbackAttempt) reason() string {
	if r := shownReason(a.Reason); r != "" {
		return r
	}
	return "error"
}

// RecordCallback counts an attempt to deliver the batch's callback and what came
// of it: delivered, failed for good (Final), or failed for now. A delivered or
// given-up callback is written in the batch's event log in the same step, with
// the attempts it took. A batch whose record is gone (expired) gets nothing
// written.
func (s *Store) RecordCallback(ctx context.Context, batchID string, a CallbackAttempt) error {
	state, at, msg, event := CallbackPending, "", "", ""
	switch {
	case a.Err == nil:
		state, at = CallbackDelivered, nowMS(s.now())
		event = s.encodeEvent(Event{What: EventCallbackDelivered, By: a.By, Detail: "callback delivered: HTTP " + strconv.Itoa(a.HTTPStatus)})
	case a.Final:
		state, at, msg = CallbackFailed, nowMS(s.now()), a.reason()
		event = s.encodeEvent(Event{What: EventCallbackFailed, By: a.By, Detail: "callback given up on: " + msg + httpStatusNote(a.HTTPStatus)})
	default:
		msg = a.reason()
	}
	c := callbackArgs{batch: s.bkey(batchID, ""), ev: s.bkey(batchID, "ev"), httpStatus: a.HTTPStatus, state: state, err: msg, at: at,
		event: event, maxEvents: MaxEvents}
	if err := s.eval(ctx, callbackScript, c.keys(), c.argv()...).Err(); err != nil {
		return fmt.Errorf("record the callback of batch %s: %w", batchID, err)
	}
	return nil
}

// httpStatusNote is ", HTTP 503" for an answer, "" when none came.
func httpStatusNote(status int) string {
	if status == 0 {
		return ""
	}
	return ", HTTP " + strconv.Itoa(status)
}
