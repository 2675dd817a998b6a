package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/fxamacker/cbor/v2"

	"github.com/rivetkube/rivetkube/internal/protocol"
)

var encodings = []Encoding{EncodingBARE, EncodingJSON, EncodingCBOR}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type point struct {
	X    int    `json:"x"`
	Name string `json:"name"`
}

func TestActionRoundTrip(t *testing.T) {
	for _, enc := range encodings {
		t.Run(string(enc), func(t *testing.T) {
			g := newFakeGateway(t)
			c := g.client(enc)
			ctx := testCtx(t)
			h := c.GetOrCreate("counter", []string{"k1", "k2"},
				WithInput(map[string]any{"start": 1}), WithParams(map[string]string{"user": "ann"}))

			n, err := Call[int](ctx, h, "add", 2, 3)
			if err != nil {
				t.Fatal(err)
			}
			if n != 5 {
				t.Fatalf("add = %d, want 5", n)
			}

			r := g.lastRequest()
			if r.method != http.MethodPost || r.path != "/gateway/counter/action/add" {
				t.Fatalf("request %s %s", r.method, r.path)
			}
			want := map[string]string{
				"rvt-namespace":    "default",
				"rvt-method":       "getOrCreate",
				"rvt-runner":       "default",
				"rvt-key":          "k1,k2",
				"rvt-crash-policy": "sleep",
			}
			for k, v := range want {
				if got := r.query.Get(k); got != v {
					t.Errorf("query %s = %q, want %q", k, got, v)
				}
			}
			in, err := base64.RawURLEncoding.DecodeString(r.query.Get("rvt-input"))
			if err != nil {
				t.Fatalf("rvt-input: %v", err)
			}
			var input map[string]int
			if err := cbor.Unmarshal(in, &input); err != nil || input["start"] != 1 {
				t.Fatalf("rvt-input = %v (%v)", input, err)
			}
			if got := r.header.Get("x-rivet-encoding"); got != string(enc) {
				t.Errorf("x-rivet-encoding = %q", got)
			}
			wantCT := "application/octet-stream"
			if enc == EncodingJSON {
				wantCT = "application/json"
			}
			if got := r.header.Get("Content-Type"); got != wantCT {
				t.Errorf("Content-Type = %q, want %q", got, wantCT)
			}
			if got := r.header.Get("x-rivet-conn-params"); got != `{"user":"ann"}` {
				t.Errorf("x-rivet-conn-params = %q", got)
			}

			// Structured values, bytes, no args and a nil out.
			p, err := Call[point](ctx, h, "echo", point{X: 7, Name: "p"})
			if err != nil || p != (point{X: 7, Name: "p"}) {
				t.Fatalf("echo point = %+v, %v", p, err)
			}
			b, err := Call[[]byte](ctx, h, "echo", []byte{0, 1, 2})
			if err != nil || !bytes.Equal(b, []byte{0, 1, 2}) {
				t.Fatalf("echo bytes = %v, %v", b, err)
			}
			args, err := Call[[]any](ctx, h, "args")
			if err != nil || len(args) != 0 {
				t.Fatalf("no args = %v, %v", args, err)
			}
			if err := h.Action(ctx, "add", nil, 1); err != nil {
				t.Fatal(err)
			}
			m, err := Call[map[string]any](ctx, h, "echo", map[string]any{"a": []any{"x", 1}})
			if err != nil {
				t.Fatal(err)
			}
			if arr, _ := m["a"].([]any); len(arr) != 2 || arr[0] != "x" || arr[1] != int64(1) {
				t.Fatalf("echo map = %#v", m)
			}
		})
	}
}

