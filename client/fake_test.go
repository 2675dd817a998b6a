package client

// A narrow fake of the engine gateway and REST API, built on the wire
// package's encoders, for unit tests of the client. The real end-to-end
// tests run against the engine elsewhere.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/fxamacker/cbor/v2"

	"github.com/rivetkube/rivetkube/internal/protocol"
)

// actionFunc implements an action of the fake actor.
type actionFunc func(ctx context.Context, args []any) (any, *protocol.ErrorBody)

// failure is a canned error response for the next HTTP request.
type failure struct {
	status int
	body   *protocol.ErrorBody // nil: raw text body
	text   string
	json   bool // encode the error body as JSON whatever the request encoding
}

// recorded is an HTTP request seen by the fake.
type recorded struct {
	method string
	path   string // escaped path
	query  url.Values
	header http.Header
	body   []byte
}

type fakeGateway struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	actions   map[string]actionFunc
	failNext  []failure // for HTTP actions and raw requests
	connFail  []failure // for WebSocket handshakes
	requests  []recorded
	conns     []*fakeConn
	connCh    chan *fakeConn
	connCount int
	initDelay time.Duration
	actors    map[string]apiActor // REST: by id
	nextActor int
}

type fakeConn struct {
	g      *fakeGateway
	ws     *websocket.Conn
	enc    protocol.Encoding
	params string
	connID string

	mu     sync.Mutex
	subs   map[string]bool
	subLog []protocol.SubscriptionRequest
	subCh  chan protocol.SubscriptionRequest
	closed chan struct{}
}

func newFakeGateway(t *testing.T) *fakeGateway {
	g := &fakeGateway{
		t:       t,
		actions: map[string]actionFunc{},
		connCh:  make(chan *fakeConn, 16),
		actors:  map[string]apiActor{},
	}
	g.actions["add"] = func(_ context.Context, args []any) (any, *protocol.ErrorBody) {
		var sum int64
		for _, a := range args {
			switch v := a.(type) {
			case uint64:
				sum += int64(v)
			case int64:
				sum += v
			}
		}
		return sum, nil
	}
	g.actions["echo"] = func(_ context.Context, args []any) (any, *protocol.ErrorBody) {
		if len(args) == 0 {
			return nil, nil
		}
		return args[0], nil
	}
	g.actions["args"] = func(_ context.Context, args []any) (any, *protocol.ErrorBody) {
		return args, nil
	}
	g.actions["fail"] = func(_ context.Context, args []any) (any, *protocol.ErrorBody) {
		key := "wire"
		return nil, &protocol.ErrorBody{
			Group: "user", Code: "my_code", Message: "boom",
			Metadata: mustCBOR(t, map[string]any{"a": 1}),
			Actor:    &protocol.ActorSpecifier{ActorID: "actor-1", Generation: 3, Key: &key},
		}
	}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(func() {
		g.mu.Lock()
		conns := append([]*fakeConn(nil), g.conns...)
		g.mu.Unlock()
		for _, fc := range conns {
			fc.ws.CloseNow()
		}
		g.srv.Close()
	})
	return g
}

func mustCBOR(t *testing.T, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// client returns a Client for the fake with fast retries.
func (g *fakeGateway) client(enc Encoding, mod ...func(*Config)) *Client {
	g.t.Helper()
	cfg := Config{
		Endpoint:      g.srv.URL,
		Encoding:      enc,
		RetryInterval: 5 * time.Millisecond,
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		g.t.Fatal(err)
	}
	return c
}

func (g *fakeGateway) setAction(name string, fn actionFunc) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.actions[name] = fn
}

func (g *fakeGateway) failHTTP(f ...failure) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failNext = append(g.failNext, f...)
}

func (g *fakeGateway) failConnect(f ...failure) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.connFail = append(g.connFail, f...)
}

func (g *fakeGateway) recordedRequests() []recorded {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]recorded(nil), g.requests...)
}

