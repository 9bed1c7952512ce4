package worker

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// lastTask is a task.Enqueuer that keeps the last payload.
type lastTask struct{ payload []byte }

func (q *lastTask) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	q.payload = t.Payload()
	return nil, nil
}

// lastRun keeps the benchmark's runs on the heap, as HandleChunk's are.
var lastRun *chunkRun

// BenchmarkChunkTrace is the tracing of one chunk against the work it rides
// on: a version 2 chunk task encoded as the producer enqueues it (under the
// import's span) and decoded as the worker reads it, then, with spans, the
// worker's chunk and request spans. "none" has no span at all (the path
// before tracing), "off" the no-op provider of a process without
// OTEL_EXPORTER_OTLP_ENDPOINT, "on" the SDK exporting to nowhere.
func BenchmarkChunkTrace(b *testing.B) {
	c := &task.Chunk{V: task.VersionRef, BatchID: "nightly-2026-12-01", Segment: 12, Chunk: 3, Ref: &task.Ref{From: 0, To: 50, Lo: 600, Hi: 649}}
	on := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	defer func() { _ = on.Shutdown(context.Background()) }()
	for _, tc := range []struct {
		name string
		tp   trace.TracerProvider // nil: no spans
	}{
		{"none", nil},
		{"off", noop.NewTracerProvider()},
		{"on", on},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var q lastTask
			w := &Worker{}
			ictx := context.Background()
			if tc.tp != nil {
				w.tracer = tc.tp.Tracer(tracerName)
				var span trace.Span
				ictx, span = tc.tp.Tracer("producer").Start(ictx, "enqueue")
				defer span.End()
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := task.EnqueueChunk(ictx, &q, c, "bi:nightly-2026-12-01:s12:c3", task.QueueDefault, time.Minute); err != nil {
					b.Fatal(err)
				}
				ct, err := task.DecodeChunk(q.payload)
				if err != nil {
					b.Fatal(err)
				}
				// The run, as HandleChunk makes it with spans or without.
				r := &chunkRun{w: w, task: ct, taskID: "bi:nightly-2026-12-01:s12:c3", queue: task.QueueDefault, attempt: 1, waited: time.Millisecond}
				lastRun = r
				if tc.tp == nil {
					continue
				}
				ctx, span := w.startChunk(context.Background(), ct)
				r.describeChunk(span)
				_, req := r.startInvite(ctx, ct.Len())
				endInvite(req, 200)
				endChunk(span, nil)
			}
		})
	}
}
