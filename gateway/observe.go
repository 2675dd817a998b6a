package gateway

import (
	"context"
	"log/slog"

	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/observe"
)

// observability is the gateway process's collectors on its own registry
// (see internal/observe).
type observability struct {
	*observe.Process
	gateway *metrics.Gateway
	router  *metrics.Router
}

func startObservability(ctx context.Context, cfg metrics.ListenerConfig, log *slog.Logger) (*observability, error) {
	p, err := observe.Start(ctx, cfg, "rivetkube-gateway", log)
	if err != nil {
		return nil, err
	}
	return &observability{Process: p, gateway: metrics.NewGateway(p.Registry), router: metrics.NewRouter(p.Registry)}, nil
}

func (o *observability) close(log *slog.Logger) { o.Close(log) }

// MetricsAddr returns the metrics listener's address ("" when metrics are
// not served).
func (g *Gateway) MetricsAddr() string { return g.obs.Addr() }
