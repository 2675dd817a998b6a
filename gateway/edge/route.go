package edge

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/protocol"
	"github.com/rivetkube/rivetkube/internal/store"
)

// target is a resolved /gateway/{target} actor.
type target struct {
	actor  store.Actor
	cached bool // from the binding cache, not read from the store now
}

func (t target) specifier() *protocol.ActorSpecifier {
	key := protocol.SerializeKey(t.actor.Key)
	return &protocol.ActorSpecifier{ActorID: t.actor.ID, Generation: t.actor.Generation, Key: &key}
}

// resolve finds (or, for getOrCreate, creates) the actor a gateway URL names.
// With rvt-method the segment is an actor name; otherwise it is an actor id,
// optionally followed by "@token".
func (s *Server) resolve(ctx context.Context, r *http.Request) (target, error) {
	t, err := s.resolveWith(ctx, r, true)
	s.noteResolution(r, t, err)
	return t, err
}

// resolveWith is resolve; useCache allows answering from the binding
// cache. What it reads from the store goes into the cache.
func (s *Server) resolveWith(ctx context.Context, r *http.Request, useCache bool) (target, error) {
	seg := r.PathValue("target")
	q := r.URL.Query()
	method := q.Get("rvt-method")
	ns := q.Get("rvt-namespace")
	if ns == "" {
		ns = "default"
	}
	switch method {
	case "":
		id, _, _ := strings.Cut(seg, "@")
		if id == "" {
			return target{}, errs.InvalidRequest("missing actor id")
		}
		if useCache {
			if a, ok := s.bindings.byIDGet(id); ok {
				return target{actor: a, cached: true}, nil
			}
		}
		a, err := s.cfg.Directory.GetActor(ctx, id)
		if err != nil {
			return target{}, errs.FromStore(err)
		}
		if a.Destroyed() {
			return target{}, errs.NotFound()
		}
		s.bindings.put(a)
		return target{actor: a}, nil
	case "get", "getOrCreate":
		if err := validName(seg); err != nil {
			return target{}, err
		}
		if !s.cfg.Host.HasActor(seg) {
			return target{}, s.unknownName(seg)
		}
		key := protocol.ParseQueryKey(q.Get("rvt-key"))
		if err := validKey(key); err != nil {
			return target{}, err
		}
		bk := bindingKey(ns, seg, key)
		if useCache {
			if a, ok := s.bindings.byKeyGet(bk); ok {
				return target{actor: a, cached: true}, nil
			}
		}
		if method == "get" {
			a, err := s.cfg.Directory.GetActorByKey(ctx, ns, seg, key)
			if err != nil {
				return target{}, errs.FromStore(err)
			}
			s.bindings.put(a)
			return target{actor: a}, nil
		}
		spec := store.ActorSpec{
			ID: newActorID(), Namespace: ns, Name: seg, Key: key,
			Pool:        orDefault(q.Get("rvt-runner"), "default"),
			CrashPolicy: orDefault(q.Get("rvt-crash-policy"), "sleep"),
		}
		if in := q.Get("rvt-input"); in != "" {
			raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(in, "="))
			if err != nil {
				return target{}, errs.Malformed("rvt-input must be base64url: %v", err)
			}
			if spec.Input, err = s.decodeInput(raw); err != nil {
				return target{}, err
			}
		}
		a, _, err := s.getOrCreate(ctx, spec)
		if err != nil {
			return target{}, errs.FromStore(err)
		}
		s.bindings.put(a)
		return target{actor: a}, nil
	default:
		return target{}, errs.InvalidRequest("unknown rvt-method %q", method)
	}
}

// requestEncoding reads x-rivet-encoding (JSON when absent, for curl).
func requestEncoding(r *http.Request) (protocol.Encoding, error) {
	v := r.Header.Get("x-rivet-encoding")
	if v == "" {
		return protocol.EncodingJSON, nil
	}
	enc, err := protocol.ParseEncoding(v)
	if err != nil {
		return protocol.EncodingJSON, errs.InvalidRequest("unknown encoding %q", v)
	}
	return enc, nil
}

func (s *Server) connParams(raw string) ([]byte, error) {
	if raw == "" {
		return nil, nil
	}
	if len(raw) > s.cfg.MaxConnParamsSize {
		return nil, errs.IncomingTooLong(int64(s.cfg.MaxConnParamsSize))
	}
	v, err := protocol.JSONToValue([]byte(raw))
	if err != nil {
		return nil, errs.Malformed("connection params must be JSON: %v", err)
	}
	return v, nil
}

