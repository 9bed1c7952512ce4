package tracing_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.uber.org/goleak"

	"github.com/bulkinvite/bulkinvite/internal/tracing"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestEnabled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "TRUE"}, false},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
		{"other variables only", map[string]string{"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tracing.Enabled(env(tc.env)); got != tc.want {
				t.Errorf("Enabled = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestOffIsANoop: without an endpoint the provider records nothing and no
// propagator reads a caller's trace context.
func TestOffIsANoop(t *testing.T) {
	t.Parallel()
	tr, err := tracing.New(context.Background(), tracing.Config{Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if tr.On() || tr.Propagator() != nil {
		t.Fatalf("tracing on (%v) or a propagator (%v) without an endpoint", tr.On(), tr.Propagator())
	}
	_, span := tr.Provider().Tracer("t").Start(context.Background(), "s")
	defer span.End()
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Errorf("a span of the off provider records (%v) or has a context (%v)", span.IsRecording(), span.SpanContext())
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestOnExportsByOTLP: with an endpoint, an ended span reaches the collector
// over OTLP/HTTP by the shutdown's flush at the latest.
func TestOnExportsByOTLP(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		paths []string
		body  int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		body += len(b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	tr, err := tracing.New(context.Background(), tracing.Config{
		Getenv:  env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL}),
		Options: []otlptracehttp.Option{otlptracehttp.WithEndpointURL(srv.URL + "/v1/traces")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.On() || tr.Propagator() == nil {
		t.Fatal("tracing off with an endpoint set")
	}
	_, span := tr.Provider().Tracer("t").Start(context.Background(), "s")
	if !span.IsRecording() {
		t.Error("the span does not record")
	}
	span.End()
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 1 || paths[0] != "POST /v1/traces application/x-protobuf" || body == 0 {
		t.Errorf("the collector got %q (%d bytes), want one POST /v1/traces of protobuf", paths, body)
	}
}

func TestGRPCProtocolIsRefused(t *testing.T) {
	t.Parallel()
	_, err := tracing.New(context.Background(), tracing.Config{Getenv: env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})})
	if !errors.Is(err, tracing.ErrProtocol) {
		t.Errorf("err = %v, want ErrProtocol", err)
	}
}
