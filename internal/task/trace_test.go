package task_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/trace"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// recorder is a task.Enqueuer that keeps what it was given.
type recorder struct{ tasks []*asynq.Task }

func (r *recorder) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	r.tasks = append(r.tasks, t)
	return &asynq.TaskInfo{}, nil
}

// tracedContext is a context whose span context is sc, as a tracer's span
// leaves it.
func tracedContext(tb testing.TB) (context.Context, trace.SpanContext) {
	tb.Helper()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	return trace.ContextWithSpanContext(context.Background(), sc), sc
}

// TestChunkTaskCarriesTheTraceContext: a chunk enqueued under a span carries
// its traceparent, in both versions, and the worker's context continues the
// trace from it; enqueued without one, the payload has no traceparent key.
func TestChunkTaskCarriesTheTraceContext(t *testing.T) {
	t.Parallel()
	ref := sampleChunk()
	ref.Ref = &task.Ref{From: 0, To: 2, Lo: 0, Hi: 7}
	for _, tc := range []struct {
		name string
		c    *task.Chunk
	}{
		{"version 1", sampleChunk()},
		{"version 2", ref},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, sc := tracedContext(t)
			q := &recorder{}
			if err := task.EnqueueChunk(ctx, q, tc.c, "bi:b1:s2:c3", "", task.DefaultChunkTimeout); err != nil {
				t.Fatal(err)
			}
			if err := task.EnqueueChunk(context.Background(), q, tc.c, "bi:b1:s2:c3", "", task.DefaultChunkTimeout); err != nil {
				t.Fatal(err)
			}
			if tc.c.Trace != "" {
				t.Errorf("EnqueueChunk wrote the traceparent %q into the caller's chunk", tc.c.Trace)
			}
			traced, plain := q.tasks[0].Payload(), q.tasks[1].Payload()
			const want = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			if !strings.Contains(string(traced), `"traceparent":"`+want+`"`) {
				t.Errorf("traced payload %s lacks traceparent %s", traced, want)
			}
			if strings.Contains(string(plain), "traceparent") || len(plain) >= len(traced) {
				t.Errorf("untraced payload %s carries a traceparent, or is not smaller than the traced one", plain)
			}
			got, err := task.DecodeChunk(traced)
			if err != nil {
				t.Fatal(err)
			}
			if got.Trace != want {
				t.Errorf("decoded Trace = %q, want %q", got.Trace, want)
			}
			parent := trace.SpanContextFromContext(got.TraceContext(context.Background()))
			if !parent.IsRemote() || parent.TraceID() != sc.TraceID() || parent.SpanID() != sc.SpanID() || !parent.IsSampled() {
				t.Errorf("the worker's parent is %+v, want the remote %+v", parent, sc)
			}
			untraced, err := task.DecodeChunk(plain)
			if err != nil {
				t.Fatal(err)
			}
			if untraced.Trace != "" || trace.SpanContextFromContext(untraced.TraceContext(context.Background())).IsValid() {
				t.Errorf("an untraced chunk gives a trace context (%q)", untraced.Trace)
			}
		})
	}
}

// TestTraceContextOfOlderAndBadPayloads: payloads written before traces (no
// key) decode as untraced; a traceparent that is not W3C's is ignored.
func TestTraceContextOfOlderAndBadPayloads(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, payload string
	}{
		{"version 2 before traces", `{"v":2,"batch_id":"b1","segment":0,"chunk":1,"ref":{"from":0,"to":2,"lo":0,"hi":1}}`},
		{"version 1 before traces", `{"v":1,"batch_id":"b1","segment":0,"chunk":1,"job":{"target":{}},"candidates":[{"seq":0,"email":"a@example.com"}]}`},
		{"bad traceparent", `{"v":2,"batch_id":"b1","segment":0,"chunk":1,"ref":{"from":0,"to":2,"lo":0,"hi":1},"traceparent":"00-zz-00f067aa0ba902b7-01"}`},
		{"zero trace id", `{"v":2,"batch_id":"b1","segment":0,"chunk":1,"ref":{"from":0,"to":2,"lo":0,"hi":1},"traceparent":"00-00000000000000000000000000000000-00f067aa0ba902b7-01"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := task.DecodeChunk([]byte(tc.payload))
			if err != nil {
				t.Fatalf("DecodeChunk = %v", err)
			}
			if sc := trace.SpanContextFromContext(c.TraceContext(context.Background())); sc.IsValid() {
				t.Errorf("trace context %+v from %s", sc, tc.payload)
			}
		})
	}
}
