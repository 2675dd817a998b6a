package client

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rivetkube/rivetkube/internal/protocol"
)

// fastReconnect makes reconnection quick in tests.
var fastReconnect = WithReconnect(5*time.Millisecond, 20*time.Millisecond, 0)

// callbacks records the Conn callbacks.
type callbacks struct {
	mu     sync.Mutex
	opens  int
	closes []error
	errs   []error
	errCh  chan error
	openCh chan struct{}
}

func newCallbacks() *callbacks {
	return &callbacks{errCh: make(chan error, 64), openCh: make(chan struct{}, 64)}
}

func (cb *callbacks) options() []ConnOption {
	return []ConnOption{
		WithOnOpen(func() {
			cb.mu.Lock()
			cb.opens++
			cb.mu.Unlock()
			cb.openCh <- struct{}{}
		}),
		WithOnClose(func(err error) {
			cb.mu.Lock()
			cb.closes = append(cb.closes, err)
			cb.mu.Unlock()
		}),
		WithOnError(func(err error) {
			cb.mu.Lock()
			cb.errs = append(cb.errs, err)
			cb.mu.Unlock()
			cb.errCh <- err
		}),
		fastReconnect,
	}
}

func (cb *callbacks) waitErr(t *testing.T) error {
	t.Helper()
	select {
	case err := <-cb.errCh:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for OnError")
		return nil
	}
}

func (cb *callbacks) waitOpen(t *testing.T) {
	t.Helper()
	select {
	case <-cb.openCh:
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for OnOpen")
	}
}

// eventSink collects events delivered to a listener.
type eventSink chan []any

func (s eventSink) listener(t *testing.T) func(RawArgs) {
	return func(a RawArgs) {
		vals := make([]any, a.Len())
		for i := range vals {
			if err := a.Decode(i, &vals[i]); err != nil {
				t.Errorf("decode arg %d: %v", i, err)
			}
		}
		s <- vals
	}
}

func (s eventSink) wait(t *testing.T) []any {
	t.Helper()
	select {
	case v := <-s:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for an event")
		return nil
	}
}

func (s eventSink) none(t *testing.T) {
	t.Helper()
	select {
	case v := <-s:
		t.Fatalf("unexpected event %v", v)
	case <-time.After(50 * time.Millisecond):
	}
}

// connGoroutines counts the goroutines of Conns.
func connGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "client.(*Conn).run(") || strings.Contains(g, "client.(*Conn).dispatch(") {
			n++
		}
	}
	return n
}

func waitNoConnGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for connGoroutines() > 0 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("conn goroutines left:\n%s", buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConnBasics(t *testing.T) {
	for _, enc := range encodings {
		t.Run(string(enc), func(t *testing.T) {
			g := newFakeGateway(t)
			g.initDelay = 50 * time.Millisecond
			c := g.client(enc)
			ctx := testCtx(t)
			cb := newCallbacks()
			conn, err := c.GetOrCreate("counter", []string{"k"}, WithParams(map[string]string{"user": "ann"})).Connect(ctx, cb.options()...)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Connect returns only once Init arrived.
			if conn.ConnectionID() != "conn-1" || conn.ActorID() != "actor-1" {
				t.Fatalf("ids %q %q", conn.ConnectionID(), conn.ActorID())
			}
			fc := g.waitConn(t)
			cb.waitOpen(t)

			r := g.lastRequest()
			if r.path != "/gateway/counter/connect" || r.query.Get("rvt-method") != "getOrCreate" {
				t.Errorf("connect request %s %v", r.path, r.query)
			}
			protos := r.header.Get("Sec-WebSocket-Protocol")
			for _, p := range []string{"rivet", "rivet_encoding." + string(enc), "rivet_conn_params.%7B%22user%22%3A%22ann%22%7D"} {
				if !strings.Contains(protos, p) {
					t.Errorf("subprotocols %q lack %q", protos, p)
				}
			}
			if fc.params != `{"user":"ann"}` {
				t.Errorf("server saw params %q", fc.params)
			}

			// Actions, concurrently.
			var wg sync.WaitGroup
			for i := range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n, err := Call[int](ctx, conn, "add", i, 100)
					if err != nil || n != i+100 {
						t.Errorf("add(%d) = %d, %v", i, n, err)
					}
				}()
			}
			wg.Wait()

			// An action error rejects only that call.
			var ae *ActorError
			if err := conn.Action(ctx, "fail", nil); !errors.As(err, &ae) || ae.Code != "my_code" || ae.ActorID != "actor-1" {
				t.Fatalf("fail: %v", err)
			} else {
				var md map[string]int
				if err := ae.DecodeMetadata(&md); err != nil || md["a"] != 1 {
					t.Fatalf("metadata %v %v", md, err)
				}
			}
			if err := conn.Action(ctx, "nope", nil); !errors.As(err, &ae) || ae.Code != "action_not_found" {
				t.Fatalf("nope: %v", err)
			}

			// Subscribe: one message for the first listener only.
			s1, s2 := make(eventSink, 16), make(eventSink, 16)
			un1 := conn.On("newCount", s1.listener(t))
			if sub := fc.waitSub(t); sub.EventName != "newCount" || !sub.Subscribe {
				t.Fatalf("subscription %+v", sub)
			}
			un2 := conn.On("newCount", s2.listener(t))
			fc.event("newCount", 6, "six")
			fc.event("other", 1)
			for _, s := range []eventSink{s1, s2} {
				if got := s.wait(t); len(got) != 2 || got[0] != int64(6) || got[1] != "six" {
					t.Fatalf("event args %#v", got)
				}
			}
			un1()
			un1() // idempotent
			fc.event("newCount", 7)
			if got := s2.wait(t); got[0] != int64(7) {
				t.Fatalf("event %v", got)
			}
			s1.none(t)
			un2()
			if sub := fc.waitSub(t); sub.EventName != "newCount" || sub.Subscribe {
				t.Fatalf("unsubscription %+v", sub)
			}
			select {
			case sub := <-fc.subCh:
				t.Fatalf("extra subscription message %+v", sub)
			default:
			}

			if err := conn.Close(); err != nil {
				t.Fatal(err)
			}
			if err := conn.Action(ctx, "add", nil); !errors.Is(err, ErrConnClosed) {
				t.Fatalf("action after close: %v", err)
			}
			select {
			case <-conn.Done():
			default:
				t.Fatal("Done not closed")
			}
			waitNoConnGoroutines(t)
		})
	}
}

