// Package payload owns the wire types bulkinvite exchanges with the outside world:
// the Flowmingo invite API's request and response bodies, the task payloads that
// producers write and workers read (with their versions and deterministic task
// ids), the dead-letter reasons and outcomes, and the validation rules that
// docs/vendor-api.md states for a request and for each candidate, plus our own.
//
// It does no I/O. Readers of files live in producer, the HTTP client in flowmingo,
// and Redis bookkeeping in store.
package payload
