package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/coder/websocket"

	"github.com/rivetkube/rivetkube/internal/protocol"
)

// targetKind says how a handle addresses its actor.
type targetKind int

const (
	targetGet         targetKind = iota // existing actor by name and key
	targetGetOrCreate                   // actor by name and key, created on demand
	targetID                            // actor by ID
)

// HandleOption configures a Handle.
type HandleOption func(*handleOptions)

type handleOptions struct {
	input, params       any
	hasInput, hasParams bool
}

// WithInput sets the input passed to the actor when GetOrCreate or Create
// creates it. The value is encoded as CBOR.
func WithInput(v any) HandleOption {
	return func(o *handleOptions) { o.input, o.hasInput = v, true }
}

// WithParams sets the connection parameters sent with every request and
// connection of the handle. The value is encoded as JSON.
func WithParams(v any) HandleOption {
	return func(o *handleOptions) { o.params, o.hasParams = v, true }
}

// Handle addresses one actor. Stateless requests (Action, Fetch, WebSocket)
// are routed through the gateway on every call; Connect opens a stateful
// connection. A Handle is immutable and safe for concurrent use.
//
// An error in the handle's options (for example an input that cannot be
// encoded) is returned by every method.
type Handle struct {
	c       *Client
	kind    targetKind
	name    string
	key     []string
	actorID string
	input   []byte // canonical CBOR; nil: none
	params  string // JSON; "": none
	err     error
}

func (c *Client) newHandle(kind targetKind, name string, key []string, actorID string, opts []HandleOption) *Handle {
	var o handleOptions
	for _, opt := range opts {
		opt(&o)
	}
	h := &Handle{c: c, kind: kind, name: name, key: slices.Clone(key), actorID: actorID}
	if h.key == nil {
		h.key = []string{}
	}
	switch {
	case kind == targetID && actorID == "":
		h.err = errors.New("client: actor id must not be empty")
	case kind != targetID && name == "":
		h.err = errors.New("client: actor name must not be empty")
	}
	if o.hasInput && kind != targetID && h.err == nil {
		if h.input, h.err = encodeValue(o.input); h.err != nil {
			h.err = fmt.Errorf("client: encode input: %w", h.err)
		}
	}
	if o.hasParams && o.params != nil && h.err == nil {
		b, err := json.Marshal(o.params)
		if err != nil {
			h.err = fmt.Errorf("client: encode params: %w", err)
		}
		h.params = string(b)
	}
	return h
}

// Name returns the actor name the handle was created with.
func (h *Handle) Name() string { return h.name }

// Resolve returns the actor's ID. For a GetForID or Create handle it is
// known; otherwise the REST API is asked every time (GET /actors for Get,
// PUT /actors, which may create the actor, for GetOrCreate).
func (h *Handle) Resolve(ctx context.Context) (string, error) {
	if h.err != nil {
		return "", h.err
	}
	switch h.kind {
	case targetID:
		return h.actorID, nil
	case targetGet:
		return h.c.lookup(ctx, h.name, h.key)
	default:
		return h.c.getOrCreate(ctx, h.name, h.key, h.input)
	}
}

// queryRoutable reports whether the gateway can route this handle by a
// query target. The rvt-key parameter is key.join(","), which cannot carry
// a comma inside a key part nor tell [""] from the empty key, and rvt-input
// is limited in size. Such handles are resolved through the REST API and
// addressed by ID instead.
func (h *Handle) queryRoutable() bool {
	if len(h.key) == 1 && h.key[0] == "" {
		return false
	}
	for _, part := range h.key {
		if strings.Contains(part, ",") {
			return false
		}
	}
	return h.kind != targetGetOrCreate || len(h.input) <= maxQueryInputSize
}

