package runner

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rivetkube/rivetkube/internal/metrics"
)

// Base is the configuration the local engine and runner mode share.
type Base struct {
	// Limits bound actors (RIVETKUBE_ACTION_TIMEOUT, RIVETKUBE_SLEEP_TIMEOUT).
	Limits Limits
	// MaxMessageSize bounds a request body or frame (RIVETKUBE_MAX_MESSAGE_SIZE).
	MaxMessageSize int64
	// Log is the logger (RIVETKUBE_LOG_LEVEL, RIVETKUBE_LOG_FORMAT=json|text).
	Log *slog.Logger
	// ShutdownTimeout bounds a graceful stop (RIVETKUBE_SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
	// Metrics is the metrics listener (RIVETKUBE_METRICS_LISTEN, RIVETKUBE_PPROF).
	Metrics metrics.ListenerConfig
}

// BaseFromEnv reads the shared settings from RIVETKUBE_* variables.
func BaseFromEnv() (Base, error) {
	var cfg Base
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
	if err != nil {
		return cfg, err
	}
	if cfg.Metrics, err = metrics.ListenerFromEnv(); err != nil {
		return cfg, err
	}
	cfg.Log, err = loggerFromEnv()
	return cfg, err
}

// EnvOr returns the environment variable name, or def when it is unset.
func EnvOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envOr(name, def string) string { return EnvOr(name, def) }

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
