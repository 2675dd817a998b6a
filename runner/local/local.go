// Package local wires the local engine: the client-facing gateway edge, the
// actor runtime and the embedded store in one process, as `rivetkube dev`,
// `go run ./examples/quickstart` and the tests without PostgreSQL run it.
//
// Invariants: Start returns only once the engine listens; Close stops
// accepting requests first, then puts every actor to sleep (onSleep runs,
// state is committed), then closes the store. Nothing is written after the
// store closes.
package local

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/rivetkube/rivetkube/gateway/edge"
	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/boltstore"
	"github.com/rivetkube/rivetkube/runner"
)

// Config configures the local engine. ConfigFromEnv fills it from
// RIVETKUBE_* environment variables.
type Config struct {
	// Listen is the gateway address (RIVETKUBE_LISTEN, default 127.0.0.1:6420).
	Listen string
	// DataDir holds the embedded store (RIVETKUBE_DATA_DIR, default ./.rivetkube).
	DataDir string
	// Limits bound actors (RIVETKUBE_ACTION_TIMEOUT, RIVETKUBE_SLEEP_TIMEOUT).
	Limits runner.Limits
	// MaxMessageSize bounds a request body or frame (RIVETKUBE_MAX_MESSAGE_SIZE).
	MaxMessageSize int64
	// Log is the logger (RIVETKUBE_LOG_LEVEL, RIVETKUBE_LOG_FORMAT=json|text).
	Log *slog.Logger
	// ShutdownTimeout bounds a graceful stop (default 30 s).
	ShutdownTimeout time.Duration
	// Metrics is the metrics listener (RIVETKUBE_METRICS_LISTEN, RIVETKUBE_PPROF).
	Metrics metrics.ListenerConfig
}

// ConfigFromEnv reads the local engine configuration from the environment.
func ConfigFromEnv() (Config, error) {
	base, err := runner.BaseFromEnv()
	return Config{
		Listen:          runner.EnvOr("RIVETKUBE_LISTEN", "127.0.0.1:6420"),
		DataDir:         runner.EnvOr("RIVETKUBE_DATA_DIR", ".rivetkube"),
		Limits:          base.Limits,
		MaxMessageSize:  base.MaxMessageSize,
		Log:             base.Log,
		ShutdownTimeout: base.ShutdownTimeout,
		Metrics:         base.Metrics,
	}, err
}

// Engine is a running local engine: gateway, runtime and embedded store.
type Engine struct {
	cfg       Config
	ln        net.Listener
	srv       *http.Server
	rt        *runner.Runtime
	st        store.Store
	committer *store.Committer
	served    chan error
	stopScan  context.CancelFunc
	obs       *observability
}

// Start starts the local engine hosting defs and returns once it listens.
// version is reported by GET /metadata.
func Start(ctx context.Context, defs []runner.Definition, cfg Config, version string) (*Engine, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:6420"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = ".rivetkube"
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	st, err := boltstore.Open(filepath.Join(cfg.DataDir, "rivetkube.db"), boltstore.Options{})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	obs, err := startObservability(ctx, cfg.Metrics, cfg.Log)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	committer := store.NewCommitter(st, store.CommitterOptions{Metrics: obs.store})
	rt := runner.NewRuntime(runner.RuntimeConfig{Store: st, Committer: committer, Defs: defs,
		RunnerID: "local-" + uuid.NewString()[:8], Limits: cfg.Limits, Log: cfg.Log, Metrics: obs.runner})
	gw := edge.New(edge.Config{Directory: st, Host: rt, Log: cfg.Log, MaxMessageSize: cfg.MaxMessageSize, Version: version,
		InspectorOpen: true, Metrics: obs.gateway})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		committer.Close()
		obs.close(cfg.Log)
		_ = st.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	rt.SetEndpoint("http://" + ln.Addr().String())
	e := &Engine{
		cfg: cfg, ln: ln, rt: rt, st: st, committer: committer, served: make(chan error, 1), obs: obs,
		srv: &http.Server{
			Handler:           gw,
			ReadHeaderTimeout: 10 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
		},
	}
	go func() { e.served <- e.srv.Serve(ln) }()
	scanCtx, stopScan := context.WithCancel(context.Background())
	e.stopScan = stopScan
	go rt.ScanDue(scanCtx, cfg.Limits.WithDefaults().DueScan)
	return e, nil
}

// Endpoint returns the engine's base URL, e.g. http://127.0.0.1:6420.
func (e *Engine) Endpoint() string { return "http://" + e.ln.Addr().String() }

// Close stops accepting requests, puts every actor to sleep (onSleep runs,
// state is committed) and closes the store.
func (e *Engine) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.ShutdownTimeout)
	defer cancel()
	_ = e.srv.Shutdown(ctx)
	e.stopScan()
	e.rt.Close(ctx)
	e.committer.Close()
	e.obs.close(e.cfg.Log)
	return e.st.Close()
}
