// Package observe starts a process's observability: a Prometheus registry
// of its own (internal/metrics), served on the metrics listener when one
// is configured, and its share of the OpenTelemetry trace exporter
// (internal/tracing). The gateway, runner mode and the local engine each
// start one and register their rooms' collectors on Registry.
package observe

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/tracing"
)

// Process is a started process's registry, metrics listener and tracing.
type Process struct {
	Registry    *prometheus.Registry
	listener    *metrics.Listener
	stopTracing func(context.Context) error
}

// Start creates the registry, serves it when cfg names an address, and
// sets up traces from the OTEL_* environment for service.
func Start(ctx context.Context, cfg metrics.ListenerConfig, service string, log *slog.Logger) (*Process, error) {
	p := &Process{Registry: metrics.NewRegistry()}
	var err error
	if p.listener, err = metrics.Serve(cfg, p.Registry, log); err != nil {
		return nil, err
	}
	if p.stopTracing, err = tracing.Setup(ctx, service); err != nil {
		_ = p.listener.Close()
		return nil, err
	}
	return p, nil
}

// Close flushes traces and stops the metrics listener.
func (p *Process) Close(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.stopTracing(ctx); err != nil {
		log.Warn("flush traces", "err", err)
	}
	_ = p.listener.Close()
}

// Addr returns the metrics listener's address ("" when metrics are not
// served).
func (p *Process) Addr() string {
	if p == nil || p.listener == nil {
		return ""
	}
	return p.listener.Addr()
}
