package httpapi_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/producer"
	"github.com/bulkinvite/bulkinvite/worker"
)

// The caller's trace context, as a client that traces sends it.
const (
	callerTrace       = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan        = "00f067aa0ba902b7"
	callerTraceparent = "00-" + callerTrace + "-" + callerSpan + "-01"
)

func attrOf(s tracetest.SpanStub, k attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes {
		if kv.Key == k {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// TestOneTraceFromThePostToTheVendor: a POST /v1/batches with a traceparent is
// one trace, continued by the server, the producer's import, every chunk task
// (through the queue, re-cut by a worker with smaller chunks) and each request
// to the vendor, with the attributes the operations page names.
func TestOneTraceFromThePostToTheVendor(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() { _ = tp.Shutdown(t.Context()) }()
	tb := setupWith(t, httpapi.Config{Tracer: tp, Propagator: propagation.TraceContext{}}, pipelinetest.Options{Tracer: tp})
	const n = 5
	rec := tb.do(t, req{method: "POST", target: "/v1/batches", body: batchBody("traced", sandbox.DemoInterviewSetID, n),
		header: []string{"traceparent", callerTraceparent}})
	var acc httpapi.Accepted
	decode(t, rec, &acc)
	if rec.Code != 202 || acc.Accepted != n {
		t.Fatalf("POST: %d %+v", rec.Code, acc)
	}
	tb.StartWorker(pipelinetest.WorkerOptions{Tracer: tp, Worker: worker.Config{ChunkSize: 2}})
	tb.WaitDone(acc.BatchID, 30*time.Second)
	tb.CheckAccounting(acc.BatchID)

	// The batch is done once its outcomes are recorded, a moment before the
	// handlers return and end their spans: wait for the chunks' spans. 5
	// candidates, chunks of 2 in the worker: the producer's chunk, re-cut into
	// three, each sending one request.
	const chunks = 4
	var spans tracetest.SpanStubs
	sent := func() (sum int64) {
		for _, s := range spans {
			if s.Name == worker.SpanInvite {
				v, _ := attrOf(s, "bulkinvite.candidates")
				sum += v.AsInt64()
			}
		}
		return sum
	}
	ended := func() (k int) {
		for _, s := range spans {
			if s.Name == worker.SpanChunk {
				k++
			}
		}
		return k
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		spans = exp.GetSpans()
		if (sent() >= n && ended() >= chunks) || time.Now().After(deadline) {
			break
		}
	}
	byID := map[trace.SpanID]tracetest.SpanStub{}
	count := map[string]int{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
		count[s.Name]++
		if got := s.SpanContext.TraceID().String(); got != callerTrace {
			t.Errorf("span %s is in trace %s, not the caller's %s", s.Name, got, callerTrace)
		}
	}
	parentName := func(s tracetest.SpanStub) string { return byID[s.Parent.SpanID()].Name }
	if count[httpapi.SpanCreateBatch] != 1 || count[producer.SpanEnqueue] != 1 || count[worker.SpanChunk] != chunks || count[worker.SpanInvite] != 3 || sent() != n {
		t.Fatalf("spans %v, %d candidates in requests; want 1 POST, 1 enqueue, 4 chunks, 3 invites of %d", count, sent(), n)
	}
	for _, s := range spans {
		t.Logf("%-18s parent %-18s %v", s.Name, parentName(s), s.Attributes)
		str := func(k attribute.Key) string { v, _ := attrOf(s, k); return v.String() }
		switch s.Name {
		case httpapi.SpanCreateBatch:
			if s.Parent.SpanID().String() != callerSpan || !s.Parent.IsRemote() || s.SpanKind != trace.SpanKindServer {
				t.Errorf("POST's parent %v (kind %v), want the caller's remote span %s", s.Parent, s.SpanKind, callerSpan)
			}
			if str("http.response.status_code") != "202" || str("http.route") != "/v1/batches" {
				t.Errorf("POST's attributes %v", s.Attributes)
			}
		case producer.SpanEnqueue:
			if parentName(s) != httpapi.SpanCreateBatch || str(task.AttrBatchID) != acc.BatchID || str("bulkinvite.accepted") != "5" {
				t.Errorf("enqueue: parent %q, attributes %v", parentName(s), s.Attributes)
			}
		case worker.SpanChunk:
			p := parentName(s)
			if (p != producer.SpanEnqueue && p != worker.SpanChunk) || s.SpanKind != trace.SpanKindConsumer || !s.Parent.IsRemote() ||
				str(task.AttrBatchID) != acc.BatchID || str("bulkinvite.attempt") != "1" || !strings.HasPrefix(str("bulkinvite.task_id"), task.IDPrefix(acc.BatchID)) ||
				!slices.Contains(task.Shards(task.QueueDefault), str("messaging.destination.name")) || s.Status.Code == codes.Error {
				t.Errorf("chunk: parent %q (remote %v), status %v, attributes %v", p, s.Parent.IsRemote(), s.Status, s.Attributes)
			}
		case worker.SpanInvite:
			if _, waited := attrOf(s, "bulkinvite.rate_limit_wait_ms"); parentName(s) != worker.SpanChunk || s.SpanKind != trace.SpanKindClient ||
				str("http.response.status_code") != "200" || str("bulkinvite.attempt") != "1" || !waited || s.Status.Code == codes.Error {
				t.Errorf("invite: parent %q, status %v, attributes %v", parentName(s), s.Status, s.Attributes)
			}
		}
	}
}

// TestUntracedTasksCarryNoTraceContext: a server that does not trace ignores
// the caller's traceparent, and its chunk tasks carry none: no byte for it.
func TestUntracedTasksCarryNoTraceContext(t *testing.T) {
	t.Parallel()
	tb := setup(t, httpapi.Config{})
	rec := tb.do(t, req{method: "POST", target: "/v1/batches", body: batchBody("untraced", sandbox.DemoInterviewSetID, 3),
		header: []string{"traceparent", callerTraceparent}})
	if rec.Code != 202 {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	ins := asynq.NewInspectorFromRedisClient(tb.RDB)
	tasks, err := pipelinetest.Tasks(ins.ListPendingTasks, task.QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	chunks := 0
	for _, ti := range tasks {
		if ti.Type != task.TypeChunk {
			continue
		}
		chunks++
		if strings.Contains(string(ti.Payload), "traceparent") || strings.Contains(string(ti.Payload), callerTrace) {
			t.Errorf("untraced chunk task carries a trace context: %s", ti.Payload)
		}
	}
	if chunks == 0 {
		t.Fatalf("no chunk task queued (%d tasks)", len(tasks))
	}
}