func TestTargets(t *testing.T) {
	g := newFakeGateway(t)
	c := g.client(EncodingJSON, func(cfg *Config) { cfg.Token = "sec ret" })
	ctx := testCtx(t)

	if err := c.Get("counter", []string{"a"}).Action(ctx, "add", nil); err != nil {
		t.Fatal(err)
	}
	r := g.lastRequest()
	if r.query.Get("rvt-method") != "get" || r.query.Has("rvt-runner") || r.query.Has("rvt-crash-policy") || r.query.Has("rvt-input") {
		t.Errorf("get query = %v", r.query)
	}
	if r.query.Get("rvt-token") != "sec ret" || r.header.Get("x-rivet-token") != "sec ret" {
		t.Errorf("token: query %q header %q", r.query.Get("rvt-token"), r.header.Get("x-rivet-token"))
	}

	if err := c.GetOrCreate("counter", nil).Action(ctx, "add", nil); err != nil {
		t.Fatal(err)
	}
	if r := g.lastRequest(); r.query.Has("rvt-key") {
		t.Errorf("empty key sent rvt-key %q", r.query.Get("rvt-key"))
	}

	if err := c.GetForID("counter", "actor/1").Action(ctx, "add", nil); err != nil {
		t.Fatal(err)
	}
	r = g.lastRequest()
	if r.path != "/gateway/actor%2F1@sec%20ret/action/add" || len(r.query) != 0 {
		t.Errorf("direct target: %s ? %v", r.path, r.query)
	}

	// A key the query form cannot carry is resolved through the REST API.
	if err := c.GetOrCreate("counter", []string{"a,b"}).Action(ctx, "add", nil); err != nil {
		t.Fatal(err)
	}
	rs := g.recordedRequests()
	put, act := rs[len(rs)-2], rs[len(rs)-1]
	if put.method != http.MethodPut || put.path != "/actors" || put.header.Get("Authorization") != "Bearer sec ret" {
		t.Errorf("resolve request %s %s auth %q", put.method, put.path, put.header.Get("Authorization"))
	}
	if !strings.HasPrefix(act.path, "/gateway/actor-1@") {
		t.Errorf("action after resolve went to %s", act.path)
	}
}

func TestActionErrors(t *testing.T) {
	for _, enc := range encodings {
		t.Run(string(enc), func(t *testing.T) {
			g := newFakeGateway(t)
			c := g.client(enc)
			ctx := testCtx(t)
			h := c.Get("counter", []string{"k"})

			err := h.Action(ctx, "fail", nil)
			var ae *ActorError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T) is not an *ActorError", err, err)
			}
			if ae.Group != "user" || ae.Code != "my_code" || ae.Message != "boom" || ae.StatusCode != 500 ||
				ae.ActorID != "actor-1" || ae.Generation != 3 || ae.RayID != "ray-1" {
				t.Fatalf("error = %+v", ae)
			}
			var md map[string]int
			if err := ae.DecodeMetadata(&md); err != nil || md["a"] != 1 {
				t.Fatalf("metadata = %v, %v", md, err)
			}
			if !strings.Contains(err.Error(), "user/my_code: boom") {
				t.Errorf("message %q", err.Error())
			}

			// A JSON error body is read as JSON whatever the request encoding.
			g.failHTTP(failure{status: 404, json: true, body: &protocol.ErrorBody{Group: "actor", Code: "not_found", Message: "gone"}})
			err = h.Action(ctx, "add", nil)
			if !errors.As(err, &ae) || ae.Code != "not_found" || ae.StatusCode != 404 || ae.Metadata != nil {
				t.Fatalf("json error = %v", err)
			}

			// A body that is not a protocol error keeps status and text.
			g.failHTTP(failure{status: 502, text: "upstream exploded"})
			err = h.Action(ctx, "add", nil)
			var he *HTTPError
			if !errors.As(err, &he) || he.StatusCode != 502 || he.Body != "upstream exploded" {
				t.Fatalf("raw error = %v (%T)", err, err)
			}
			if errors.As(err, &ae) {
				t.Fatal("raw error is also an *ActorError")
			}
		})
	}
}

