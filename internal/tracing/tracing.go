// Package tracing sets up a process's OpenTelemetry tracing from the standard
// OTEL_* environment: a TracerProvider exporting spans by OTLP over HTTP when
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set,
// and a no-op provider when it is not; the propagator of the W3C trace context
// that goes with it; and the flush at shutdown.
//
// It owns no span: the packages that do the work start their own, from the
// trace.TracerProvider they are given (httpapi, producer, worker), and package
// task carries the trace context through the queue. The span names and the
// environment are documented in docs/operations.md#traces.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ServiceName is the service.name of the spans, unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES names another.
const ServiceName = "bulkinvite"

// Config tunes New. Zero fields take the documented defaults.
type Config struct {
	// Getenv reads the environment that turns tracing on. Default os.Getenv.
	// The SDK and the exporter read the rest of the OTEL_* variables
	// (headers, timeout, sampler, batching) from the process's environment
	// themselves.
	Getenv func(string) string
	// Options are added to the OTLP exporter's, after what the environment
	// says. Default none.
	Options []otlptracehttp.Option
}

// Tracing is a process's tracing: on (an SDK provider exporting by OTLP) or
// off (a no-op provider). A nil *Tracing is off.
type Tracing struct {
	sdk *sdktrace.TracerProvider
}

// ErrProtocol is returned for an OTEL_EXPORTER_OTLP_PROTOCOL this build does
// not export with.
var ErrProtocol = errors.New("this build exports OTLP over HTTP only: OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or unset")

// Enabled reports whether the environment getenv reads turns tracing on: an
// OTLP endpoint is set, and neither OTEL_SDK_DISABLED=true nor
// OTEL_TRACES_EXPORTER=none turns it off.
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(getenv("OTEL_TRACES_EXPORTER"), "none") {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// New returns the process's tracing: off when the environment does not turn it
// on (Enabled), else a provider sampling as OTEL_TRACES_SAMPLER says (default:
// every trace a caller does not say is unsampled) and exporting in batches by
// OTLP over HTTP. It connects to nothing: an unreachable collector costs
// dropped spans and a logged export error, never a failed request.
func New(ctx context.Context, cfg Config) (*Tracing, error) {
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if !Enabled(cfg.Getenv) {
		return nil, nil
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := cfg.Getenv(k); p != "" {
			if p != "http/protobuf" {
				return nil, fmt.Errorf("%s=%q: %w", k, p, ErrProtocol)
			}
			break
		}
	}
	exp, err := otlptracehttp.New(ctx, cfg.Options...)
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(ServiceName)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
	)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	return &Tracing{sdk: sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))}, nil
}

// On reports whether t exports spans.
func (t *Tracing) On() bool { return t != nil }

// Provider is the provider the packages start their spans from: a no-op one
// when t is off.
func (t *Tracing) Provider() trace.TracerProvider {
	if t == nil {
		return noop.NewTracerProvider()
	}
	return t.sdk
}

// Propagator reads and writes the W3C trace context (traceparent,
// tracestate) of requests: nil when t is off, so that a caller's traceparent
// is not carried into the queue by a process that records nothing.
func (t *Tracing) Propagator() propagation.TextMapPropagator {
	if t == nil {
		return nil
	}
	return propagation.TraceContext{}
}

// Shutdown exports the spans still buffered, within ctx, and stops t. Nothing
// for a t that is off.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.sdk.Shutdown(ctx)
}
