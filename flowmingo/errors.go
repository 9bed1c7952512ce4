package flowmingo

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The typed errors below are what Client.Invite returns for every answer other than a
// usable 200, one type per row of the status table in docs/vendor-api.md. Each has
// HTTPStatus, which is the status the vendor answered, or 0 when no answer came. Their
// Error strings never hold the API key (messages taken from a response body are
// redacted) and show the URL without its query string or password.
//
// When the caller's context ends first, Invite returns neither of these but an error
// for which errors.Is(err, context.Canceled) (or context.DeadlineExceeded, whichever
// the caller's context reports) holds; Ambiguous tells whether the request had gone.

// TransientError is a failure worth retrying: a 5xx, a per-request timeout, a
// connection error, a status docs/vendor-api.md does not list (3xx are not
// followed), or a 200 whose body is over the size cap or does not parse.
type TransientError struct {
	// StatusCode is the vendor's status, or 0 when no answer came.
	StatusCode int
	// RetryAfter is the wait the vendor asked for in Retry-After (on a 503, say),
	// capped at Config.MaxRetryAfter; 0 when it asked for none.
	RetryAfter time.Duration
	// Ambiguous is true when the vendor may have acted on the request: anything that
	// went wrong after a connection to the API was obtained (a 5xx, a timeout or a
	// broken connection while waiting for the reply, an unknown status, a 200 whose
	// body is unusable). It is false when the request cannot have arrived (DNS, a
	// refused connection, a TLS failure). A retry after an ambiguous failure can
	// invite twice.
	Ambiguous bool
	// URL is the request URL, without query string or password.
	URL string
	// Err is the cause: the network error, the vendor's message, or why a 200 body
	// was not usable.
	Err error
}