func TestRetry(t *testing.T) {
	starting := &protocol.ErrorBody{Group: "actor", Code: "starting", Message: "starting"}
	notFound := &protocol.ErrorBody{Group: "actor", Code: "not_found", Message: "nope"}
	dropped := &protocol.ErrorBody{Group: "actor", Code: "dropped_reply", Message: "dropped"}
	ctx := testCtx(t)

	t.Run("starting then success", func(t *testing.T) {
		g := newFakeGateway(t)
		c := g.client(EncodingBARE)
		g.failHTTP(failure{status: 503, body: starting}, failure{status: 503, body: starting})
		n, err := Call[int](ctx, c.Get("counter", nil), "add", 1, 1)
		if err != nil || n != 2 {
			t.Fatalf("add = %d, %v", n, err)
		}
		if got := len(g.recordedRequests()); got != 3 {
			t.Fatalf("%d requests, want 3", got)
		}
	})
	t.Run("not_found only for getOrCreate", func(t *testing.T) {
		g := newFakeGateway(t)
		c := g.client(EncodingJSON)
		g.failHTTP(failure{status: 404, body: notFound})
		if _, err := Call[int](ctx, c.GetOrCreate("counter", nil), "add", 1); err != nil {
			t.Fatalf("getOrCreate: %v", err)
		}
		g.failHTTP(failure{status: 404, body: notFound})
		var ae *ActorError
		if err := c.Get("counter", nil).Action(ctx, "add", nil); !errors.As(err, &ae) || ae.Code != "not_found" {
			t.Fatalf("get: %v", err)
		}
		if got := len(g.recordedRequests()); got != 3 {
			t.Fatalf("%d requests, want 3", got)
		}
	})
	t.Run("no retry of user errors or dropped replies", func(t *testing.T) {
		g := newFakeGateway(t)
		c := g.client(EncodingJSON)
		g.failHTTP(failure{status: 500, body: dropped})
		if err := c.GetOrCreate("counter", nil).Action(ctx, "add", nil); err == nil {
			t.Fatal("dropped_reply succeeded")
		}
		if err := c.GetOrCreate("counter", nil).Action(ctx, "fail", nil); err == nil {
			t.Fatal("fail succeeded")
		}
		if got := len(g.recordedRequests()); got != 2 {
			t.Fatalf("%d requests, want 2", got)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		g := newFakeGateway(t)
		c := g.client(EncodingJSON, func(cfg *Config) { cfg.MaxRetries = 2 })
		for range 5 {
			g.failHTTP(failure{status: 503, body: starting})
		}
		var ae *ActorError
		if err := c.Get("counter", nil).Action(ctx, "add", nil); !errors.As(err, &ae) || ae.Code != "starting" {
			t.Fatalf("err = %v", err)
		}
		if got := len(g.recordedRequests()); got != 3 {
			t.Fatalf("%d requests, want 3", got)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		g := newFakeGateway(t)
		c := g.client(EncodingJSON, func(cfg *Config) { cfg.MaxRetries = -1 })
		g.failHTTP(failure{status: 503, body: starting})
		if err := c.Get("counter", nil).Action(ctx, "add", nil); err == nil {
			t.Fatal("no error")
		}
		if got := len(g.recordedRequests()); got != 1 {
			t.Fatalf("%d requests, want 1", got)
		}
	})
	t.Run("context", func(t *testing.T) {
		g := newFakeGateway(t)
		c := g.client(EncodingJSON, func(cfg *Config) { cfg.RetryInterval = time.Hour })
		g.failHTTP(failure{status: 503, body: starting})
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		err := c.Get("counter", nil).Action(cctx, "add", nil)
		var ae *ActorError
		if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &ae) || ae.Code != "starting" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unreachable engine", func(t *testing.T) {
		g := newFakeGateway(t)
		url := g.srv.URL
		g.srv.Close()
		c, err := New(Config{Endpoint: url, MaxRetries: 2, RetryInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Get("counter", nil).Action(ctx, "add", nil)
		if err == nil || !isDialError(err) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestREST(t *testing.T) {
	g := newFakeGateway(t)
	c := g.client(EncodingBARE, func(cfg *Config) { cfg.Token = "tok"; cfg.PoolName = "pool-a" })
	ctx := testCtx(t)

	h, err := c.Create(ctx, "counter", []string{"a/b", ""}, WithInput(42))
	if err != nil {
		t.Fatal(err)
	}
	r := g.lastRequest()
	var body createRequest
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if r.method != http.MethodPost || r.header.Get("Authorization") != "Bearer tok" || r.query.Get("namespace") != "default" {
		t.Errorf("create request %s auth %q query %v", r.method, r.header.Get("Authorization"), r.query)
	}
	if body.Name != "counter" || body.Key != protocol.SerializeKey([]string{"a/b", ""}) ||
		body.RunnerNameSelector != "pool-a" || body.CrashPolicy != "sleep" {
		t.Errorf("create body %+v", body)
	}
	if in, _ := base64.StdEncoding.DecodeString(body.Input); !bytes.Equal(in, []byte{0x18, 42}) {
		t.Errorf("input %q", body.Input)
	}
	id, err := h.Resolve(ctx)
	if err != nil || id != "actor-1" {
		t.Fatalf("resolve created = %q, %v", id, err)
	}
	if _, err := c.Create(ctx, "counter", []string{"a/b", ""}); err == nil {
		t.Fatal("duplicate create succeeded")
	}

	// Resolve by key: get finds it, getOrCreate creates a second actor.
	if id, err := c.Get("counter", []string{"a/b", ""}).Resolve(ctx); err != nil || id != "actor-1" {
		t.Fatalf("get resolve = %q, %v", id, err)
	}
	var ae *ActorError
	if _, err := c.Get("counter", []string{"x"}).Resolve(ctx); !errors.As(err, &ae) || ae.Code != "not_found" {
		t.Fatalf("get resolve of missing actor: %v", err)
	}
	if id, err := c.GetOrCreate("counter", []string{"x"}).Resolve(ctx); err != nil || id != "actor-2" {
		t.Fatalf("getOrCreate resolve = %q, %v", id, err)
	}

	list, err := c.List(ctx, "counter")
	if err != nil || len(list) != 2 {
		t.Fatalf("list = %v, %v", list, err)
	}
	for _, a := range list {
		if a.ID == "actor-1" {
			if len(a.Key) != 2 || a.Key[0] != "a/b" || a.Key[1] != "" || a.CreatedAt.UnixMilli() != 1700000000000 || !a.StartedAt.IsZero() {
				t.Errorf("actor info %+v", a)
			}
		}
	}
	if err := c.Destroy(ctx, "actor-1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Destroy(ctx, "actor-1"); !errors.As(err, &ae) || ae.Code != "not_found" || ae.StatusCode != 404 {
		t.Fatalf("second destroy: %v", err)
	}
}

func TestConfig(t *testing.T) {
	t.Setenv("RIVET_ENDPOINT", "")
	t.Setenv("RIVET_NAMESPACE", "")
	t.Setenv("RIVET_TOKEN", "")
	t.Setenv("RIVET_POOL", "")
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c.endpoint != DefaultEndpoint || c.namespace != "default" || c.encoding != EncodingBARE || c.pool != "default" {
		t.Errorf("defaults: %+v", c)
	}
	c, err = New(Config{Endpoint: "https://ns1:tok1@example.com/base/"})
	if err != nil {
		t.Fatal(err)
	}
	if c.endpoint != "https://example.com/base" || c.namespace != "ns1" || c.token != "tok1" {
		t.Errorf("from URL: %q %q %q", c.endpoint, c.namespace, c.token)
	}
	t.Setenv("RIVET_ENDPOINT", "http://env:1234")
	if c, _ := New(Config{}); c.endpoint != "http://env:1234" {
		t.Errorf("env endpoint %q", c.endpoint)
	}
	if _, err := New(Config{Encoding: "xml"}); err == nil {
		t.Error("unknown encoding accepted")
	}
	if _, err := New(Config{Endpoint: "ftp://x"}); err == nil {
		t.Error("ftp endpoint accepted")
	}
	h := c.Get("", nil)
	if err := h.Action(context.Background(), "x", nil); err == nil {
		t.Error("empty name accepted")
	}
	h = c.GetOrCreate("a", nil, WithInput(make(chan int)))
	if err := h.Action(context.Background(), "x", nil); err == nil {
		t.Error("unencodable input accepted")
	}
}

func TestFetch(t *testing.T) {
	g := newFakeGateway(t)
	c := g.client(EncodingBARE)
	ctx := testCtx(t)
	h := c.GetOrCreate("counter", []string{"k"}, WithParams("p"))

	// The body must survive a retry.
	g.failHTTP(failure{status: 503, json: true, body: &protocol.ErrorBody{Group: "actor", Code: "starting", Message: "starting"}})
	req, _ := http.NewRequest(http.MethodPost, "/foo/bar?x=1", io.NopCloser(strings.NewReader("hello")))
	req.Header.Set("X-Test", "yes")
	resp, err := h.Fetch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var echo struct {
		Method, Path, Body, Header, Params string
		Query                              map[string][]string
	}
	if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil {
		t.Fatal(err)
	}
	if echo.Method != "POST" || echo.Path != "/foo/bar" || echo.Body != "hello" || echo.Header != "yes" ||
		echo.Params != `"p"` || echo.Query["x"][0] != "1" || echo.Query["rvt-method"][0] != "getOrCreate" {
		t.Fatalf("echo = %+v", echo)
	}

	// A non-retryable error response is handed back as-is.
	g.failHTTP(failure{status: 418, text: "teapot"})
	req, _ = http.NewRequest(http.MethodGet, "/x", nil)
	resp, err = h.Fetch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 418 || string(b) != "teapot" {
		t.Fatalf("got %d %q", resp.StatusCode, b)
	}
}

func TestRawWebSocket(t *testing.T) {
	g := newFakeGateway(t)
	c := g.client(EncodingJSON)
	ctx := testCtx(t)
	ws, err := c.GetForID("counter", "actor-9").WebSocket(ctx, "/chat?room=1")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	_, data, err := ws.Read(ctx)
	if err != nil || string(data) != "echo:hi" {
		t.Fatalf("read %q, %v", data, err)
	}
	r := g.lastRequest()
	if r.path != "/gateway/actor-9/websocket/chat" || r.query.Get("room") != "1" {
		t.Errorf("request %s %v", r.path, r.query)
	}
	if p := r.header.Get("Sec-WebSocket-Protocol"); !strings.Contains(p, "rivet_encoding.bare") {
		t.Errorf("subprotocols %q", p)
	}
	ws.Close(websocket.StatusNormalClosure, "")
}
