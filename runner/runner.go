package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/rivetkube/rivetkube/internal/link"
	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/pgstore"
)

// Config configures runner mode: the program hosts actors for a
// distributed engine. ConfigFromEnv fills it from the environment.
type Config struct {
	// Endpoint is the engine's client address (RIVET_ENDPOINT); actors use it
	// to reach other actors.
	Endpoint string
	// Pool is the runner pool (RIVET_POOL, default "default").
	Pool string
	// Version is the ActorVersion this runner was started from
	// (RIVET_RUNNER_VERSION, a positive integer, default 1).
	Version uint64
	// Listen is where gateways connect (RIVET_RUNNER_LISTEN, default :6421).
	Listen string
	// Address is what gateways dial (RIVET_RUNNER_ADDRESS); default: the
	// listen address when it names a host, else the host name and port.
	Address string
	// PostgresURL is the store (RIVETKUBE_POSTGRES_URL, required).
	PostgresURL string
	// Token authenticates gateways on the link (RIVETKUBE_RUNNER_TOKEN).
	Token string
	// Lease is how long the runner may miss heartbeats before gateways move
	// its actors (RIVETKUBE_LEASE, default 5s). It must match the gateways'.
	Lease time.Duration
	// MaxConns bounds the PostgreSQL connection pool (RIVETKUBE_POSTGRES_MAX_CONNS, default 16).
	MaxConns int32
	Limits   Limits
	Log      *slog.Logger
	// ShutdownTimeout bounds the drain on SIGTERM (RIVETKUBE_SHUTDOWN_TIMEOUT, default 30s).
	ShutdownTimeout time.Duration
	// Metrics is the metrics listener (RIVETKUBE_METRICS_LISTEN, RIVETKUBE_PPROF).
	Metrics metrics.ListenerConfig
}

// ConfigFromEnv reads runner mode's configuration.
func ConfigFromEnv() (Config, error) {
	eng, err := BaseFromEnv()
	if err != nil {
		return Config{}, err
	}
	cfg := Config{
		Endpoint:        os.Getenv("RIVET_ENDPOINT"),
		Pool:            envOr("RIVET_POOL", "default"),
		Version:         1,
		Listen:          envOr("RIVET_RUNNER_LISTEN", ":6421"),
		Address:         os.Getenv("RIVET_RUNNER_ADDRESS"),
		PostgresURL:     os.Getenv("RIVETKUBE_POSTGRES_URL"),
		Token:           os.Getenv("RIVETKUBE_RUNNER_TOKEN"),
		Lease:           5 * time.Second,
		MaxConns:        16,
		Limits:          eng.Limits,
		Log:             eng.Log,
		ShutdownTimeout: eng.ShutdownTimeout,
		Metrics:         eng.Metrics,
	}
	if v := os.Getenv("RIVET_RUNNER_VERSION"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return cfg, fmt.Errorf("RIVET_RUNNER_VERSION: want a positive integer, got %q", v)
		}
		cfg.Version = n
	}
	if v := os.Getenv("RIVETKUBE_LEASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 500*time.Millisecond {
			return cfg, fmt.Errorf("RIVETKUBE_LEASE: want a duration of at least 500ms, got %q", v)
		}
		cfg.Lease = d
	}
	if v := os.Getenv("RIVETKUBE_POSTGRES_MAX_CONNS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 2 {
			return cfg, fmt.Errorf("RIVETKUBE_POSTGRES_MAX_CONNS: want an integer >= 2, got %q", v)
		}
		cfg.MaxConns = int32(n)
	}
	if cfg.PostgresURL == "" {
		return cfg, errors.New("runner mode needs RIVETKUBE_POSTGRES_URL (actors write their state to PostgreSQL directly)")
	}
	return cfg, nil
}

