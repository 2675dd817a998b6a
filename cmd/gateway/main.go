// Command gateway is the client-facing gateway of a distributed rivetkube
// engine: any number of replicas share one PostgreSQL database, and any
// replica serves any actor.
//
//	gateway [--listen :6420] [--postgres URL]   serve (migrates the schema first)
//	gateway migrate [--postgres URL]            apply schema migrations and exit
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/rivetkube/rivetkube/gateway"
	"github.com/rivetkube/rivetkube/gateway/edge"
	"github.com/rivetkube/rivetkube/internal/metrics"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	migrateOnly := len(args) > 0 && args[0] == "migrate"
	if migrateOnly {
		args = args[1:]
	}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	listen := fs.String("listen", envOr("RIVETKUBE_LISTEN", ":6420"), "client listen address")
	pg := fs.String("postgres", os.Getenv("RIVETKUBE_POSTGRES_URL"), "PostgreSQL URL (RIVETKUBE_POSTGRES_URL)")
	leaseDef, err := durEnv("RIVETKUBE_LEASE", 5*time.Second)
	if err != nil {
		return err
	}
	waitDef, err := durEnv("RIVETKUBE_WAIT_TIMEOUT", 30*time.Second)
	if err != nil {
		return err
	}
	coldDef, err := durEnv("RIVETKUBE_COLD_START_TIMEOUT", 60*time.Second)
	if err != nil {
		return err
	}
	lease := fs.Duration("lease", leaseDef, "runner heartbeat lease (RIVETKUBE_LEASE)")
	coldStart := fs.Duration("cold-start-timeout", coldDef,
		"how long a request for a pool without a live runner (scaled to zero) waits for one to join (RIVETKUBE_COLD_START_TIMEOUT)")
	wait := fs.Duration("wait-timeout", waitDef, "how long a request waits for its actor (RIVETKUBE_WAIT_TIMEOUT)")
	maxConns := fs.Int("postgres-max-conns", 32, "PostgreSQL connection pool size")
	maxMsgDef, err := intEnv("RIVETKUBE_MAX_MESSAGE_SIZE", 4<<20)
	if err != nil {
		return err
	}
	maxMsg := fs.Int64("max-message-size", maxMsgDef, "largest action body or WebSocket frame in bytes (RIVETKUBE_MAX_MESSAGE_SIZE)")
	drainDef, err := intEnv("RIVETKUBE_DRAIN_WORKERS", 768)
	if err != nil {
		return err
	}
	drainWorkers := fs.Int64("drain-workers", drainDef, "actors the drain moves at once (RIVETKUBE_DRAIN_WORKERS)")
	corsOrigins := fs.String("cors-origins", os.Getenv("RIVETKUBE_CORS_ORIGINS"),
		"browser origins allowed to call the gateway, comma-separated, \"*\" for any; empty allows the same origin only (RIVETKUBE_CORS_ORIGINS)")
	tlsCert := fs.String("tls-cert", os.Getenv("RIVETKUBE_TLS_CERT_FILE"), "PEM certificate file: serve HTTPS and HTTP/2 (RIVETKUBE_TLS_CERT_FILE)")
	tlsKey := fs.String("tls-key", os.Getenv("RIVETKUBE_TLS_KEY_FILE"), "PEM key file of --tls-cert (RIVETKUBE_TLS_KEY_FILE)")
	logFormat := fs.String("log-format", envOr("RIVETKUBE_LOG_FORMAT", "json"), "json or text (RIVETKUBE_LOG_FORMAT)")
	logLevel := fs.String("log-level", envOr("RIVETKUBE_LOG_LEVEL", "info"), "debug, info, warn or error (RIVETKUBE_LOG_LEVEL); debug adds access logs")
	metricsCfg, err := metrics.ListenerFromEnv()
	if err != nil {
		return err
	}
	fs.StringVar(&metricsCfg.Addr, "metrics-listen", metricsCfg.Addr, "Prometheus /metrics address, e.g. :9090; empty: none (RIVETKUBE_METRICS_LISTEN; RIVETKUBE_PPROF=1 adds /debug/pprof/)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if *lease < 500*time.Millisecond || *wait <= 0 || *coldStart <= 0 || *coldStart > 10*time.Minute || *maxConns < 2 || *maxMsg < 1024 || *drainWorkers < 1 || *drainWorkers > 4096 {
		return fmt.Errorf("--lease must be at least 500ms, --wait-timeout positive, --cold-start-timeout positive and at most 10m, --postgres-max-conns at least 2, --max-message-size at least 1024, --drain-workers 1 to 4096")
	}
	cors, err := edge.ParseCORSOrigins(*corsOrigins)
	if err != nil {
		return fmt.Errorf("--cors-origins: %w", err)
	}
	// Tokens come from the environment only (a Secret), never a flag that
	// ps would show.
	tokens, err := edge.ParseClientTokens(os.Getenv("RIVETKUBE_CLIENT_TOKENS"))
	if err != nil {
		return fmt.Errorf("RIVETKUBE_CLIENT_TOKENS: %w", err)
	}
	limits, err := edge.ClientLimitsFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	var tlsFiles *edge.TLSFiles
	if *tlsCert != "" || *tlsKey != "" {
		if tlsFiles, err = edge.LoadTLSFiles(*tlsCert, *tlsKey); err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
	}
	var log *slog.Logger
	opts := &slog.HandlerOptions{Level: level}
	switch *logFormat {
	case "json":
		log = slog.New(slog.NewJSONHandler(os.Stderr, opts))
	case "text":
		log = slog.New(slog.NewTextHandler(os.Stderr, opts))
	default:
		return fmt.Errorf("--log-format: want json or text")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if migrateOnly {
		if *pg == "" {
			return fmt.Errorf("migrate needs --postgres or RIVETKUBE_POSTGRES_URL")
		}
		if err := gateway.Migrate(ctx, *pg); err != nil {
			return err
		}
		log.Info("schema is up to date")
		return nil
	}
	g, err := gateway.Start(ctx, gateway.Config{
		Listen: *listen, PostgresURL: *pg, MaxConns: int32(*maxConns),
		AdminToken:     os.Getenv("RIVETKUBE_ADMIN_TOKEN"),
		InspectorToken: os.Getenv("RIVETKUBE_INSPECTOR_TOKEN"),
		RunnerToken:    os.Getenv("RIVETKUBE_RUNNER_TOKEN"),
		Lease:          *lease, WaitTimeout: *wait, ColdStartTimeout: *coldStart, Version: version, Log: log,
		MaxMessageSize: *maxMsg, DrainWorkers: int(*drainWorkers),
		CORS:         cors,
		ClientTokens: tokens,
		Limits:       limits,
		TLS:          tlsFiles,
		Metrics:      metricsCfg,
	})
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-g.Served():
		log.Error("server stopped", "err", err)
	}
	return g.Close()
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func intEnv(name string, def int64) (int64, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: want a byte count, got %q", name, v)
	}
	return n, nil
}

func durEnv(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: want a duration like 5s, got %q", name, v)
	}
	return d, nil
}
