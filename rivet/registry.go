package rivet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/rivetkube/rivetkube/internal/gateway"
	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/boltstore"
)

// Definition is an actor definition a Registry accepts (an *Actor[S]).
type Definition interface {
	Name() string
	definition
}

// Registry holds the actor definitions a program hosts.
type Registry struct {
	defs map[string]definition
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{defs: map[string]definition{}} }

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

// EngineConfig configures the local engine. ConfigFromEnv fills it from
// RIVETKUBE_* environment variables.
type EngineConfig struct {
	// Listen is the gateway address (RIVETKUBE_LISTEN, default 127.0.0.1:6420).
	Listen string
	// DataDir holds the embedded store (RIVETKUBE_DATA_DIR, default ./.rivetkube).
	DataDir string
	// Limits bound actors (RIVETKUBE_ACTION_TIMEOUT, RIVETKUBE_SLEEP_TIMEOUT).
	Limits Limits
	// MaxMessageSize bounds a request body or frame (RIVETKUBE_MAX_MESSAGE_SIZE).
	MaxMessageSize int64
	// Log is the logger (RIVETKUBE_LOG_LEVEL, RIVETKUBE_LOG_FORMAT=json|text).
	Log *slog.Logger
	// ShutdownTimeout bounds a graceful stop (default 30 s).
	ShutdownTimeout time.Duration
	// CORSOrigins is the browser origin allow-list (RIVETKUBE_CORS_ORIGINS,
	// see gateway.ParseCORSOrigins); empty reflects any origin, for
	// development.
	CORSOrigins string
	// ClientTokens are the tokens clients must present
	// (RIVETKUBE_CLIENT_TOKENS, comma-separated); empty leaves the engine
	// open, as suits development.
	ClientTokens string
	// Limits bound requests per client IP and actor
	// (RIVETKUBE_CLIENT_RATE_PER_MINUTE, RIVETKUBE_CLIENT_MAX_IN_FLIGHT,
	// RIVETKUBE_TRUSTED_PROXIES); the zero value imposes none.
	ClientLimits gateway.ClientLimits
}

// ConfigFromEnv reads the local engine configuration from the environment.
func ConfigFromEnv() (EngineConfig, error) {
	cfg := EngineConfig{
		Listen:       envOr("RIVETKUBE_LISTEN", "127.0.0.1:6420"),
		DataDir:      envOr("RIVETKUBE_DATA_DIR", ".rivetkube"),
		CORSOrigins:  os.Getenv("RIVETKUBE_CORS_ORIGINS"),
		ClientTokens: os.Getenv("RIVETKUBE_CLIENT_TOKENS"),
	}
	var err error
	dur := func(name string, dst *time.Duration) {
		if v := os.Getenv(name); v != "" && err == nil {
			d, perr := time.ParseDuration(v)
			if perr != nil || d <= 0 {
				err = fmt.Errorf("%s: want a positive duration like 30s, got %q", name, v)
				return
			}
			*dst = d
		}
	}
	dur("RIVETKUBE_ACTION_TIMEOUT", &cfg.Limits.ActionTimeout)
	dur("RIVETKUBE_SLEEP_TIMEOUT", &cfg.Limits.SleepTimeout)
	dur("RIVETKUBE_SHUTDOWN_TIMEOUT", &cfg.ShutdownTimeout)
	if v := os.Getenv("RIVETKUBE_MAX_MESSAGE_SIZE"); v != "" && err == nil {
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n <= 0 {
			err = fmt.Errorf("RIVETKUBE_MAX_MESSAGE_SIZE: want a positive byte count, got %q", v)
		}
		cfg.MaxMessageSize = n
	}
	if err == nil {
		cfg.ClientLimits, err = gateway.ClientLimitsFromEnv(os.Getenv)
	}
	if err != nil {
		return cfg, err
	}
	cfg.Log, err = loggerFromEnv()
	return cfg, err
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

// orAny renders a CORS allow-list for the log ("" reflects any origin).
func orAny(origins string) string {
	if origins == "" {
		return "any origin (development)"
	}
	return origins
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func loggerFromEnv() (*slog.Logger, error) {
	var level slog.Level
	if v := os.Getenv("RIVETKUBE_LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return nil, fmt.Errorf("RIVETKUBE_LOG_LEVEL: %w", err)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(os.Getenv("RIVETKUBE_LOG_FORMAT")) {
	case "", "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	default:
		return nil, errors.New("RIVETKUBE_LOG_FORMAT: want json or text")
	}
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
	cfg.Log.Info("rivetkube local engine ready", "endpoint", eng.Endpoint(), "data_dir", cfg.DataDir, "actors", len(r.defs),
		"client_tokens", cfg.ClientTokens != "", "cors", orAny(cfg.CORSOrigins))
	if cfg.ClientTokens == "" {
		cfg.Log.Info("no client tokens configured: anyone who reaches the engine may call its actors (set RIVETKUBE_CLIENT_TOKENS to require one)")
	}
	<-ctx.Done()
	cfg.Log.Info("shutting down")
	return eng.Close()
}

// LocalEngine is a running local engine: gateway, runtime and embedded store.
type LocalEngine struct {
	cfg       EngineConfig
	ln        net.Listener
	srv       *http.Server
	rt        *runtime
	st        store.Store
	committer *store.Committer
	served    chan error
	stopScan  context.CancelFunc
}

// StartLocal starts the local engine and returns once it listens.
func (r *Registry) StartLocal(ctx context.Context, cfg EngineConfig) (*LocalEngine, error) {
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
	cors := gateway.AllowAnyOrigin()
	if cfg.CORSOrigins != "" {
		var err error
		if cors, err = gateway.ParseCORSOrigins(cfg.CORSOrigins); err != nil {
			return nil, err
		}
	}
	tokens, err := gateway.ParseClientTokens(cfg.ClientTokens)
	if err != nil {
		return nil, fmt.Errorf("RIVETKUBE_CLIENT_TOKENS: %w", err)
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	st, err := boltstore.Open(filepath.Join(cfg.DataDir, "rivetkube.db"), boltstore.Options{})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	committer := store.NewCommitter(st, store.CommitterOptions{})
	rt := newRuntime(st, committer, r.defs, "local-"+uuid.NewString()[:8], cfg.Limits, cfg.Log)
	gw := gateway.New(gateway.Config{Store: st, Host: rt, Log: cfg.Log, MaxMessageSize: cfg.MaxMessageSize, Version: Version,
		InspectorOpen: true, CORS: cors, ClientTokens: tokens, Limits: cfg.ClientLimits})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		committer.Close()
		_ = st.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	rt.endpoint = localEndpoint(ln.Addr().String(), cfg.ClientTokens)
	e := &LocalEngine{
		cfg: cfg, ln: ln, rt: rt, st: st, committer: committer, served: make(chan error, 1),
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
	go rt.scanDue(scanCtx, rt.limits.DueScan)
	return e, nil
}

// Endpoint returns the engine's base URL, e.g. http://127.0.0.1:6420.
func (e *LocalEngine) Endpoint() string { return "http://" + e.ln.Addr().String() }

// Close stops accepting requests, puts every actor to sleep (onSleep runs,
// state is committed) and closes the store.
func (e *LocalEngine) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.ShutdownTimeout)
	defer cancel()
	_ = e.srv.Shutdown(ctx)
	e.stopScan()
	e.rt.Close(ctx)
	e.committer.Close()
	return e.st.Close()
}

// Version is the rivetkube version, stamped at build time.
var Version = "dev"
