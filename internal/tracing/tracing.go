// Package tracing sets up OpenTelemetry traces for rivetkube processes and
// carries trace context across the gateway↔runner link.
//
// Invariants:
//   - Tracing is configured only by the standard OTEL_* environment; with
//     neither OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
//     nor OTEL_TRACES_EXPORTER set (or with OTEL_TRACES_EXPORTER=none) Setup
//     installs nothing and the global no-op provider stays: spans cost a
//     context lookup and are never recorded or exported.
//   - Trace context travels in the W3C traceparent/tracestate form, both on
//     HTTP (a client's traceparent is honoured) and on the link.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of rivetkube's spans.
const ScopeName = "github.com/rivetkube/rivetkube"

// Tracer returns rivetkube's tracer from the global provider.
func Tracer() trace.Tracer { return otel.Tracer(ScopeName) }

// propagator is W3C trace context; baggage is not carried.
var propagator = propagation.TraceContext{}

// Enabled reports whether the OTEL_* environment asks for traces.
func Enabled() (bool, error) {
	switch exp := strings.TrimSpace(strings.ToLower(os.Getenv("OTEL_TRACES_EXPORTER"))); exp {
	case "none":
		return false, nil
	case "otlp":
		return true, nil
	case "":
		return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "", nil
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER: only otlp and none are supported, got %q", exp)
	}
}

// Setup installs an OTLP/HTTP trace exporter as the global tracer provider
// when the environment asks for one (see the package invariants). service
// is the default service.name (OTEL_SERVICE_NAME overrides it). The
// returned function flushes and stops the exporter; it is never nil.
//
// Several components of one process (a gateway and a runner in bench/pg)
// may call Setup: the first installs the provider, the others share it,
// and the last shutdown stops it.
func Setup(ctx context.Context, service string) (func(context.Context) error, error) {
	noop := func(context.Context) error { return nil }
	on, err := Enabled()
	if err != nil || !on {
		return noop, err
	}
	setupMu.Lock()
	defer setupMu.Unlock()
	if shared == nil {
		tp, err := newProvider(ctx, service)
		if err != nil {
			return noop, err
		}
		otel.SetTracerProvider(tp)
		otel.SetTextMapPropagator(propagator)
		shared = tp
	}
	users++
	var once sync.Once
	return func(ctx context.Context) error {
		var err error
		once.Do(func() {
			setupMu.Lock()
			defer setupMu.Unlock()
			if users--; users == 0 {
				err = shared.Shutdown(ctx)
				shared = nil
			}
		})
		return err
	}, nil
}

var (
	setupMu sync.Mutex
	shared  *sdktrace.TracerProvider
	users   int
)

func newProvider(ctx context.Context, service string) (*sdktrace.TracerProvider, error) {
	// The exporter reads OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout,
	// TLS) itself.
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	// The sampler follows OTEL_TRACES_SAMPLER (default: parent-based,
	// always on).
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// FromHTTP returns ctx carrying the remote span context of h's traceparent
// (ctx unchanged when there is none or it is malformed).
func FromHTTP(ctx context.Context, h http.Header) context.Context {
	return propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// Carrier returns ctx's span context as W3C fields for the link, or nil
// when ctx carries none.
func Carrier(ctx context.Context) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	m := propagation.MapCarrier{}
	propagator.Inject(ctx, m)
	return m
}

// FromCarrier returns ctx carrying the remote span context in m (ctx
// unchanged when m is empty or malformed). m is bounded by the link's frame
// limit; only the traceparent and tracestate keys are read.
func FromCarrier(ctx context.Context, m map[string]string) context.Context {
	if len(m) == 0 {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier(m))
}