func (g *fakeGateway) lastRequest() recorded {
	g.t.Helper()
	rs := g.recordedRequests()
	if len(rs) == 0 {
		g.t.Fatal("no request recorded")
	}
	return rs[len(rs)-1]
}

func (g *fakeGateway) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	g.requests = append(g.requests, recorded{
		method: r.Method,
		path:   r.URL.EscapedPath(),
		query:  r.URL.Query(),
		header: r.Header.Clone(),
		body:   body,
	})
	g.mu.Unlock()

	path := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(path, "/gateway/"):
		rest := strings.TrimPrefix(path, "/gateway/")
		_, route, _ := strings.Cut(rest, "/")
		route = "/" + route
		switch {
		case strings.HasPrefix(route, "/action/"):
			name, _ := url.PathUnescape(strings.TrimPrefix(route, "/action/"))
			g.serveAction(w, r, name, body)
		case route == "/connect":
			g.serveConnect(w, r)
		case strings.HasPrefix(route, "/request/"):
			g.serveRaw(w, r, route, body)
		case strings.HasPrefix(route, "/websocket/"):
			g.serveRawWS(w, r)
		default:
			http.NotFound(w, r)
		}
	case path == "/actors" || strings.HasPrefix(path, "/actors/"):
		g.serveREST(w, r, body)
	default:
		http.NotFound(w, r)
	}
}

// takeFailure pops a canned failure from list.
func (g *fakeGateway) takeFailure(list *[]failure) (failure, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(*list) == 0 {
		return failure{}, false
	}
	f := (*list)[0]
	*list = (*list)[1:]
	return f, true
}

func (g *fakeGateway) writeFailure(w http.ResponseWriter, enc protocol.Encoding, f failure) {
	if f.body == nil {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(f.status)
		io.WriteString(w, f.text)
		return
	}
	g.writeError(w, enc, f.status, f.json, *f.body)
}

func (g *fakeGateway) writeError(w http.ResponseWriter, enc protocol.Encoding, status int, asJSON bool, eb protocol.ErrorBody) {
	if asJSON {
		enc = protocol.EncodingJSON
	}
	b, err := protocol.EncodeErrorBody(enc, eb)
	if err != nil {
		g.t.Errorf("encode error body: %v", err)
	}
	w.Header().Set("Content-Type", enc.ContentType())
	w.Header().Set("x-rivet-ray-id", "ray-1")
	w.WriteHeader(status)
	w.Write(b)
}

func (g *fakeGateway) serveAction(w http.ResponseWriter, r *http.Request, name string, body []byte) {
	enc, err := protocol.ParseEncoding(r.Header.Get("x-rivet-encoding"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if f, ok := g.takeFailure(&g.failNext); ok {
		g.writeFailure(w, enc, f)
		return
	}
	req, err := protocol.DecodeHTTPActionRequest(enc, body)
	if err != nil {
		g.writeError(w, enc, 400, false, protocol.ErrorBody{Group: "request", Code: "invalid", Message: err.Error()})
		return
	}
	out, eb := g.call(r.Context(), name, req.Args)
	if eb != nil {
		g.writeError(w, enc, 500, false, *eb)
		return
	}
	resp, err := protocol.EncodeHTTPActionResponse(enc, protocol.HTTPActionResponse{Output: out})
	if err != nil {
		g.t.Errorf("encode action response: %v", err)
	}
	w.Header().Set("Content-Type", enc.ContentType())
	w.Write(resp)
}

// call runs action name on CBOR args and returns CBOR output.
func (g *fakeGateway) call(ctx context.Context, name string, argData []byte) ([]byte, *protocol.ErrorBody) {
	g.mu.Lock()
	fn := g.actions[name]
	g.mu.Unlock()
	if fn == nil {
		return nil, &protocol.ErrorBody{Group: "actor", Code: "action_not_found", Message: fmt.Sprintf("Action `%s` was not found.", name)}
	}
	var args []any
	if err := cbor.Unmarshal(argData, &args); err != nil {
		return nil, &protocol.ErrorBody{Group: "request", Code: "invalid", Message: err.Error()}
	}
	out, eb := fn(ctx, args)
	if eb != nil {
		return nil, eb
	}
	b, err := cbor.Marshal(out)
	if err != nil {
		return nil, &protocol.ErrorBody{Group: "actor", Code: "internal_error", Message: err.Error()}
	}
	return b, nil
}

// protocolsOf returns the offered subprotocols of a WebSocket request.
func protocolsOf(r *http.Request) []string {
	var out []string
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			out = append(out, strings.TrimSpace(p))
		}
	}
	return out
}

