// Package flowmingo is the HTTP client of the Flowmingo invite API
// (docs/vendor-api.md).
//
// It owns one request's worth of work: sending an InviteRequest with the key in the
// X-API-Key header; turning every status of the table in docs/vendor-api.md into a
// result or a typed error (*TransientError, *RateLimitError, *AuthError,
// *NotFoundError, *ValidationError, *TooLargeError), including the Retry-After hint,
// whether the vendor may have acted before the reply was lost, and the per-field
// entries of a 400/422 body (ValidationError.NamedCandidates, AboutRequest); and
// matching the results of a 200 to the request's candidates by position, so the
// caller gets exactly one CandidateResult per candidate: invited, cv_queued, failed
// (with the vendor's error fields) or unknown.
// It also owns APIKey, the key type that only ever prints masked, and it redacts the
// key from anything the vendor echoes back.
//
// It does not retry, back off, wait, rate-limit, keep the invite ledger, dead-letter,
// log or validate requests: those belong to the worker, ratelimit and payload. Its
// errors say what happened; the caller's retry policy decides what to do about it.
// flowmingo/sandbox is a local stand-in for the vendor API, in the spirit of
// net/http/httptest.
package flowmingo
