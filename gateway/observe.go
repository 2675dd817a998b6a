package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/tracing"
)

// observability is the gateway process's metrics registry and listener and
// its share of the trace exporter.
type observability struct {
	gateway     *metrics.Gateway
	router      *metrics.Router
	listener    *metrics.Listener
	stopTracing func(context.Context) error
}

// startObservability registers the gateway's collectors on a registry of
// its own, serves it when cfg names an address, and sets up traces from
// the OTEL_* environment.
func startObservability(ctx context.Context, cfg metrics.ListenerConfig, log *slog.Logger) (*observability, error) {
	reg := metrics.NewRegistry()
	o := &observability{gateway: metrics.NewGateway(reg), router: metrics.NewRouter(reg)}
	var err error
	if o.listener, err = metrics.Serve(cfg, reg, log); err != nil {
		return nil, err
	}
	if o.stopTracing, err = tracing.Setup(ctx, "rivetkube-gateway"); err != nil {
		_ = o.listener.Close()
		return nil, err
	}
	return o, nil
}

// close flushes traces and stops the metrics listener.
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
func (g *Gateway) MetricsAddr() string {
	if g.obs.listener == nil {
		return ""
	}
	return g.obs.listener.Addr()
}