// Run hosts defs for a distributed engine until ctx ends, then drains
// them: every actor sleeps (onSleep, commit) before the runner leaves the
// registry.
func Run(ctx context.Context, defs []Definition, cfg Config) error {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	// PlaceLease: a gateway may leave an actor's placement to this runner
	// (store.Instances.PlaceActivation), under the same lease condition
	// the gateways' Place has.
	st, err := pgstore.Open(ctx, cfg.PostgresURL, pgstore.Options{MaxConns: cfg.MaxConns, PlaceLease: cfg.Lease})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	id := "runner-" + uuid.NewString()
	log := cfg.Log.With("runner", id, "pool", cfg.Pool, "version", cfg.Version)
	obs, err := startProcessObs(ctx, cfg.Metrics, log)
	if err != nil {
		return err
	}
	defer obs.close(log)
	committer := store.NewCommitter(st, store.CommitterOptions{Metrics: obs.store})
	defer committer.Close()
	rt := NewRuntime(RuntimeConfig{Store: st, Committer: committer, Defs: defs, RunnerID: id, Placed: true, Limits: cfg.Limits, Log: log,
		Metrics: obs.runner})
	rt.SetEndpoint(cfg.Endpoint)
	rt.lease = newLeaseGate(cfg.Lease, time.Now()) // counts from before the registration

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	addr := cfg.Address
	if addr == "" {
		addr, err = advertise(ln.Addr())
		if err != nil {
			return err
		}
	}
	ls := link.NewServer(rt, link.ServerOptions{Token: cfg.Token, Metrics: obs.runner})
	// Gateways learn when an actor slept or was destroyed here, so their
	// next request for it wakes it at once instead of trying here first.
	rt.onEnded = ls.Ended
	mux := http.NewServeMux()
	mux.Handle("/link", ls)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	row := store.Runner{ID: id, Pool: cfg.Pool, Version: cfg.Version, Address: addr, Names: names(defs)}
	if err := st.UpsertRunner(ctx, row); err != nil {
		_ = srv.Close()
		return fmt.Errorf("register runner: %w", err)
	}
	log.Info("runner registered", "address", addr, "actors", len(defs))

	// The heartbeat has a connection of its own: with the actors' commits,
	// activations and a drain's stops queued on the main pool it could wait
	// past the lease there, and the runner would fence every actor.
	hbStore, err := pgstore.Open(ctx, cfg.PostgresURL, pgstore.Options{MaxConns: 1, SkipMigrate: true})
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("open heartbeat store: %w", err)
	}
	defer hbStore.Close()
	hbCtx, stopHB := context.WithCancel(context.Background())
	hbDone := make(chan struct{})
	go func() { defer close(hbDone); heartbeat(hbCtx, hbStore, rt, row, cfg.Lease, log) }()

	select {
	case <-ctx.Done():
	case err := <-served:
		log.Error("runner server stopped", "err", err)
	}

	// Drain: no new placements, every actor sleeps (state committed), then
	// leave the registry.
	log.Info("runner draining")
	dctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := st.SetRunnerDraining(dctx, id, true); err != nil {
		log.Warn("mark draining", "err", err)
	}
	rt.Close(dctx)
	stopHB()
	<-hbDone
	ls.Close(dctx)
	_ = srv.Shutdown(dctx)
	if err := st.RemoveRunner(dctx, id); err != nil {
		log.Warn("leave registry", "err", err)
	}
	log.Info("runner stopped")
	return nil
}

// heartbeat keeps the runner's registry row fresh. When it cannot for a
// lease (minus a margin, see leaseGate), gateways may already have moved its
// actors, so it stops them all without committing (their writes would be
// fenced anyway) and instances run no task until a heartbeat succeeds again.
// A heartbeat that succeeds after such a gap stops every instance first:
// the actors may have moved meanwhile even though the row was never removed.
func heartbeat(ctx context.Context, st store.Store, rt *Runtime, row store.Runner, lease time.Duration, log *slog.Logger) {
	t := time.NewTicker(lease / 5)
	defer t.Stop()
	fenced := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		hctx, cancel := context.WithTimeout(ctx, lease/2)
		err := st.HeartbeatRunner(hctx, row.ID)
		if errors.Is(err, store.ErrNotFound) {
			// Removed as dead: register again; actors placed here before were
			// moved and are fenced.
			err = st.UpsertRunner(hctx, row)
			if err == nil {
				log.Warn("runner was removed from the registry; registered again")
				rt.fenceAll()
			}
		}
		cancel()
		if err == nil {
			if !rt.lease.valid() {
				log.Warn("heartbeat resumed after the lease ran out; stopping every actor")
				rt.fenceAll()
			}
			rt.lease.renew(sent)
			fenced = false
			continue
		}
		if !rt.lease.valid() && !fenced {
			log.Error("heartbeat lost for a lease; stopping every actor", "err", err)
			rt.fenceAll()
			fenced = true
		}
	}
}

// advertise turns a listen address into one gateways can dial.
func advertise(a net.Addr) (string, error) {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		return a.String(), nil
	}
	name, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("RIVET_RUNNER_ADDRESS is unset and the host name is unknown: %w", err)
	}
	return net.JoinHostPort(name, port), nil
}

func names(defs []Definition) []string {
	out := make([]string, 0, len(defs))
	for _, d := range defs {
		out = append(out, d.Name())
	}
	return out
}
