package task

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// AttrBatchID is the attribute naming the batch on the spans of the producer
// and the worker.
const AttrBatchID = attribute.Key("bulkinvite.batch_id")

// traceparent returns the W3C traceparent of ctx's span, "" when ctx carries
// no span context (tracing off, and no traced task upstream): the chunk task
// then carries none, and costs no byte for it.
func traceparent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// TraceContext returns ctx with c's trace context (Chunk.Trace) as the remote
// parent of the spans started from it; ctx as is when c carries none, or one
// that is not a valid traceparent.
func (c *Chunk) TraceContext(ctx context.Context) context.Context {
	if c.Trace == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": c.Trace})
}
