// Package gateway is the client-facing HTTP server of rivetkube. It speaks
// RivetKit client protocol v4 (REST /actors, /metadata, and the
// /gateway/{actor}/... routes with JSON, CBOR and BARE encodings),
// resolves actors in the store, and hands every actor request to a
// hostapi.Host. It holds no actor state of its own.
//
// Every body and frame is bounded (Config limits); anything over a limit,
// malformed or unknown is answered with a 4xx and the
// {group, code, message} error shape.
package edge

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/protocol"
	"github.com/rivetkube/rivetkube/internal/store"
)

// Config configures a Server. Zero limits take defaults.
type Config struct {
	// Directory resolves and creates actors: the store in the local engine;
	// in the distributed one the router's, which places a new actor in the
	// statement that creates it.
	Directory store.Directory
	Host      hostapi.Host
	Log       *slog.Logger
	// Version is reported by GET /metadata.
	Version string
	// MaxMessageSize bounds an HTTP action/queue body and a WebSocket frame
	// (default 4 MiB).
	MaxMessageSize int64
	// MaxRawBodySize bounds a raw /request body (default 16 MiB).
	MaxRawBodySize int64
	// MaxConnParamsSize bounds connection params (default 64 KiB).
	MaxConnParamsSize int
	// MaxInputSize bounds create input (default 1 MiB).
	MaxInputSize int
	// RequestTimeout bounds one HTTP request to an actor (default 5 min).
	RequestTimeout time.Duration
	// WSOutbox bounds frames queued to one client WebSocket (default 1024).
	WSOutbox int
	// InspectorToken, when set, is required as a bearer token by the
	// inspector API. Without it the inspector is served only when
	// InspectorOpen is set (the local engine) and refused otherwise.
	InspectorToken string
	InspectorOpen  bool
	// MaxQueueWait bounds how long a queue send with wait may wait (default 5 min).
	MaxQueueWait time.Duration
	// RunnersMayJoin says actor names come from runners that register over
	// time (the distributed engine): an unknown name then answers the
	// retryable actor/not_configured instead of the final name_not_found.
	RunnersMayJoin bool
	// Admin, when set, is served under /admin behind AdminToken.
	Admin      Admin
	AdminToken string
	// BindingCache bounds how many resolved actors (key and ID → actor)
	// the gateway remembers (default 100,000; negative disables it). See
	// bindingCache for why a cached binding is safe to use.
	BindingCache int
	// CORS says which browser origins may call the gateway (cors.go); the
	// zero value allows the same origin only.
	CORS CORS
	// ClientTokens, when set, are required on /actors and /gateway/...
	// (tokens.go); the zero value leaves the engine open.
	ClientTokens ClientTokens
	// Limits bound requests per client IP and actor (ratelimit.go); the
	// zero value imposes none.
	Limits ClientLimits
	// Metrics, when set, records rivetkube_gateway_* (see observe.go).
	Metrics *metrics.Gateway
}

func (c Config) withDefaults() Config {
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 4 << 20
	}
	if c.MaxRawBodySize <= 0 {
		c.MaxRawBodySize = 16 << 20
	}
	if c.MaxConnParamsSize <= 0 {
		c.MaxConnParamsSize = 64 << 10
	}
	if c.MaxInputSize <= 0 {
		c.MaxInputSize = 1 << 20
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Minute
	}
	if c.MaxQueueWait <= 0 {
		c.MaxQueueWait = 5 * time.Minute
	}
	if c.WSOutbox <= 0 {
		c.WSOutbox = 1024
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.BindingCache == 0 {
		c.BindingCache = 100_000
	}
	return c
}

// Server is the gateway's http.Handler.
type Server struct {
	cfg      Config
	mux      *http.ServeMux
	log      *slog.Logger
	bindings *bindingCache
	cors     *corsGate
	tokens   *tokenGate
	limits   *limiter
}

// getOrCreate resolves spec's key or creates the actor, in the directory.
func (s *Server) getOrCreate(ctx context.Context, spec store.ActorSpec) (store.Actor, bool, error) {
	return s.cfg.Directory.GetOrCreateActor(ctx, spec)
}

// New returns a gateway server.
func New(cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: cfg.Log, bindings: newBindingCache(cfg.BindingCache),
		cors: newCORSGate(cfg.CORS, cfg.Log), tokens: newTokenGate(cfg.ClientTokens, cfg.InspectorToken != "", cfg.Log),
		limits: newLimiter(cfg.Limits, cfg.Log, nil)}
	s.mux.HandleFunc("GET /metadata", s.handleMetadata)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	s.mux.HandleFunc("POST /actors", s.handleCreate)
	s.mux.HandleFunc("PUT /actors", s.handleGetOrCreate)
	s.mux.HandleFunc("GET /actors", s.handleList)
	s.mux.HandleFunc("DELETE /actors/{id}", s.handleDestroy)
	s.mux.HandleFunc("/gateway/{target}/{rest...}", s.handleGateway)
	if cfg.Admin != nil {
		s.mountAdmin()
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, protocol.EncodingJSON, errs.RouteNotFound("No route for %s %s.", r.Method, r.URL.Path), nil)
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w, r, observed := s.observe(w, r)
	defer observed()
	if s.cors.intercept(w, r) {
		return
	}
	release, ok := s.limits.admit(w, r)
	if !ok {
		return
	}
	defer release()
	if !s.tokens.admit(w, r) {
		return
	}
	defer func() {
		if rec := recover(); rec != nil {
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			s.log.Error("gateway handler panicked", "panic", rec, "path", r.URL.Path)
			writeError(w, protocol.EncodingJSON, errs.Internal(), nil)
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// readBody reads at most limit bytes, failing with incoming_too_long.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errs.IncomingTooLong(limit)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, errs.Malformed("reading body: %v", err)
	}
	if int64(len(b)) > limit {
		return nil, errs.IncomingTooLong(limit)
	}
	return b, nil
}

// writeError answers with the error shape in enc (JSON content type for JSON).
func writeError(w http.ResponseWriter, enc protocol.Encoding, err error, actor *protocol.ActorSpecifier) {
	pe := publicError(err)
	body, encErr := protocol.EncodeErrorBody(enc, protocol.ErrorBody{
		Group: pe.Group, Code: pe.Code, Message: pe.Message, Metadata: pe.Metadata, Actor: actor,
	})
	if encErr != nil {
		enc = protocol.EncodingJSON
		body = []byte(`{"group":"actor","code":"internal_error","message":"An internal error occurred"}`)
	}
	w.Header().Set("Content-Type", enc.ContentType())
	status := pe.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// publicError maps any error to what a client may see.
func publicError(err error) *errs.Error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return errs.ActionTimedOut()
	case errors.Is(err, protocol.ErrMalformed):
		return errs.Malformed("%v", err)
	}
	return errs.From(err)
}
