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
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rivetkube/rivetkube/gateway/edge"
	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/runner"
)

// Config configures the local engine. ConfigFromEnv fills it from
// RIVETKUBE_* environment variables.
type Config struct {
	// Listen is the gateway address (RIVETKUBE_LISTEN, default 127.0.0.1:6420).
	Listen string
	// DataDir holds the embedded store (RIVETKUBE_DATA_DIR, default ./.rivetkube).
	DataDir string
	// Store picks the embedded store (RIVETKUBE_STORE): StorePebble or
	// StoreBolt; empty means the one DataDir already holds, Pebble for a
	// new one (see OpenStore).
	Store string
	// Limits bound actors (RIVETKUBE_ACTION_TIMEOUT, RIVETKUBE_SLEEP_TIMEOUT).
	Limits runner.Limits
	// MaxMessageSize bounds a request body or frame (RIVETKUBE_MAX_MESSAGE_SIZE).
	MaxMessageSize int64
	// Log is the logger (RIVETKUBE_LOG_LEVEL, RIVETKUBE_LOG_FORMAT=json|text).
	Log *slog.Logger
	// ShutdownTimeout bounds a graceful stop (default 30 s).
	ShutdownTimeout time.Duration
	// CORSOrigins is the browser origin allow-list (RIVETKUBE_CORS_ORIGINS,
	// see edge.ParseCORSOrigins); empty reflects any origin, for
	// development.
	CORSOrigins string
	// ClientTokens are the tokens clients must present
	// (RIVETKUBE_CLIENT_TOKENS, comma-separated); empty leaves the engine
	// open, as suits development.
	ClientTokens string
	// ClientLimits bound requests per client IP and actor
	// (RIVETKUBE_CLIENT_RATE_PER_MINUTE, RIVETKUBE_CLIENT_MAX_IN_FLIGHT,
	// RIVETKUBE_TRUSTED_PROXIES); the zero value imposes none.
	ClientLimits edge.ClientLimits
	// Metrics is the metrics listener (RIVETKUBE_METRICS_LISTEN, RIVETKUBE_PPROF).
	Metrics metrics.ListenerConfig
}

// ConfigFromEnv reads the local engine configuration from the environment.
func ConfigFromEnv() (Config, error) {
	base, err := runner.BaseFromEnv()
	cfg := Config{
		Listen:          runner.EnvOr("RIVETKUBE_LISTEN", "127.0.0.1:6420"),
		DataDir:         runner.EnvOr("RIVETKUBE_DATA_DIR", ".rivetkube"),
		Store:           os.Getenv("RIVETKUBE_STORE"),
		Limits:          base.Limits,
		MaxMessageSize:  base.MaxMessageSize,
		Log:             base.Log,
		ShutdownTimeout: base.ShutdownTimeout,
		CORSOrigins:     os.Getenv("RIVETKUBE_CORS_ORIGINS"),
		ClientTokens:    os.Getenv("RIVETKUBE_CLIENT_TOKENS"),
		Metrics:         base.Metrics,
	}
	if err == nil {
		cfg.ClientLimits, err = edge.ClientLimitsFromEnv(os.Getenv)
	}
	return cfg, err
}

// CORSDescription renders a CORS allow-list for the log ("" reflects any
// origin).
func CORSDescription(origins string) string {
	if origins == "" {
		return "any origin (development)"
	}
	return origins
}

// localEndpoint is the URL actor-to-actor calls use to reach the local
// engine's gateway: with the first client token in it when tokens are
// required, since those calls pass the same check as any client's.
func localEndpoint(addr, tokens string) string {
	u := url.URL{Scheme: "http", Host: addr}
	for _, t := range strings.Split(tokens, ",") {
		if t = strings.TrimSpace(t); t != "" {
			u.User = url.UserPassword("default", t)
			break
		}
	}
	return u.String()
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
	cors := edge.AllowAnyOrigin()
	if cfg.CORSOrigins != "" {
		var err error
		if cors, err = edge.ParseCORSOrigins(cfg.CORSOrigins); err != nil {
			return nil, err
		}
	}
	tokens, err := edge.ParseClientTokens(cfg.ClientTokens)
	if err != nil {
		return nil, fmt.Errorf("RIVETKUBE_CLIENT_TOKENS: %w", err)
	}
	st, _, err := OpenStore(cfg.DataDir, cfg.Store)
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
		InspectorOpen: true, CORS: cors, ClientTokens: tokens, Limits: cfg.ClientLimits, Metrics: obs.gateway})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		committer.Close()
		obs.close(cfg.Log)
		_ = st.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	rt.SetEndpoint(localEndpoint(ln.Addr().String(), cfg.ClientTokens))
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
