// Package gateway wires the distributed gateway process: PostgreSQL store,
// router (placement + links to runners), client-facing gateway and admin
// API, and the leader duties (drain, dead-runner removal).
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/rivetkube/rivetkube/gateway/edge"
	"github.com/rivetkube/rivetkube/gateway/internal/router"
	"github.com/rivetkube/rivetkube/internal/link"
	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/pgstore"
)

// Config configures a gateway process.
type Config struct {
	Listen      string // default :6420
	PostgresURL string
	// MaxConns bounds the PostgreSQL pool (default 32).
	MaxConns int32
	// AdminToken protects /admin; empty disables the admin API.
	AdminToken string
	// InspectorToken protects the inspector API; empty disables it.
	InspectorToken string
	// RunnerToken is sent to runners on the link.
	RunnerToken string
	// Lease is the runner heartbeat lease (default 5 s).
	Lease time.Duration
	// WaitTimeout bounds how long a request waits for its actor (default 30 s).
	WaitTimeout time.Duration
	// ColdStartTimeout bounds how long a request for a pool without a live
	// runner (scaled to zero) waits for one (default 60 s; see
	// docs/scale-to-zero.md).
	ColdStartTimeout time.Duration
	// DrainWorkers bounds the actors the drain moves at once (default 768).
	DrainWorkers    int
	MaxMessageSize  int64
	ShutdownTimeout time.Duration
	Version         string
	Log             *slog.Logger
	// CORS is the browser origin policy; the zero value allows the same
	// origin only.
	CORS edge.CORS
	// ClientTokens, when set, are required of clients on /actors and
	// /gateway/...; the zero value leaves the gateway open.
	ClientTokens edge.ClientTokens
	// Limits bound requests per client IP and actor; the zero value
	// imposes none.
	Limits edge.ClientLimits
	// TLS, when set, serves HTTPS with HTTP/2 from these files.
	TLS *edge.TLSFiles
	// Metrics is the metrics listener (RIVETKUBE_METRICS_LISTEN, RIVETKUBE_PPROF).
	Metrics metrics.ListenerConfig
}

// Gateway is a running gateway process.
type Gateway struct {
	cfg    Config
	st     *pgstore.Store
	router *router.Router
	srv    *http.Server
	ln     net.Listener
	cancel context.CancelFunc
	bg     chan struct{}
	served chan error
	obs    *observability
}

// Start opens the store (migrating the schema), starts the router's
// background duties and serves clients.
func Start(ctx context.Context, cfg Config) (*Gateway, error) {
	if cfg.Listen == "" {
		cfg.Listen = ":6420"
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 32
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.PostgresURL == "" {
		return nil, errors.New("gateway needs a PostgreSQL URL (--postgres or RIVETKUBE_POSTGRES_URL)")
	}
	st, err := pgstore.Open(ctx, cfg.PostgresURL, pgstore.Options{MaxConns: cfg.MaxConns, PlaceLease: cfg.Lease})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	id := "gateway-" + uuid.NewString()[:8]
	log := cfg.Log.With("gateway", id)
	obs, err := startObservability(ctx, cfg.Metrics, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	var rt *router.Router
	rt = router.New(router.Config{
		Store: st,
		Dial: func(ctx context.Context, r store.Runner) (router.Caller, error) {
			return link.Dial(ctx, "ws://"+r.Address+"/link", link.DialOptions{Token: cfg.RunnerToken,
				OnEnded: func(actorID string, gen uint64, destroyed bool) { rt.Ended(r.ID, actorID, gen, destroyed) }})
		},
		IsLinkLost:       func(err error) bool { return errors.Is(err, link.ErrLinkLost) },
		Lease:            cfg.Lease,
		WaitTimeout:      cfg.WaitTimeout,
		ColdStartTimeout: cfg.ColdStartTimeout,
		DrainWorkers:     cfg.DrainWorkers,
		ID:               id,
		Log:              log,
		Metrics:          obs.router,
	})
	gw := edge.New(edge.Config{
		Directory: rt.Directory(), Host: rt, Log: log, Version: cfg.Version,
		MaxMessageSize: cfg.MaxMessageSize,
		Admin:          adminAdapter{rt}, AdminToken: cfg.AdminToken,
		InspectorToken: cfg.InspectorToken,
		RunnersMayJoin: true,
		CORS:           cfg.CORS,
		ClientTokens:   cfg.ClientTokens,
		Limits:         cfg.Limits,
		Metrics:        obs.gateway,
	})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		obs.close(log)
		st.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	bgCtx, cancel := context.WithCancel(context.Background())
	g := &Gateway{
		cfg: cfg, st: st, router: rt, ln: ln, cancel: cancel, bg: make(chan struct{}), served: make(chan error, 1), obs: obs,
		srv: &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
	}
	go func() { defer close(g.bg); rt.RunBackground(bgCtx) }()
	go func() { g.served <- edge.Serve(g.srv, ln, cfg.TLS) }()
	log.Info("gateway ready", "listen", ln.Addr().String(), "cors", cfg.CORS.String(), "client_tokens", cfg.ClientTokens.Count(),
		"client_limits", cfg.Limits.String(), "tls", cfg.TLS != nil)
	if !cfg.ClientTokens.Enabled() {
		log.Warn("no client tokens configured: anyone who reaches the gateway may call its actors (set RIVETKUBE_CLIENT_TOKENS to require one)")
	}
	return g, nil
}

// Addr returns the listen address.
func (g *Gateway) Addr() string { return g.ln.Addr().String() }

// Served is closed with the server's error if it stops on its own.
func (g *Gateway) Served() <-chan error { return g.served }

// Close stops serving and releases the store.
func (g *Gateway) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	err := g.srv.Shutdown(ctx)
	g.cancel()
	<-g.bg
	g.router.Close()
	g.st.Close()
	g.obs.close(g.cfg.Log)
	return err
}

// Migrate applies the schema migrations and returns.
func Migrate(ctx context.Context, url string) error {
	st, err := pgstore.Open(ctx, url, pgstore.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	st.Close()
	return nil
}

type adminAdapter struct{ r *router.Router }

func (a adminAdapter) PoolStatus(ctx context.Context, pool string) (any, error) {
	return a.r.PoolStatus(ctx, pool)
}

func (a adminAdapter) SetPoolRouting(ctx context.Context, pc store.PoolConfig) error {
	return a.r.SetPoolRouting(ctx, pc)
}

func (a adminAdapter) SetRunnerDraining(ctx context.Context, id string, draining bool) error {
	return a.r.SetRunnerDraining(ctx, id, draining)
}
