package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
)

// Error codes of the JSON error shape, by status.
const (
	CodeInvalidRequest       = "invalid_request"        // 400, details name the fields
	CodeConfirmationRequired = "confirmation_required"  // 400, DELETE without confirm=true
	CodeUnauthorized         = "unauthorized"           // 401
	CodeForbidden            = "forbidden"              // 403, the token lacks the route's scope
	CodeNotFound             = "not_found"              // 404
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeIdempotencyConflict  = "idempotency_key_reused" // 409, the key was used for another body
	CodeIdempotencyInUse     = "idempotency_key_in_use" // 409, the same request is being imported
	CodeBatchConflict        = "batch_id_conflict"      // 409, the batch id names another body or owner
	CodeBatchDone            = "batch_done"             // 409, cancel of a batch that is done
	CodeBatchExpired         = "batch_expired"          // 410
	CodeBodyTooLarge         = "body_too_large"         // 413
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodeMisdirected          = "misdirected_request"    // 421, InsecureNoAuth and a Host not loopback
	CodeRateLimited          = "rate_limited"           // 429
	CodeTooManyFailedAuth    = "too_many_failed_auth"   // 429, the client address sent too many wrong tokens
	CodeInternal             = "internal"               // 500
	CodeNotReady             = "not_ready"              // 503, Redis cannot be reached for now
	CodeServerBusy           = "server_busy"            // 503, the request bodies held at once are at Config.SpoolLimit
	CodeRedisFull            = "redis_full"             // 503, Redis is at its maxmemory and refuses writes
)

// redisRetryAfter is the Retry-After of a 503 not_ready: Redis out of reach is
// often back within seconds (a restart, a failover).
const redisRetryAfter = 5 * time.Second

// redisFullRetryAfter is the Retry-After of a 503 redis_full: room in a full
// Redis comes as workers drain the queues, or when someone raises maxmemory.
const redisFullRetryAfter = 30 * time.Second

// importMemoryWait is how long an import inside a request waits for Redis
// memory before the request is answered 503 redis_full: a few seconds, for
// room that comes back at once, not the CLI's minutes.
const importMemoryWait = 3 * time.Second

// ErrorBody is the one shape of every error answer: {"error":{...}}.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Error is what went wrong: a stable code, a message for people, and details
// (the fields at fault, for a 400), never null.
type Error struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Details []Detail `json:"details"`
}

// Detail is one field at fault ("" for the request as a whole) and why.
type Detail struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// apiError is an error answer on its way out.
type apiError struct {
	status     int
	body       Error
	retryAfter int // seconds, for 409 in use, 429 and 503
}

func (e *apiError) Error() string { return e.body.Code + ": " + e.body.Message }

func errorf(status int, code, msg string, details ...Detail) *apiError {
	if details == nil {
		details = []Detail{}
	}
	return &apiError{status: status, body: Error{Code: code, Message: msg, Details: details}}
}

// invalid is a 400 naming the fields at fault.
func invalid(details ...Detail) *apiError {
	msg := "the request cannot be accepted"
	if len(details) == 1 {
		msg = details[0].Message
		if details[0].Field != "" {
			msg = details[0].Field + ": " + msg
		}
	}
	return errorf(http.StatusBadRequest, CodeInvalidRequest, msg, details...)
}

// fieldDetails turns payload's field errors into details, and any other error
// into one detail for field.
func fieldDetails(field string, err error) []Detail {
	var es payload.Errors
	var fe *payload.FieldError
	switch {
	case errors.As(err, &es):
		out := make([]Detail, len(es))
		for i, e := range es {
			out[i] = Detail{Field: e.Path(), Message: e.Msg}
		}
		return out
	case errors.As(err, &fe):
		return []Detail{{Field: fe.Path(), Message: fe.Msg}}
	}
	return []Detail{{Field: field, Message: err.Error()}}
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"could not encode the answer","details":[]}}`)
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// fail answers err: an *apiError as it says; Redis out of reach (for now) as a
// 503 not_ready with Retry-After; Redis at its maxmemory as a 503 redis_full
// with Retry-After; anything else as a 500. The cause of the last three is
// logged with the request id, not shown.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case store.Unavailable(err):
		s.log.Warn("Redis cannot be reached", zap.String("request_id", requestInfo(r).id), zap.String("route", r.Pattern), zap.Error(err))
		ae = errorf(http.StatusServiceUnavailable, CodeNotReady, "the service cannot reach its data store for now; retry later (request id "+requestInfo(r).id+")")
		ae.retryAfter = int(redisRetryAfter / time.Second)
	case store.OutOfMemory(err):
		s.log.Warn("Redis is out of memory", zap.String("request_id", requestInfo(r).id), zap.String("route", r.Pattern), zap.Error(err))
		ae = errorf(http.StatusServiceUnavailable, CodeRedisFull, "the service's data store is full for now; retry later (request id "+requestInfo(r).id+")")
		ae.retryAfter = int(redisFullRetryAfter / time.Second)
	default:
		s.log.Error("request failed", zap.String("request_id", requestInfo(r).id), zap.String("route", r.Pattern), zap.Error(err))
		ae = errorf(http.StatusInternalServerError, CodeInternal, "internal error; the log has it under request id "+requestInfo(r).id)
	}
	if ae.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="bulkinvite"`)
	}
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.retryAfter))
	}
	writeJSON(w, ae.status, ErrorBody{Error: ae.body})
}
