// Package task owns the wire format of bulkinvite's own queue: the job a batch's
// candidates share, the segment and chunk task payloads producers write and
// workers read, with their version and deterministic task ids, the task type
// names and the queues tasks go to.
//
// It does no I/O. The vendor's request and response bodies are package wire's; writing
// and reading tasks through asynq is producer's and worker's.
package task