// gatewayURL returns the gateway URL of path (which starts with "/" and may
// carry a query) for this handle. It may resolve the actor (see
// queryRoutable).
func (h *Handle) gatewayURL(ctx context.Context, path string) (string, error) {
	c := h.c
	if h.kind == targetID {
		return h.directURL(h.actorID, path), nil
	}
	if !h.queryRoutable() {
		id, err := h.Resolve(ctx)
		if err != nil {
			return "", err
		}
		return h.directURL(id, path), nil
	}
	var q strings.Builder
	add := func(k, v string) {
		if q.Len() > 0 {
			q.WriteByte('&')
		}
		q.WriteString(k)
		q.WriteByte('=')
		q.WriteString(escapeComponent(v))
	}
	add("rvt-namespace", c.namespace)
	if h.kind == targetGet {
		add("rvt-method", "get")
	} else {
		add("rvt-method", "getOrCreate")
		add("rvt-runner", c.pool)
	}
	if len(h.key) > 0 {
		add("rvt-key", strings.Join(h.key, ","))
	}
	if h.kind == targetGetOrCreate {
		if h.input != nil {
			add("rvt-input", base64.RawURLEncoding.EncodeToString(h.input))
		}
		add("rvt-crash-policy", "sleep")
	}
	if c.token != "" {
		add("rvt-token", c.token)
	}
	sep := "?"
	switch {
	case strings.HasSuffix(path, "?") || strings.HasSuffix(path, "&"):
		sep = ""
	case strings.Contains(path, "?"):
		sep = "&"
	}
	return c.endpoint + "/gateway/" + escapeComponent(h.name) + path + sep + q.String(), nil
}

func (h *Handle) directURL(actorID, path string) string {
	seg := escapeComponent(actorID)
	if h.c.token != "" {
		seg += "@" + escapeComponent(h.c.token)
	}
	return h.c.endpoint + "/gateway/" + seg + path
}

// gatewayHeaders sets the headers every gateway request carries.
func (h *Handle) gatewayHeaders(hdr http.Header) {
	h.c.setHeaders(hdr)
	if h.params != "" {
		hdr.Set("x-rivet-conn-params", h.params)
	}
	if h.c.token != "" {
		hdr.Set("x-rivet-token", h.c.token)
	}
}

// ActionCaller is implemented by *Handle and *Conn.
type ActionCaller interface {
	Action(ctx context.Context, name string, out any, args ...any) error
}

// Call calls the action name on a Handle or Conn and decodes its output as T.
func Call[T any](ctx context.Context, a ActionCaller, name string, args ...any) (T, error) {
	var out T
	err := a.Action(ctx, name, &out, args...)
	return out, err
}

// Action calls the action name with args over HTTP and decodes its output
// into out, a pointer, unless out is nil. Arguments and output are converted
// with CBOR (see the package documentation).
//
// Requests the gateway or actor reports as not processed (the actor is
// starting, stopping, being replaced, or the engine is unreachable) are
// retried as configured by Config.MaxRetries and Config.RetryInterval.
// An error reported by the actor is returned as an *ActorError.
func (h *Handle) Action(ctx context.Context, name string, out any, args ...any) error {
	if h.err != nil {
		return h.err
	}
	c := h.c
	argData, err := encodeArgs(args)
	if err != nil {
		return fmt.Errorf("client: action %q: %w", name, err)
	}
	body, err := protocol.EncodeHTTPActionRequest(c.enc, protocol.HTTPActionRequest{Args: argData})
	if err != nil {
		return fmt.Errorf("client: action %q: encode request: %w", name, err)
	}
	var output []byte
	err = h.post(ctx, "/action/"+escapeComponent(name), body, func(data []byte) error {
		r, err := protocol.DecodeHTTPActionResponse(c.enc, data)
		if err != nil {
			return err
		}
		output = r.Output
		return nil
	})
	if err != nil {
		return fmt.Errorf("client: action %q: %w", name, err)
	}
	if err := decodeValue(output, out); err != nil {
		return fmt.Errorf("client: action %q: %w", name, err)
	}
	return nil
}

// post sends body to the actor's gateway route path (retrying what the
// protocol says may be retried) and hands a 2xx answer's body to decode; a
// non-2xx answer becomes the error it carries.
func (h *Handle) post(ctx context.Context, path string, body []byte, decode func([]byte) error) error {
	c := h.c
	return c.retry(ctx, func(err error) bool { return retryableError(h.kind, err, false) }, func() error {
		u, err := h.gatewayURL(ctx, path)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			return err
		}
		h.gatewayHeaders(req.Header)
		req.Header.Set("x-rivet-encoding", string(c.encoding))
		req.Header.Set("Content-Type", c.contentType())
		resp, err := c.httpc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		data, err := c.readBody(resp)
		if err != nil {
			return err
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return responseError(resp, data, c.enc)
		}
		if err := decode(data); err != nil {
			return fmt.Errorf("decode response: %w", err)
		}
		return nil
	})
}