func (g *fakeGateway) serveConnect(w http.ResponseWriter, r *http.Request) {
	encName, params := "", ""
	for _, p := range protocolsOf(r) {
		if v, ok := strings.CutPrefix(p, "rivet_encoding."); ok {
			encName = v
		}
		if v, ok := strings.CutPrefix(p, "rivet_conn_params."); ok {
			params, _ = url.PathUnescape(v)
		}
	}
	enc, err := protocol.ParseEncoding(encName)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if f, ok := g.takeFailure(&g.connFail); ok {
		g.writeFailure(w, enc, f)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"rivet"}})
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	g.mu.Lock()
	g.connCount++
	fc := &fakeConn{
		g:      g,
		ws:     ws,
		enc:    enc,
		params: params,
		connID: fmt.Sprintf("conn-%d", g.connCount),
		subs:   map[string]bool{},
		subCh:  make(chan protocol.SubscriptionRequest, 64),
		closed: make(chan struct{}),
	}
	g.conns = append(g.conns, fc)
	delay := g.initDelay
	g.mu.Unlock()
	defer close(fc.closed)

	ctx := r.Context()
	if delay > 0 {
		time.Sleep(delay)
	}
	if err := fc.send(protocol.ToClient{Init: &protocol.Init{ActorID: "actor-1", ConnectionID: fc.connID}}); err != nil {
		return
	}
	g.connCh <- fc
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		msg, err := protocol.DecodeToServer(enc, data)
		if err != nil {
			g.t.Errorf("fake: decode ToServer: %v", err)
			ws.Close(websocket.StatusProtocolError, "bad message")
			return
		}
		switch {
		case msg.Action != nil:
			a := *msg.Action
			go func() {
				out, eb := g.call(ctx, a.Name, a.Args)
				if eb != nil {
					id := a.ID
					fc.send(protocol.ToClient{Error: &protocol.ErrorMessage{
						Group: eb.Group, Code: eb.Code, Message: eb.Message, Metadata: eb.Metadata,
						ActionID: &id, Actor: eb.Actor,
					}})
					return
				}
				fc.send(protocol.ToClient{ActionResponse: &protocol.ActionResponse{ID: a.ID, Output: out}})
			}()
		case msg.Subscription != nil:
			fc.mu.Lock()
			fc.subs[msg.Subscription.EventName] = msg.Subscription.Subscribe
			fc.subLog = append(fc.subLog, *msg.Subscription)
			fc.mu.Unlock()
			fc.subCh <- *msg.Subscription
		}
	}
}

