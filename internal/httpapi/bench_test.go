package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"go.uber.org/zap"
)

// BenchmarkPostBatch posts batches through the handler, in parallel, against
// a private Redis: the server's share of bench/serve's work. "off" is a server
// without OTEL_EXPORTER_OTLP_ENDPOINT (no-op spans), "on" traces every POST and
// its import with the SDK, exporting to nowhere. Under each, seed is the
// vendor's sample request (one candidate, bench/perf's serve load); the others
// are generated bodies of that many candidates.
func BenchmarkPostBatch(b *testing.B) {
	on := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	defer func() { _ = on.Shutdown(context.Background()) }()
	for _, tc := range []struct {
		name string
		tp   trace.TracerProvider
	}{{"off", nil}, {"on", on}} {
		b.Run(tc.name, func(b *testing.B) { benchmarkPostBatch(b, tc.tp) })
	}
}

func benchmarkPostBatch(b *testing.B, tp trace.TracerProvider) {
	bundle := pipelinetest.New(b, pipelinetest.Options{SegmentSize: 1000, Tracer: tp})
	cfg := httpapi.Config{Tokens: []string{token1}, TokenRate: 1e9, TokenBurst: 1 << 30, Tracer: tp}
	if tp != nil {
		cfg.Propagator = propagation.TraceContext{}
	}
	srv, err := httpapi.New(httpapi.Deps{Store: bundle.Store, Producer: bundle.Producer, Replayer: bundle.Replayer, Steer: bundle.Steering(), Log: zap.NewNop()}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		body string
	}{
		{"seed", seed},
		{"candidates=100", benchBody(100)},
		{"candidates=10000", benchBody(10000)},
	} {
		b.Run(bc.name, func(b *testing.B) { postParallel(b, srv, bc.body) })
	}
}

// postParallel posts body to srv from parallel goroutines, b.N times in all.
func postParallel(b *testing.B, srv *httpapi.Server, body string) {
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("POST", "/v1/batches", strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+token1)
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("traceparent", callerTraceparent)
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, r)
			if rec.Code != http.StatusAccepted {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}
	})
}

// benchBody is a request body of n candidates of distinct emails.
func benchBody(n int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, `{"com_interview_set_id":%q,"candidates":[`, sandbox.DemoInterviewSetID)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"email":"c%d@example.com","name":"Candidate %d","cv_link":"https://files.example.com/cv/%d.pdf"}`, i, i, i)
	}
	sb.WriteString(`],"invitation_message":"Hello {{candidate_name}}, please record your interview.","send_invite":true}`)
	return sb.String()
}
