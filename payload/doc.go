// Package payload owns the wire types bulkinvite exchanges with the outside world:
// the Flowmingo invite API's request and response bodies, the task payloads that
// producers write and workers read, and the validation rules that API.md states
// for a request and for each candidate.
//
// It does no I/O. Readers of files live in producer, the HTTP client in flowmingo,
// and Redis bookkeeping in worker.
package payload