func (fc *fakeConn) send(m protocol.ToClient) error {
	frame, err := protocol.EncodeToClient(fc.enc, m)
	if err != nil {
		fc.g.t.Errorf("fake: encode ToClient: %v", err)
		return err
	}
	typ := websocket.MessageText
	if fc.enc.Binary() {
		typ = websocket.MessageBinary
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return fc.ws.Write(ctx, typ, frame)
}

// event sends an event with args to the client.
func (fc *fakeConn) event(name string, args ...any) {
	fc.g.t.Helper()
	if args == nil {
		args = []any{}
	}
	if err := fc.send(protocol.ToClient{Event: &protocol.Event{Name: name, Args: mustCBOR(fc.g.t, args)}}); err != nil {
		fc.g.t.Errorf("fake: send event: %v", err)
	}
}

func (fc *fakeConn) subscribed(name string) bool {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.subs[name]
}

// waitSub waits for the next subscription message.
func (fc *fakeConn) waitSub(t *testing.T) protocol.SubscriptionRequest {
	t.Helper()
	select {
	case s := <-fc.subCh:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a subscription message")
		return protocol.SubscriptionRequest{}
	}
}

// waitConn waits for the next accepted connection (after Init was sent).
func (g *fakeGateway) waitConn(t *testing.T) *fakeConn {
	t.Helper()
	select {
	case fc := <-g.connCh:
		return fc
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a connection")
		return nil
	}
}

// serveRaw echoes a raw request as JSON.
func (g *fakeGateway) serveRaw(w http.ResponseWriter, r *http.Request, route string, body []byte) {
	if f, ok := g.takeFailure(&g.failNext); ok {
		g.writeFailure(w, protocol.EncodingJSON, f)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"method": r.Method,
		"path":   strings.TrimPrefix(route, "/request"),
		"query":  r.URL.Query(),
		"body":   string(body),
		"header": r.Header.Get("X-Test"),
		"params": r.Header.Get("x-rivet-conn-params"),
	})
}

// serveRawWS echoes text messages back with a prefix.
func (g *fakeGateway) serveRawWS(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"rivet"}})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	for {
		typ, data, err := ws.Read(r.Context())
		if err != nil {
			return
		}
		if err := ws.Write(r.Context(), typ, append([]byte("echo:"), data...)); err != nil {
			return
		}
	}
}

// serveREST implements the /actors API.
func (g *fakeGateway) serveREST(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.URL.Query().Get("namespace") != "default" {
		g.writeError(w, protocol.EncodingJSON, 400, true, protocol.ErrorBody{Group: "namespace", Code: "not_found", Message: "no namespace"})
		return
	}
	writeJSON := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	byKey := func(name, key string) *apiActor {
		for _, a := range g.actors {
			if a.Name == name && a.Key != nil && *a.Key == key {
				return &a
			}
		}
		return nil
	}
	create := func(req createRequest) apiActor {
		g.nextActor++
		ts := int64(1700000000000)
		key := req.Key
		a := apiActor{
			ActorID:            fmt.Sprintf("actor-%d", g.nextActor),
			Name:               req.Name,
			Key:                &key,
			NamespaceID:        "ns-1",
			RunnerNameSelector: req.RunnerNameSelector,
			CreateTS:           &ts,
		}
		g.actors[a.ActorID] = a
		return a
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/actors":
		var req createRequest
		json.Unmarshal(body, &req)
		if byKey(req.Name, req.Key) != nil {
			g.writeError(w, protocol.EncodingJSON, 400, true, protocol.ErrorBody{Group: "actor", Code: "duplicate_key", Message: "exists"})
			return
		}
		writeJSON(map[string]any{"actor": create(req)})
	case r.Method == http.MethodPut && r.URL.Path == "/actors":
		var req createRequest
		json.Unmarshal(body, &req)
		if a := byKey(req.Name, req.Key); a != nil {
			writeJSON(map[string]any{"actor": a, "created": false})
			return
		}
		writeJSON(map[string]any{"actor": create(req), "created": true})
	case r.Method == http.MethodGet && r.URL.Path == "/actors":
		q := r.URL.Query()
		list := []apiActor{}
		if q.Has("key") {
			if a := byKey(q.Get("name"), q.Get("key")); a != nil {
				list = append(list, *a)
			}
		} else {
			for _, a := range g.actors {
				if a.Name == q.Get("name") {
					list = append(list, a)
				}
			}
		}
		writeJSON(map[string]any{"actors": list})
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/actors/"):
		id := strings.TrimPrefix(r.URL.Path, "/actors/")
		if _, ok := g.actors[id]; !ok {
			g.writeError(w, protocol.EncodingJSON, 404, true, protocol.ErrorBody{Group: "actor", Code: "not_found", Message: "The actor does not exist or was destroyed."})
			return
		}
		delete(g.actors, id)
		writeJSON(map[string]any{})
	default:
		http.NotFound(w, r)
	}
}
