package tracing

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestEnabled(t *testing.T) {
	tests := []struct {
		name                       string
		exporter, endpoint, traces string
		want, wantErr              bool
	}{
		{name: "nothing set"},
		{name: "endpoint", endpoint: "http://collector:4318", want: true},
		{name: "traces endpoint", traces: "http://collector:4318/v1/traces", want: true},
		{name: "exporter otlp", exporter: "otlp", want: true},
		{name: "exporter none wins", exporter: "none", endpoint: "http://collector:4318"},
		{name: "unsupported exporter", exporter: "zipkin", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("OTEL_TRACES_EXPORTER", tt.exporter)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", tt.endpoint)
			t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", tt.traces)
			got, err := Enabled()
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("Enabled() = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestSetupOffInstallsNothing(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	stop, err := Setup(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if shared != nil {
		t.Fatal("a provider was installed with tracing off")
	}
	if err := stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCarrierRoundTrip(t *testing.T) {
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	h := http.Header{}
	h.Set("traceparent", tp)
	ctx := FromHTTP(context.Background(), h)
	m := Carrier(ctx)
	if m["traceparent"] != tp {
		t.Fatalf("carrier = %v, want traceparent %s", m, tp)
	}
	sc := trace.SpanContextFromContext(FromCarrier(context.Background(), m))
	if !sc.IsRemote() || sc.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
		t.Fatalf("span context from carrier = %+v", sc)
	}
	if Carrier(context.Background()) != nil {
		t.Error("a carrier without a span context")
	}
	for _, bad := range []map[string]string{nil, {"traceparent": "garbage"}, {"traceparent": "00-00000000000000000000000000000000-b7ad6b7169203331-01"}} {
		if sc := trace.SpanContextFromContext(FromCarrier(context.Background(), bad)); sc.IsValid() {
			t.Errorf("carrier %v gave a valid span context", bad)
		}
	}
}
