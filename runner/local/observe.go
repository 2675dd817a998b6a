package local

import (
	"context"
	"log/slog"
	"time"

	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/tracing"
)

// observability is the local engine's metrics registry (gateway, runner
// and store collectors on one registry of its own) and listener, and its
// share of the trace exporter.
type observability struct {
	gateway     *metrics.Gateway
	runner      *metrics.Runner
	store       *metrics.Store
	listener    *metrics.Listener
	stopTracing func(context.Context) error
}

func startObservability(ctx context.Context, cfg metrics.ListenerConfig, log *slog.Logger) (*observability, error) {
	reg := metrics.NewRegistry()
	o := &observability{gateway: metrics.NewGateway(reg), runner: metrics.NewRunner(reg), store: metrics.NewStore(reg)}
	var err error
	if o.listener, err = metrics.Serve(cfg, reg, log); err != nil {
		return nil, err
	}
	if o.stopTracing, err = tracing.Setup(ctx, "rivetkube-local"); err != nil {
		_ = o.listener.Close()
		return nil, err
	}
	return o, nil
}

func (o *observability) close(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := o.stopTracing(ctx); err != nil {
		log.Warn("flush traces", "err", err)
	}
	_ = o.listener.Close()
}

// MetricsAddr returns the metrics listener's address ("" when metrics are
// not served).
func (e *Engine) MetricsAddr() string {
	if e.obs.listener == nil {
		return ""
	}
	return e.obs.listener.Addr()
}
