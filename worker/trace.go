package worker

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// The names of the worker's spans (Deps.Tracer).
const (
	// SpanChunk is one handling of a chunk task, a child of the span that
	// enqueued it (the producer's enqueue, or the chunk a split came from).
	SpanChunk = "chunk"
	// SpanInvite is the chunk's request to the vendor, a child of its SpanChunk.
	SpanInvite = "flowmingo.invite"
)

// tracerName is the instrumentation scope of the worker's spans.
const tracerName = "github.com/bulkinvite/bulkinvite/worker"

// The attributes of the worker's spans besides task.AttrBatchID. The error
// text of a failed span is left to the log: a vendor's message may quote a
// candidate.
const (
	attrTaskID     = attribute.Key("bulkinvite.task_id")
	attrQueue      = attribute.Key("messaging.destination.name")
	attrAttempt    = attribute.Key("bulkinvite.attempt")
	attrCandidates = attribute.Key("bulkinvite.candidates")
	attrPaused     = attribute.Key("bulkinvite.paused")
	attrWait       = attribute.Key("bulkinvite.rate_limit_wait_ms")
	attrStatus     = attribute.Key("http.response.status_code")
)

// The options of the worker's spans, built once: a span started with them
// allocates no slice for them, and costs a no-op provider one context.
var (
	chunkSpanOptions  = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
	inviteSpanOptions = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
)

// startChunk starts the span of one handling of chunk task c, the child of
// the span the task names (task.Chunk.Trace).
func (w *Worker) startChunk(ctx context.Context, c *task.Chunk) (context.Context, trace.Span) {
	return w.tracer.Start(c.TraceContext(ctx), SpanChunk, chunkSpanOptions...)
}

// describeChunk sets the attributes of run r's span.
func (r *chunkRun) describeChunk(span trace.Span) {
	if span.IsRecording() {
		span.SetAttributes(task.AttrBatchID.String(r.task.BatchID), attrTaskID.String(r.taskID), attrQueue.String(r.queue),
			attrAttempt.Int(r.attempt), attrCandidates.Int(r.task.Len()))
	}
}

// endChunk ends a chunk's span with what the handler returned: a wait (a
// *PauseError) is no failure.
func endChunk(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		if pe := (*PauseError)(nil); errors.As(err, &pe) {
			span.SetAttributes(attrPaused.Bool(true))
		} else {
			span.SetStatus(codes.Error, "")
		}
	}
	span.End()
}

// startInvite starts the span of run r's request of n candidates.
func (r *chunkRun) startInvite(ctx context.Context, n int) (context.Context, trace.Span) {
	ctx, span := r.w.tracer.Start(ctx, SpanInvite, inviteSpanOptions...)
	if span.IsRecording() {
		span.SetAttributes(task.AttrBatchID.String(r.task.BatchID), attrAttempt.Int(r.attempt), attrCandidates.Int(n),
			attrWait.Int64(r.waited.Milliseconds()))
	}
	return ctx, span
}

// endInvite ends a request's span with the vendor's HTTP status, 0 when no
// answer came.
func endInvite(span trace.Span, status int) {
	if span.IsRecording() {
		if status != 0 {
			span.SetAttributes(attrStatus.Int(status))
		}
		if status == 0 || status >= 400 {
			span.SetStatus(codes.Error, "")
		}
	}
	span.End()
}
