package local

import (
	"context"
	"log/slog"

	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/observe"
)

// observability is the local engine's collectors (gateway, runner and
// store) on one registry of its own (see internal/observe).
type observability struct {
	*observe.Process
	gateway *metrics.Gateway
	runner  *metrics.Runner
	store   *metrics.Store
}

func startObservability(ctx context.Context, cfg metrics.ListenerConfig, log *slog.Logger) (*observability, error) {
	p, err := observe.Start(ctx, cfg, "rivetkube-local", log)
	if err != nil {
		return nil, err
	}
	return &observability{Process: p, gateway: metrics.NewGateway(p.Registry), runner: metrics.NewRunner(p.Registry),
		store: metrics.NewStore(p.Registry)}, nil
}

func (o *observability) close(log *slog.Logger) { o.Close(log) }

// MetricsAddr returns the metrics listener's address ("" when metrics are
// not served).
func (e *Engine) MetricsAddr() string { return e.obs.Addr() }
