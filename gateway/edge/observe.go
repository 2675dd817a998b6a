package edge

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/rivetkube/rivetkube/internal/tracing"
)

// requestInfo is what the edge learns about a request while serving it,
// for its metrics, span and access log line.
type requestInfo struct {
	actorID string
}

type requestInfoKey struct{}

// noteActor records the actor a request resolved to.
func noteActor(ctx context.Context, id string) {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		ri.actorID = id
	}
}

// observe starts the observation of one request: a server span (child of
// the client's traceparent), request metrics and the debug access log.
// The caller defers end, after its own panic recovery has answered.
func (s *Server) observe(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, func()) {
	start := time.Now()
	route := routeOf(r)
	ri := &requestInfo{}
	ctx := context.WithValue(r.Context(), requestInfoKey{}, ri)
	ctx = tracing.FromHTTP(ctx, r.Header)
	ctx, span := tracing.Tracer().Start(ctx, "gateway "+route, trace.WithSpanKind(trace.SpanKindServer))
	if span.IsRecording() { // attributes cost allocations: only for real spans
		span.SetAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("http.route", route),
			attribute.String("url.path", r.URL.Path))
	}
	rec := &recorder{ResponseWriter: w, s: s}
	r = r.WithContext(ctx)
	end := func() {
		d := time.Since(start)
		code := rec.code
		if code == 0 {
			code = http.StatusOK // nothing written: net/http answers 200
		}
		if rec.hijacked {
			code = http.StatusSwitchingProtocols
			s.cfg.Metrics.WebSocketClosed()
		}
		if ri.actorID == "" && route == "actors_destroy" {
			ri.actorID = r.PathValue("id")
		}
		s.cfg.Metrics.Request(route, code, d)
		if span.IsRecording() {
			span.SetAttributes(attribute.Int("http.response.status_code", code))
			if ri.actorID != "" {
				span.SetAttributes(attribute.String("rivetkube.actor_id", ri.actorID))
			}
			if code >= 500 {
				span.SetStatus(codes.Error, http.StatusText(code))
			}
		}
		span.End()
		if s.log.Enabled(ctx, slog.LevelDebug) {
			attrs := []slog.Attr{
				slog.String("method", r.Method), slog.String("route", route), slog.Int("status", code),
				slog.Duration("duration", d),
			}
			if ri.actorID != "" {
				attrs = append(attrs, slog.String("actor_id", ri.actorID))
			}
			s.log.LogAttrs(ctx, slog.LevelDebug, "request", attrs...)
		}
	}
	return rec, r, end
}

// routeOf names r's route from a small fixed set (a metrics label: never
// an actor id or name).
func routeOf(r *http.Request) string {
	p := r.URL.Path
	if r.Method == http.MethodOptions {
		return "preflight"
	}
	switch {
	case p == "/metadata":
		return "metadata"
	case p == "/healthz":
		return "healthz"
	case p == "/actors" || p == "/actors/":
		switch r.Method {
		case http.MethodPost:
			return "actors_create"
		case http.MethodPut:
			return "actors_get_or_create"
		case http.MethodGet:
			return "actors_list"
		}
		return "actors_other"
	case strings.HasPrefix(p, "/actors/"):
		if r.Method == http.MethodDelete {
			return "actors_destroy"
		}
		return "actors_other"
	case strings.HasPrefix(p, "/admin/"):
		return "admin"
	case strings.HasPrefix(p, "/gateway/"):
		rest := strings.TrimPrefix(p, "/gateway/")
		_, rest, _ = strings.Cut(rest, "/") // the actor segment
		kind, _, _ := strings.Cut(rest, "/")
		switch kind {
		case "action", "queue", "connect", "websocket", "request", "inspector":
			return "gateway_" + kind
		}
		return "gateway_other"
	}
	return "other"
}

// recorder remembers the status code and whether the connection was
// hijacked (a WebSocket), and keeps Flush and Hijack reachable.
type recorder struct {
	http.ResponseWriter
	s        *Server
	code     int
	hijacked bool
}

func (w *recorder) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher (streamed raw responses).
func (w *recorder) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker (WebSockets); the socket counts as open
// until the handler returns.
func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && !w.hijacked {
		w.hijacked = true
		w.s.cfg.Metrics.WebSocketOpened()
	}
	return c, brw, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// noteResolution counts a resolution of a /gateway route and remembers
// its actor for the access log.
func (s *Server) noteResolution(r *http.Request, t target, err error) {
	method := r.URL.Query().Get("rvt-method")
	switch method {
	case "":
		method = "id"
	case "get", "getOrCreate":
	default:
		method = "other"
	}
	source := "store"
	switch {
	case err != nil:
		source = "error"
	case t.cached:
		source = "cache"
	}
	s.cfg.Metrics.Resolution(method, source)
	if err == nil {
		noteActor(r.Context(), t.actor.ID)
	}
}
