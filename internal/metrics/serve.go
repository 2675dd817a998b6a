package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ListenerConfig configures the metrics listener.
type ListenerConfig struct {
	// Addr is where /metrics is served (RIVETKUBE_METRICS_LISTEN); empty
	// serves nothing.
	Addr string
	// Pprof mounts net/http/pprof under /debug/pprof/ on the same listener
	// (RIVETKUBE_PPROF=1); never on the client or link listener.
	Pprof bool
}

// ListenerFromEnv reads RIVETKUBE_METRICS_LISTEN and RIVETKUBE_PPROF.
func ListenerFromEnv() (ListenerConfig, error) {
	cfg := ListenerConfig{Addr: os.Getenv("RIVETKUBE_METRICS_LISTEN")}
	if v := os.Getenv("RIVETKUBE_PPROF"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("RIVETKUBE_PPROF: want 1 or 0, got %q", v)
		}
		cfg.Pprof = on
	}
	if cfg.Addr != "" {
		if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
			return cfg, fmt.Errorf("RIVETKUBE_METRICS_LISTEN: want host:port, got %q", cfg.Addr)
		}
	}
	return cfg, nil
}

// Listener serves a registry over HTTP.
type Listener struct {
	ln  net.Listener
	srv *http.Server
}

// Serve starts serving reg at cfg.Addr (/metrics, /healthz, and pprof when
// asked). It returns nil, nil when cfg.Addr is empty.
func Serve(cfg ListenerConfig, reg *prometheus.Registry, log *slog.Logger) (*Listener, error) {
	if cfg.Addr == "" {
		return nil, nil
	}
	if log == nil {
		log = slog.Default()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener on %s: %w", cfg.Addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry: reg, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		MaxRequestsInFlight: 4, Timeout: 10 * time.Second,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	l := &Listener{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}}
	go func() {
		if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	log.Info("metrics listening", "addr", ln.Addr().String(), "pprof", cfg.Pprof)
	return l, nil
}

// Addr returns the address the listener serves on.
func (l *Listener) Addr() string { return l.ln.Addr().String() }

// Close stops the listener; nil-safe.
func (l *Listener) Close() error {
	if l == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return l.srv.Shutdown(ctx)
}
