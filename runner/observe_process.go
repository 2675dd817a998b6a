package runner

import (
	"context"
	"log/slog"

	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/observe"
)

// processObs is runner mode's collectors (runtime and committer) on a
// registry of its own (see internal/observe).
type processObs struct {
	*observe.Process
	runner *metrics.Runner
	store  *metrics.Store
}

func startProcessObs(ctx context.Context, cfg metrics.ListenerConfig, log *slog.Logger) (*processObs, error) {
	p, err := observe.Start(ctx, cfg, "rivetkube-runner", log)
	if err != nil {
		return nil, err
	}
	return &processObs{Process: p, runner: metrics.NewRunner(p.Registry), store: metrics.NewStore(p.Registry)}, nil
}

func (o *processObs) close(log *slog.Logger) { o.Close(log) }