// Fetch sends req to the actor's raw HTTP handler: the path and query of
// req.URL are appended to the actor's /request/ route (its scheme and host
// are ignored, so a relative URL such as "/items?id=1" is fine); the method,
// headers and body are forwarded; req's own context is replaced by ctx.
//
// The actor's response is returned as-is, whatever its status. Gateway
// responses saying the request was not processed are retried like actions;
// to be able to resend it, a body without GetBody is read into memory first.
// The caller must close the response body.
func (h *Handle) Fetch(ctx context.Context, req *http.Request) (*http.Response, error) {
	if h.err != nil {
		return nil, h.err
	}
	c := h.c
	path := "/request/" + strings.TrimPrefix(req.URL.EscapedPath(), "/")
	if req.URL.RawQuery != "" {
		path += "?" + req.URL.RawQuery
	}
	getBody, length := req.GetBody, req.ContentLength
	if req.Body != nil && req.Body != http.NoBody && getBody == nil {
		data, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("client: fetch: read request body: %w", err)
		}
		getBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
		length = int64(len(data))
	}

	// last is the response of the latest attempt, kept open until the
	// next attempt starts.
	var last *http.Response
	err := c.retry(ctx, func(err error) bool { return retryableError(h.kind, err, false) }, func() error {
		if last != nil {
			last.Body.Close()
			last = nil
		}
		u, err := h.gatewayURL(ctx, path)
		if err != nil {
			return err
		}
		var body io.ReadCloser
		if getBody != nil {
			if body, err = getBody(); err != nil {
				return err
			}
		}
		out, err := http.NewRequestWithContext(ctx, req.Method, u, body)
		if err != nil {
			if body != nil {
				body.Close()
			}
			return err
		}
		out.ContentLength = length
		out.Header = req.Header.Clone()
		if out.Header == nil {
			out.Header = http.Header{}
		}
		h.gatewayHeaders(out.Header)
		resp, err := c.httpc.Do(out)
		if err != nil {
			return err
		}
		last = resp
		if resp.StatusCode < 400 {
			return nil
		}
		// Peek at the body: a gateway error saying the request was not
		// processed is retried.
		const peek = 64 << 10
		head, rerr := io.ReadAll(io.LimitReader(resp.Body, peek))
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
		if rerr == nil && len(head) < peek {
			return responseError(resp, head, c.enc)
		}
		return nil
	})
	switch {
	case err == nil:
		return last, nil
	case last != nil && ctx.Err() == nil:
		// The actor's (or gateway's) error response is returned as-is.
		return last, nil
	case last != nil:
		last.Body.Close()
	}
	return nil, fmt.Errorf("client: fetch: %w", err)
}

// WebSocket opens a raw WebSocket to the actor's WebSocket handler. path
// (which may carry a query) is appended to the actor's /websocket/ route.
// The caller owns the returned connection; its read limit is
// Config.MaxMessageSize.
func (h *Handle) WebSocket(ctx context.Context, path string) (*websocket.Conn, error) {
	if h.err != nil {
		return nil, h.err
	}
	c := h.c
	p, query, hasQuery := strings.Cut(path, "?")
	full := "/websocket/" + strings.TrimPrefix(p, "/")
	if hasQuery {
		full += "?" + query
	}
	var ws *websocket.Conn
	err := c.retry(ctx, func(err error) bool { return retryableError(h.kind, err, false) }, func() error {
		u, err := h.gatewayURL(ctx, full)
		if err != nil {
			return err
		}
		// Raw WebSockets always announce the bare encoding, as the
		// official client does.
		conn, resp, err := websocket.Dial(ctx, u, h.dialOptions(EncodingBARE))
		if err != nil {
			return handshakeError(resp, err, protocol.EncodingBARE)
		}
		ws = conn
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("client: websocket: %w", err)
	}
	ws.SetReadLimit(c.maxMessage)
	return ws, nil
}

// dialOptions returns the WebSocket dial options: the subprotocols carry
// the encoding and the connection parameters.
func (h *Handle) dialOptions(enc Encoding) *websocket.DialOptions {
	protos := []string{"rivet", "rivet_encoding." + string(enc)}
	if h.params != "" {
		protos = append(protos, "rivet_conn_params."+escapeComponent(h.params))
	}
	hdr := http.Header{}
	h.c.setHeaders(hdr)
	return &websocket.DialOptions{
		HTTPClient:   h.c.httpc,
		HTTPHeader:   hdr,
		Subprotocols: protos,
	}
}