func TestConnConnectionLevelError(t *testing.T) {
	g := newFakeGateway(t)
	c := g.client(EncodingBARE)
	ctx := testCtx(t)
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	g.setAction("slow", func(ctx context.Context, _ []any) (any, *protocol.ErrorBody) {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return 1, nil
	})
	defer close(release)
	cb := newCallbacks()
	conn, err := c.Get("counter", nil).Connect(ctx, cb.options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fc := g.waitConn(t)

	errc := make(chan error, 1)
	go func() { errc <- conn.Action(ctx, "slow", nil) }()
	<-started
	fc.send(protocol.ToClient{Error: &protocol.ErrorMessage{
		Group: "conn", Code: "kicked", Message: "bye", Metadata: mustCBOR(t, "m"),
	}})
	var ae *ActorError
	if err := <-errc; !errors.As(err, &ae) || ae.Code != "kicked" {
		t.Fatalf("in-flight call: %v", err)
	}
	if err := cb.waitErr(t); !errors.As(err, &ae) || ae.Group != "conn" || ae.Code != "kicked" {
		t.Fatalf("OnError: %v", err)
	}
	// The connection stays usable.
	if n, err := Call[int](ctx, conn, "add", 2); err != nil || n != 2 {
		t.Fatalf("after error: %d %v", n, err)
	}
}

func TestConnReconnect(t *testing.T) {
	for _, enc := range encodings {
		t.Run(string(enc), func(t *testing.T) {
			g := newFakeGateway(t)
			c := g.client(enc)
			ctx := testCtx(t)
			started := make(chan struct{}, 1)
			g.setAction("slow", func(ctx context.Context, _ []any) (any, *protocol.ErrorBody) {
				started <- struct{}{}
				<-ctx.Done()
				return nil, nil
			})
			cb := newCallbacks()
			conn, err := c.GetOrCreate("counter", nil).Connect(ctx, cb.options()...)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fc1 := g.waitConn(t)
			cb.waitOpen(t)

			sink := make(eventSink, 16)
			conn.On("tick", sink.listener(t))
			conn.On("tock", func(RawArgs) {})
			fc1.waitSub(t)
			fc1.waitSub(t)

			errc := make(chan error, 1)
			go func() { errc <- conn.Action(ctx, "slow", nil) }()
			<-started

			// The server drops the socket without a close handshake.
			fc1.ws.CloseNow()
			err = <-errc
			if !errors.Is(err, ErrConnectionLost) {
				t.Fatalf("in-flight call: %v", err)
			}

			fc2 := g.waitConn(t)
			got := map[string]bool{}
			for range 2 {
				sub := fc2.waitSub(t)
				got[sub.EventName] = sub.Subscribe
			}
			if !got["tick"] || !got["tock"] {
				t.Fatalf("resubscribed %v", got)
			}
			cb.waitOpen(t)
			if conn.ConnectionID() != "conn-2" {
				t.Errorf("connection id %q", conn.ConnectionID())
			}
			fc2.event("tick", 1)
			if v := sink.wait(t); v[0] != int64(1) {
				t.Fatalf("event %v", v)
			}
			if n, err := Call[int](ctx, conn, "add", 4); err != nil || n != 4 {
				t.Fatalf("after reconnect: %d %v", n, err)
			}
			cb.mu.Lock()
			closes := len(cb.closes)
			cb.mu.Unlock()
			if closes != 1 {
				t.Errorf("OnClose ran %d times", closes)
			}
		})
	}
}

func TestConnCloseReason(t *testing.T) {
	g := newFakeGateway(t)
	c := g.client(EncodingCBOR)
	ctx := testCtx(t)
	cb := newCallbacks()
	conn, err := c.GetOrCreate("counter", nil).Connect(ctx, cb.options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fc := g.waitConn(t)
	fc.ws.Close(websocket.StatusGoingAway, "actor.stopping#ray-9")

	var ae *ActorError
	if err := cb.waitErr(t); !errors.As(err, &ae) || ae.Group != "actor" || ae.Code != "stopping" || ae.RayID != "ray-9" {
		t.Fatalf("OnError: %v", err)
	}
	g.waitConn(t) // reconnected
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if len(cb.closes) != 1 || !errors.As(cb.closes[0], &ae) {
		t.Fatalf("OnClose: %v", cb.closes)
	}
}

func TestConnGivesUp(t *testing.T) {
	g := newFakeGateway(t)
	c := g.client(EncodingJSON)
	ctx := testCtx(t)
	cb := newCallbacks()
	conn, err := c.Get("counter", nil).Connect(ctx, cb.options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fc := g.waitConn(t)

	// Reconnecting finds the actor gone: retrying cannot help.
	g.failConnect(failure{status: 503, text: "busy"}, failure{status: 404, json: true, body: &protocol.ErrorBody{Group: "actor", Code: "not_found", Message: "gone"}})
	fc.ws.CloseNow()

	select {
	case <-conn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("conn did not give up")
	}
	var ae *ActorError
	if err := conn.Err(); !errors.Is(err, ErrConnClosed) || !errors.As(err, &ae) || ae.Code != "not_found" {
		t.Fatalf("Err = %v", err)
	}
	if err := conn.Action(ctx, "add", nil); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("action: %v", err)
	}
	// The final error reaches OnError.
	deadline := time.After(5 * time.Second)
	for {
		select {
		case err := <-cb.errCh:
			if errors.Is(err, ErrConnClosed) {
				waitNoConnGoroutines(t)
				return
			}
		case <-deadline:
			t.Fatal("no final OnError")
		}
	}
}

func TestConnWaitsWhileDisconnected(t *testing.T) {
	g := newFakeGateway(t)
	c := g.client(EncodingBARE)
	ctx := testCtx(t)
	conn, err := c.GetOrCreate("counter", nil).Connect(ctx, WithReconnect(200*time.Millisecond, 200*time.Millisecond, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fc := g.waitConn(t)
	fc.ws.CloseNow()
	// Wait until the client noticed.
	for conn.ConnectionID() != "" {
		time.Sleep(time.Millisecond)
	}
	// A call made while disconnected waits for the new connection.
	n, err := Call[int](ctx, conn, "add", 3)
	if err != nil || n != 3 {
		t.Fatalf("add = %d, %v", n, err)
	}
	if conn.ConnectionID() != "conn-2" {
		t.Errorf("connection id %q", conn.ConnectionID())
	}
	// Its context bounds the wait.
	fc2 := g.waitConn(t)
	fc2.ws.CloseNow()
	for conn.ConnectionID() != "" {
		time.Sleep(time.Millisecond)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := conn.Action(cctx, "add", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestConnSlowListener(t *testing.T) {
	g := newFakeGateway(t)
	c := g.client(EncodingBARE)
	ctx := testCtx(t)
	cb := newCallbacks()
	conn, err := c.GetOrCreate("counter", nil).Connect(ctx, append(cb.options(), WithEventQueueSize(3))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fc := g.waitConn(t)
	cb.waitOpen(t)

	block := make(chan struct{})
	var mu sync.Mutex
	var got []int
	conn.On("e", func(a RawArgs) {
		<-block
		var v int
		a.Decode(0, &v)
		mu.Lock()
		got = append(got, v)
		mu.Unlock()
	})
	fc.waitSub(t)
	for i := range 20 {
		fc.event("e", i)
	}
	// The read loop is not blocked: actions still complete.
	if n, err := Call[int](ctx, conn, "add", 1); err != nil || n != 1 {
		t.Fatalf("add = %d, %v", n, err)
	}
	close(block)
	if err := cb.waitErr(t); !errors.Is(err, ErrEventsDropped) {
		t.Fatalf("OnError: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(got) < 3 || len(got) >= 20 {
		t.Fatalf("delivered %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("out of order: %v", got)
		}
	}
}

func TestConnCloseNoLeaks(t *testing.T) {
	g := newFakeGateway(t)
	c := g.client(EncodingBARE)
	ctx := testCtx(t)
	g.setAction("slow", func(ctx context.Context, _ []any) (any, *protocol.ErrorBody) {
		<-ctx.Done()
		return nil, nil
	})
	for range 3 {
		conn, err := c.GetOrCreate("counter", nil).Connect(ctx, fastReconnect)
		if err != nil {
			t.Fatal(err)
		}
		g.waitConn(t)
		conn.On("x", func(RawArgs) {})
		errc := make(chan error, 1)
		go func() { errc <- conn.Action(ctx, "slow", nil) }()
		time.Sleep(20 * time.Millisecond)
		conn.Close()
		if err := <-errc; !errors.Is(err, ErrConnClosed) {
			t.Fatalf("in-flight call after Close: %v", err)
		}
		conn.Close() // idempotent
	}

	// Close during reconnection, and Close from inside a listener.
	conn, err := c.GetOrCreate("counter", nil).Connect(ctx, WithReconnect(time.Hour, time.Hour, 0))
	if err != nil {
		t.Fatal(err)
	}
	g.waitConn(t).ws.CloseNow()
	for conn.ConnectionID() != "" {
		time.Sleep(time.Millisecond)
	}
	conn.Close()

	conn, err = c.GetOrCreate("counter", nil).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fc := g.waitConn(t)
	closed := make(chan struct{})
	conn.On("bye", func(RawArgs) { conn.Close(); close(closed) })
	fc.waitSub(t)
	fc.event("bye")
	<-closed

	waitNoConnGoroutines(t)
}

func TestConnConnectErrors(t *testing.T) {
	g := newFakeGateway(t)
	c := g.client(EncodingBARE)
	ctx := testCtx(t)

	// Retried like actions while the actor starts.
	g.failConnect(failure{status: 503, body: &protocol.ErrorBody{Group: "actor", Code: "starting", Message: "wait"}})
	conn, err := c.GetOrCreate("counter", nil).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()

	g.failConnect(failure{status: 403, json: true, body: &protocol.ErrorBody{Group: "auth", Code: "forbidden", Message: "no"}})
	_, err = c.GetOrCreate("counter", nil).Connect(ctx)
	var ae *ActorError
	if !errors.As(err, &ae) || ae.Code != "forbidden" || ae.StatusCode != 403 {
		t.Fatalf("err = %v", err)
	}
	waitNoConnGoroutines(t)
}
