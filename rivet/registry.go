package rivet

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/rivetkube/rivetkube/runner"
	"github.com/rivetkube/rivetkube/runner/local"
)

// Definition is an actor definition a Registry accepts (an *Actor[S]).
type Definition interface {
	Name() string
	definition
}

// definition is what the runtime needs of a Definition; sealed so that
// only this package's Actor[S] implements it.
type definition interface {
	runner.Definition
	sealed()
}

// Registry holds the actor definitions a program hosts.
type Registry struct {
	defs map[string]Definition
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{defs: map[string]Definition{}} }

// Register adds definitions; a duplicate name panics.
func (r *Registry) Register(defs ...Definition) *Registry {
	for _, d := range defs {
		if _, dup := r.defs[d.Name()]; dup {
			panic(fmt.Sprintf("rivet: actor %q registered twice", d.Name()))
		}
		r.defs[d.Name()] = d
	}
	return r
}

// list returns the definitions in name order, as the runtime takes them.
func (r *Registry) list() []runner.Definition {
	out := make([]runner.Definition, 0, len(r.defs))
	for _, d := range r.defs {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// Run hosts the registered actors until ctx is done or the process gets
// SIGINT/SIGTERM. Without RIVET_ENDPOINT it starts the local engine:
// gateway and embedded store in this process. With RIVET_ENDPOINT it runs
// as a runner of a distributed engine (see RunnerConfigFromEnv).
func (r *Registry) Run(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv("RIVET_ENDPOINT") != "" {
		rc, err := RunnerConfigFromEnv()
		if err != nil {
			return err
		}
		return r.RunRunner(ctx, rc)
	}
	cfg, err := ConfigFromEnv()
	if err != nil {
		return err
	}
	eng, err := r.StartLocal(ctx, cfg)
	if err != nil {
		return err
	}
	cfg.Log.Info("rivetkube local engine ready", "endpoint", eng.Endpoint(), "data_dir", cfg.DataDir, "actors", len(r.defs))
	<-ctx.Done()
	cfg.Log.Info("shutting down")
	return eng.Close()
}

// StartLocal starts the local engine and returns once it listens.
func (r *Registry) StartLocal(ctx context.Context, cfg EngineConfig) (*LocalEngine, error) {
	return local.Start(ctx, r.list(), cfg, Version)
}

// RunRunner hosts the registered actors for a distributed engine until ctx
// ends, then drains them: every actor sleeps (onSleep, commit) before the
// runner leaves the registry.
func (r *Registry) RunRunner(ctx context.Context, cfg RunnerConfig) error {
	return runner.Run(ctx, r.list(), cfg)
}

// Version is the rivetkube version, stamped at build time.
var Version = "dev"
