package runner

import (
	"context"
	"log/slog"
	"time"

	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/tracing"
)

// processObs is runner mode's metrics registry and listener and its share
// of the trace exporter.
type processObs struct {
	runner      *metrics.Runner
	store       *metrics.Store
	listener    *metrics.Listener
	stopTracing func(context.Context) error
}

// startProcessObs registers the runtime's and the committer's collectors
// on a registry of the runner's own, serves it when cfg names an address,
// and sets up traces from the OTEL_* environment.
func startProcessObs(ctx context.Context, cfg metrics.ListenerConfig, log *slog.Logger) (*processObs, error) {
	reg := metrics.NewRegistry()
	o := &processObs{runner: metrics.NewRunner(reg), store: metrics.NewStore(reg)}
	var err error
	if o.listener, err = metrics.Serve(cfg, reg, log); err != nil {
		return nil, err
	}
	if o.stopTracing, err = tracing.Setup(ctx, "rivetkube-runner"); err != nil {
		_ = o.listener.Close()
		return nil, err
	}
	return o, nil
}

// close flushes traces and stops the metrics listener.
func (o *processObs) close(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := o.stopTracing(ctx); err != nil {
		log.Warn("flush traces", "err", err)
	}
	_ = o.listener.Close()
}
