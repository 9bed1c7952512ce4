// Package payload holds the wire types of the Flowmingo invite API: its request and
// response bodies, the per-candidate error fields and the dead-letter reasons and
// outcomes derived from them, and the validation rules that docs/vendor-api.md
// states for a request and for each candidate, plus our own. Our own queue's task
// payloads are package task's.
//
// It does no I/O. Readers of files live in producer, the HTTP client in flowmingo,
// and Redis bookkeeping in store.
package payload
