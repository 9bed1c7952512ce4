package httpapi

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// SpanCreateBatch is the name of the span of a POST /v1/batches (Config.Tracer),
// the parent of the producer's enqueue span.
const SpanCreateBatch = "POST /v1/batches"

// tracerName is the instrumentation scope of the server's spans.
const tracerName = "github.com/bulkinvite/bulkinvite/internal/httpapi"

// batchSpanOptions are the options of SpanCreateBatch, built once.
var batchSpanOptions = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

// traceBatch starts the span of a POST /v1/batches, the child of the caller's
// trace context when Config.Propagator reads one from its headers; end ends it
// with the status w recorded. The request comes back with the span in its
// context, or as it was when there is nothing to carry (tracing off).
func (s *Server) traceBatch(w http.ResponseWriter, r *http.Request) (_ *http.Request, end func()) {
	ctx := r.Context()
	if s.cfg.Propagator != nil {
		ctx = s.cfg.Propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	ctx, span := s.tracer.Start(ctx, SpanCreateBatch, batchSpanOptions...)
	if !span.IsRecording() {
		if span.SpanContext().IsValid() {
			r = r.WithContext(ctx)
		}
		return r, func() { span.End() }
	}
	span.SetAttributes(attribute.String("http.request.method", r.Method), attribute.String("http.route", "/v1/batches"),
		attribute.String("bulkinvite.request_id", requestInfo(r).id))
	return r.WithContext(ctx), func() {
		if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", sw.status))
			if sw.status >= http.StatusInternalServerError {
				span.SetStatus(codes.Error, "")
			}
		}
		span.End()
	}
}