func (e *TransientError) Error() string {
	var b strings.Builder
	b.WriteString(errPrefix(e.URL))
	if e.StatusCode != 0 {
		b.WriteString(statusLine(e.StatusCode))
	} else {
		b.WriteString("no answer")
	}
	if e.RetryAfter > 0 {
		b.WriteString(", retry after " + e.RetryAfter.String())
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.Ambiguous {
		b.WriteString(" (the request may have reached the vendor: outcome unknown)")
	}
	return b.String()
}

// Unwrap returns Err.
func (e *TransientError) Unwrap() error { return e.Err }

// HTTPStatus returns StatusCode.
func (e *TransientError) HTTPStatus() int { return e.StatusCode }

// RateLimitError is a 429: the vendor did not act on the request, and every worker
// sending with the key should slow down.
type RateLimitError struct {
	// RetryAfter is how long to wait before sending again, from Retry-After (seconds
	// or an HTTP date, reckoned against the response's Date header when it has one)
	// and capped at Config.MaxRetryAfter. A missing or unusable Retry-After gives
	// Config.DefaultRetryAfter. A date already past, or "0", gives 0: the vendor's
	// deadline is over, and the caller waits its own minimum before sending again.
	RetryAfter time.Duration
	// Message is the vendor's explanation, redacted and cut short; may be empty.
	Message string
	// URL is the request URL, without query string or password.
	URL string
}

func (e *RateLimitError) Error() string {
	return errPrefix(e.URL) + statusLine(http.StatusTooManyRequests) +
		", retry after " + e.RetryAfter.String() + withMessage(e.Message)
}

// HTTPStatus returns 429.
func (e *RateLimitError) HTTPStatus() int { return http.StatusTooManyRequests }

// AuthError is a 401 or 403: the key is missing, malformed, deleted, inactive,
// expired or lacks the invite_candidates scope. Nothing sent with the key will work
// until a person fixes it.
type AuthError struct {
	StatusCode int // 401 or 403
	// Message is the vendor's explanation, redacted and cut short; may be empty.
	Message string
	// URL is the request URL, without query string or password.
	URL string
}

func (e *AuthError) Error() string {
	return errPrefix(e.URL) + statusLine(e.StatusCode) +
		" (the API key was refused: missing, malformed, deleted, inactive, expired or without the invite_candidates scope)" +
		withMessage(e.Message)
}

// HTTPStatus returns StatusCode.
func (e *AuthError) HTTPStatus() int { return e.StatusCode }

// NotFoundError is a 404: the interview set or project is unknown to the key's
// organisation, or deleted.
type NotFoundError struct {
	// Message is the vendor's explanation, redacted and cut short; may be empty.
	Message string
	// URL is the request URL, without query string or password.
	URL string
}

func (e *NotFoundError) Error() string {
	return errPrefix(e.URL) + statusLine(http.StatusNotFound) +
		" (interview set or project unknown to the organisation, or deleted)" + withMessage(e.Message)
}

// HTTPStatus returns 404.
func (e *NotFoundError) HTTPStatus() int { return http.StatusNotFound }

// ValidationError is a 400 or 422: the vendor did not accept the payload. Sending it
// again unchanged will fail again.
type ValidationError struct {
	StatusCode int // 400 or 422
	// Message is the vendor's explanation, redacted and cut short; may be empty.
	Message string
	// Body is the response body when it is JSON (redacted of the key, otherwise
	// verbatim), else nil.
	Body json.RawMessage
	// Fields are the body's per-field entries, when it lists them in a shape we
	// know (see NamedCandidates and AboutRequest); nil otherwise.
	Fields []FieldError
	// URL is the request URL, without query string or password.
	URL string
}

func (e *ValidationError) Error() string {
	return errPrefix(e.URL) + statusLine(e.StatusCode) + " (payload not accepted)" + withMessage(e.Message)
}

// HTTPStatus returns StatusCode.
func (e *ValidationError) HTTPStatus() int { return e.StatusCode }

// TooLargeError is a 413: the vendor refused the request for its size before
// acting on it. A smaller request may pass.
type TooLargeError struct {
	// Message is the vendor's explanation, redacted and cut short; may be empty.
	Message string
	// URL is the request URL, without query string or password.
	URL string
}

func (e *TooLargeError) Error() string {
	return errPrefix(e.URL) + statusLine(http.StatusRequestEntityTooLarge) + " (request too large; not acted on)" + withMessage(e.Message)
}

// HTTPStatus returns 413.
func (e *TooLargeError) HTTPStatus() int { return http.StatusRequestEntityTooLarge }

// canceledError is returned when the caller's context ends before the answer is in.
// It unwraps to the context's error.
type canceledError struct {
	err       error
	ambiguous bool
	url       string
}

func (e *canceledError) Error() string {
	s := errPrefix(e.url) + "gave up: " + e.err.Error()
	if e.ambiguous {
		s += " (the request may have reached the vendor: outcome unknown)"
	}
	return s
}

func (e *canceledError) Unwrap() error { return e.err }

// RetryAfter returns the wait the vendor asked for, when err carries one: always for
// a *RateLimitError (possibly 0, see RateLimitError.RetryAfter), and for a
// *TransientError whose response had a usable Retry-After.
func RetryAfter(err error) (time.Duration, bool) {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return rl.RetryAfter, true
	}
	var te *TransientError
	if errors.As(err, &te) && te.RetryAfter > 0 {
		return te.RetryAfter, true
	}
	return 0, false
}

// Ambiguous reports whether err leaves the candidates' outcome unknown because the
// vendor may have acted on the request before the reply was lost: a *TransientError
// with Ambiguous set, or the caller's context ending after the request had gone.
func Ambiguous(err error) bool {
	var te *TransientError
	if errors.As(err, &te) {
		return te.Ambiguous
	}
	var ce *canceledError
	if errors.As(err, &ce) {
		return ce.ambiguous
	}
	return false
}

// HTTPStatus returns the vendor's status carried by err, or 0 when there is none.
func HTTPStatus(err error) int {
	var s interface{ HTTPStatus() int }
	if errors.As(err, &s) {
		return s.HTTPStatus()
	}
	return 0
}

func errPrefix(rawURL string) string {
	if rawURL == "" {
		return "flowmingo: invite: "
	}
	return "flowmingo: POST " + redactURL(rawURL) + ": "
}

func statusLine(code int) string {
	s := "HTTP " + strconv.Itoa(code)
	if t := http.StatusText(code); t != "" {
		s += " " + t
	}
	return s
}

func withMessage(m string) string {
	if m == "" {
		return ""
	}
	return ": " + m
}

// redactURL returns u without its query string, fragment or password. A URL that does
// not parse is not shown.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	hadQuery := p.RawQuery != "" || p.ForceQuery
	p.RawQuery, p.ForceQuery, p.Fragment, p.RawFragment = "", false, "", ""
	s := p.Redacted()
	if hadQuery {
		s += "?[redacted]"
	}
	return s
}