func (s *Server) handleGateway(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("rest")
	kind, sub, _ := strings.Cut(rest, "/")
	if kind == "connect" || kind == "websocket" {
		s.handleWebSocketRoute(w, r, kind, sub)
		return
	}
	enc, err := requestEncoding(r)
	if err != nil {
		writeError(w, protocol.EncodingJSON, err, nil)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	t, err := s.resolve(ctx, r)
	if err != nil {
		writeError(w, enc, err, nil)
		return
	}
	w.Header().Set("x-rivet-actor", t.actor.ID)
	switch kind {
	case "action":
		s.handleAction(ctx, w, r, enc, t, sub)
	case "request":
		s.handleRawRequest(ctx, w, r, t, sub)
	case "queue":
		s.handleQueue(ctx, w, r, enc, t, sub)
	case "inspector":
		s.handleInspector(ctx, w, r, t, sub)
	default:
		writeError(w, enc, errs.RouteNotFound("Unknown actor route %q.", kind), t.specifier())
	}
}

func (s *Server) handleAction(ctx context.Context, w http.ResponseWriter, r *http.Request, enc protocol.Encoding, t target, name string) {
	if r.Method != http.MethodPost {
		writeError(w, enc, errs.MethodNotAllowed("Actions are called with POST."), t.specifier())
		return
	}
	if name == "" {
		writeError(w, enc, errs.InvalidRequest("missing action name"), t.specifier())
		return
	}
	body, err := readBody(r, s.cfg.MaxMessageSize)
	if err != nil {
		writeError(w, enc, err, t.specifier())
		return
	}
	req, err := protocol.DecodeHTTPActionRequest(enc, body)
	if err != nil {
		writeError(w, enc, errs.Malformed("invalid action request: %v", err), t.specifier())
		return
	}
	params, err := s.connParams(r.Header.Get("x-rivet-conn-params"))
	if err != nil {
		writeError(w, enc, err, t.specifier())
		return
	}
	info, err := s.requestInfo(r)
	if err != nil {
		writeError(w, enc, err, t.specifier())
		return
	}
	var out []byte
	err = s.onActor(ctx, r, &t, func(t target) error {
		var err error
		out, err = s.cfg.Host.Action(ctx, hostapi.ActionRequest{ActorID: t.actor.ID, Name: name, Args: req.Args, ConnParams: params, Request: info})
		return err
	})
	w.Header().Set("x-rivet-actor", t.actor.ID)
	if err != nil {
		writeError(w, enc, err, t.specifier())
		return
	}
	resp, err := protocol.EncodeHTTPActionResponse(enc, protocol.HTTPActionResponse{Output: out})
	if err != nil {
		s.log.Error("encode action response", "actor_id", t.actor.ID, "err", err)
		writeError(w, enc, errs.Internal(), t.specifier())
		return
	}
	if int64(len(resp)) > s.cfg.MaxMessageSize {
		writeError(w, enc, errs.OutgoingTooLong(s.cfg.MaxMessageSize), t.specifier())
		return
	}
	w.Header().Set("Content-Type", enc.ContentType())
	_, _ = w.Write(resp)
}

// stripRivetQuery removes the gateway's rvt-* parameters from a raw query,
// keeping the others byte for byte and in order.
func stripRivetQuery(raw string) string {
	if raw == "" {
		return ""
	}
	parts := strings.Split(raw, "&")
	kept := parts[:0]
	for _, p := range parts {
		name, _, _ := strings.Cut(p, "=")
		if n, err := url.QueryUnescape(name); err == nil && strings.HasPrefix(n, "rvt-") {
			continue
		}
		kept = append(kept, p)
	}
	return strings.Join(kept, "&")
}

func (s *Server) handleRawRequest(ctx context.Context, w http.ResponseWriter, r *http.Request, t target, sub string) {
	s.forwardHTTP(ctx, w, r, t, sub, s.cfg.MaxRawBodySize, s.cfg.Host.Request)
}

// forwardHTTP reads r's body (at most limit bytes) and hands the request,
// its path cut to "/"+sub and the rvt-* query parameters removed, to call
// on the actor t names (resolved, woken or created as the request says).
func (s *Server) forwardHTTP(ctx context.Context, w http.ResponseWriter, r *http.Request, t target, sub string, limit int64,
	call func(context.Context, hostapi.Target, http.ResponseWriter, *http.Request) error) {
	body, err := readBody(r, limit)
	if err != nil {
		writeError(w, protocol.EncodingJSON, err, t.specifier())
		return
	}
	r2 := r.Clone(ctx)
	r2.URL.Path = "/" + sub
	r2.URL.RawPath = ""
	r2.URL.RawQuery = stripRivetQuery(r.URL.RawQuery)
	r2.RequestURI = ""
	r2.ContentLength = int64(len(body))
	if err := s.onActor(ctx, r, &t, func(t target) error {
		r2.Body = readCloser(body)
		w.Header().Set("x-rivet-actor", t.actor.ID)
		return call(ctx, hostapi.Target{ActorID: t.actor.ID}, w, r2)
	}); err != nil {
		writeError(w, protocol.EncodingJSON, err, t.specifier())
	}
}
