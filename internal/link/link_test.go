package link

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/latch"
	"github.com/rivetkube/rivetkube/internal/protocol"
)

func TestActionRoundTrip(t *testing.T) {
	userErr := &errs.Error{Group: "user", Code: "nope", Message: "not allowed", Metadata: []byte{0xa1, 0x61, 0x6b, 0x01}, Status: 400}
	tests := []struct {
		name    string
		req     hostapi.ActionRequest
		out     []byte
		err     error
		wantOut []byte
		wantErr *errs.Error
	}{
		{name: "output", req: hostapi.ActionRequest{ActorID: "a1", Generation: 7, Name: "inc", Args: []byte{0x81, 0x01}},
			out: []byte{0x02}, wantOut: []byte{0x02}},
		{name: "conn params", req: hostapi.ActionRequest{ActorID: "a1", Name: "who", Args: []byte{0x80}, ConnParams: []byte{0xa0}},
			out: []byte{0x61, 0x78}, wantOut: []byte{0x61, 0x78}},
		{name: "user error with metadata", req: hostapi.ActionRequest{ActorID: "a2", Name: "fail", Args: []byte{0x80}},
			err: userErr, wantErr: userErr},
		{name: "wrapped errs.Error", req: hostapi.ActionRequest{ActorID: "a2", Name: "fail", Args: []byte{0x80}},
			err: fmt.Errorf("ctx: %w", errs.ActionNotFound("x")), wantErr: errs.ActionNotFound("x")},
		{name: "plain error is masked", req: hostapi.ActionRequest{ActorID: "a3", Name: "boom", Args: []byte{0x80}},
			err: errors.New("secret database detail"), wantErr: errs.Internal()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gotc := make(chan hostapi.ActionRequest, 1)
			h := &fakeHost{action: func(_ context.Context, req hostapi.ActionRequest) ([]byte, error) {
				gotc <- req
				return tc.out, tc.err
			}}
			p := newPair(t, h, ServerOptions{}, DialOptions{}, nil)
			out, err := p.client.Action(testCtx(t), tc.req)
			if got := recvOrFail(t, gotc, "host call"); !equalReq(got, tc.req) {
				t.Errorf("host got %+v, want %+v", got, tc.req)
			}
			if tc.wantErr == nil {
				if err != nil || !bytes.Equal(out, tc.wantOut) {
					t.Fatalf("Action = %x, %v; want %x", out, err, tc.wantOut)
				}
				return
			}
			var e *errs.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *errs.Error", err, err)
			}
			if e.Group != tc.wantErr.Group || e.Code != tc.wantErr.Code || e.Message != tc.wantErr.Message ||
				!bytes.Equal(e.Metadata, tc.wantErr.Metadata) || e.Status != tc.wantErr.Status {
				t.Fatalf("error = %#v, want %#v", e, tc.wantErr)
			}
		})
	}
}

func equalReq(a, b hostapi.ActionRequest) bool {
	return a.ActorID == b.ActorID && a.Generation == b.Generation && a.Name == b.Name &&
		bytes.Equal(a.Args, b.Args) && bytes.Equal(a.ConnParams, b.ConnParams) && (a.ConnParams == nil) == (b.ConnParams == nil)
}

func TestConcurrentActions(t *testing.T) {
	h := &fakeHost{action: func(_ context.Context, req hostapi.ActionRequest) ([]byte, error) {
		return append([]byte(req.ActorID+":"), req.Args...), nil
	}}
	p := newPair(t, h, ServerOptions{}, DialOptions{}, nil)
	ctx := testCtx(t)
	const n = 1000
	errc := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("actor-%d", i)
			args := []byte(strings.Repeat("x", i%97))
			out, err := p.client.Action(ctx, hostapi.ActionRequest{ActorID: id, Name: "echo", Args: args})
			if err != nil {
				errc <- err
				return
			}
			if want := append([]byte(id+":"), args...); !bytes.Equal(out, want) {
				errc <- fmt.Errorf("%s got %q", id, out)
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func TestMaxConcurrent(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	h := &fakeHost{action: func(ctx context.Context, req hostapi.ActionRequest) ([]byte, error) {
		started <- struct{}{}
		<-release
		return []byte{0x01}, nil
	}}
	p := newPair(t, h, ServerOptions{MaxConcurrent: 2}, DialOptions{}, nil)
	ctx := testCtx(t)
	res := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := p.client.Action(ctx, hostapi.ActionRequest{ActorID: "a", Name: "block"})
			res <- err
		}()
	}
	recvOrFail(t, started, "first call")
	recvOrFail(t, started, "second call")
	_, err := p.client.Action(ctx, hostapi.ActionRequest{ActorID: "a", Name: "third"})
	if !errors.Is(err, errs.Overloaded("")) {
		t.Fatalf("third call: %v, want actor/overloaded", err)
	}
	close(release)
	for range 2 {
		if err := recvOrFail(t, res, "blocked call"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConnect(t *testing.T) {
	const events = 500
	type opened struct {
		req  hostapi.ConnectRequest
		hc   *hostConn
		sink hostapi.Sink
	}
	conns := make(chan opened, 1)
	h := &fakeHost{connect: func(_ context.Context, req hostapi.ConnectRequest, sink hostapi.Sink) (hostapi.Conn, error) {
		if req.ActorID == "refuse" {
			return nil, errors.New("plain error")
		}
		hc := newHostConn("conn-1")
		conns <- opened{req, hc, sink}
		// Init may leave before Connect returns, as in the runtime.
		sink.Send(protocol.ToClient{Init: &protocol.Init{ActorID: req.ActorID, ConnectionID: hc.id}})
		return hc, nil
	}}
	p := newPair(t, h, ServerOptions{}, DialOptions{}, nil)
	ctx := testCtx(t)

	t.Run("events in order, receive, close from gateway", func(t *testing.T) {
		sink := newRecvSink()
		conn, err := p.client.Connect(ctx, hostapi.ConnectRequest{ActorID: "room", Generation: 3, Params: []byte{0xa0}}, sink)
		if err != nil {
			t.Fatal(err)
		}
		o := recvOrFail(t, conns, "host Connect")
		hc, runnerSink := o.hc, o.sink
		if conn.ID() != "conn-1" || o.req.ActorID != "room" || o.req.Generation != 3 || !bytes.Equal(o.req.Params, []byte{0xa0}) {
			t.Fatalf("conn %q, host got %+v", conn.ID(), o.req)
		}
		id := uint64(9)
		key := "k"
		for i := range events {
			runnerSink.Send(protocol.ToClient{Event: &protocol.Event{Name: "tick", Args: []byte{0x81, byte(i % 24)}}})
			if i == 10 {
				runnerSink.Send(protocol.ToClient{Error: &protocol.ErrorMessage{Group: "user", Code: "c", Message: "m", Metadata: []byte{0xf6},
					ActionID: &id, Actor: &protocol.ActorSpecifier{ActorID: "room", Generation: 3, Key: &key}}})
				runnerSink.Send(protocol.ToClient{ActionResponse: &protocol.ActionResponse{ID: 9, Output: []byte{0x07}}})
			}
		}
		sink.waitFor(t, "events", func() bool { return len(sink.msgs) == events+3 })
		sink.mu.Lock()
		msgs := sink.msgs
		sink.mu.Unlock()
		if msgs[0].Init == nil || msgs[0].Init.ConnectionID != "conn-1" || msgs[0].Init.ActorID != "room" {
			t.Fatalf("first message %+v, want Init", msgs[0])
		}
		ev := 0
		for _, m := range msgs[1:] {
			switch {
			case m.Event != nil:
				if m.Event.Name != "tick" || m.Event.Args[1] != byte(ev%24) {
					t.Fatalf("event %d out of order: %+v", ev, m.Event)
				}
				ev++
			case m.Error != nil:
				e := m.Error
				if ev != 11 || e.Code != "c" || *e.ActionID != 9 || e.Actor == nil || *e.Actor.Key != "k" || e.Actor.Generation != 3 || !bytes.Equal(e.Metadata, []byte{0xf6}) {
					t.Fatalf("error message %+v after %d events", e, ev)
				}
			case m.ActionResponse != nil:
				if m.ActionResponse.ID != 9 || !bytes.Equal(m.ActionResponse.Output, []byte{0x07}) {
					t.Fatalf("action response %+v", m.ActionResponse)
				}
			default:
				t.Fatalf("empty message")
			}
		}

		conn.Receive(protocol.ToServer{Subscription: &protocol.SubscriptionRequest{EventName: "tick", Subscribe: true}})
		for i := range 100 {
			conn.Receive(protocol.ToServer{Action: &protocol.ActionRequest{ID: uint64(i), Name: "say", Args: []byte{0x80}}})
		}
		got := hc.waitMsgs(t, 101)
		if s := got[0].Subscription; s == nil || s.EventName != "tick" || !s.Subscribe {
			t.Fatalf("first Receive %+v", got[0])
		}
		for i, m := range got[1:] {
			if m.Action == nil || m.Action.ID != uint64(i) || m.Action.Name != "say" {
				t.Fatalf("Receive %d out of order: %+v", i, m)
			}
		}

		conn.Close()
		recvOrFail(t, hc.closed, "host Conn.Close")
		if runnerSink.Send(protocol.ToClient{Event: &protocol.Event{Name: "late"}}) {
			t.Fatal("runner Sink.Send after the gateway closed returned true")
		}
	})

	t.Run("close from the actor", func(t *testing.T) {
		sink := newRecvSink()
		conn, err := p.client.Connect(ctx, hostapi.ConnectRequest{ActorID: "room"}, sink)
		if err != nil {
			t.Fatal(err)
		}
		o := recvOrFail(t, conns, "host Connect")
		hc, runnerSink := o.hc, o.sink
		runnerSink.Send(protocol.ToClient{Event: &protocol.Event{Name: "bye"}})
		runnerSink.Close(errs.New(200, "actor", "disconnected", "kicked"))
		recvOrFail(t, sink.done, "gateway sink Close")
		var e *errs.Error
		if !errors.As(sink.err, &e) || e.Code != "disconnected" || e.Message != "kicked" {
			t.Fatalf("sink closed with %v", sink.err)
		}
		if len(sink.msgs) != 2 || sink.msgs[1].Event == nil { // Init, bye
			t.Fatalf("messages before close: %+v", sink.msgs)
		}
		if runnerSink.Send(protocol.ToClient{Event: &protocol.Event{Name: "late"}}) {
			t.Fatal("Send after Close returned true")
		}
		conn.Close() // the gateway always closes; the host sees it
		recvOrFail(t, hc.closed, "host Conn.Close")
	})

	t.Run("normal close from the actor", func(t *testing.T) {
		sink := newRecvSink()
		conn, err := p.client.Connect(ctx, hostapi.ConnectRequest{ActorID: "room"}, sink)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		recvOrFail(t, conns, "host Connect").sink.Close(nil)
		recvOrFail(t, sink.done, "gateway sink Close")
		if sink.err != nil {
			t.Fatalf("normal close reported %v", sink.err)
		}
	})

	t.Run("connect refused", func(t *testing.T) {
		_, err := p.client.Connect(ctx, hostapi.ConnectRequest{ActorID: "refuse"}, newRecvSink())
		if !errors.Is(err, errs.Internal()) {
			t.Fatalf("Connect = %v, want internal error", err)
		}
	})
}

func TestRequest(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		target     string
		body       string
		header     http.Header
		handler    func(w http.ResponseWriter, r *http.Request) error
		wantStatus int
		wantBody   string
		wantHeader http.Header
		wantErr    *errs.Error
	}{
		{
			name: "post with headers and body", method: "POST", target: "/items/1?x=1&y=%20z&x=2", body: "hello",
			header: http.Header{"X-Custom": {"a", "b"}, "Content-Type": {"text/plain"}},
			handler: func(w http.ResponseWriter, r *http.Request) error {
				b, _ := io.ReadAll(r.Body)
				if r.Method != "POST" || r.URL.Path != "/items/1" || r.URL.RawQuery != "x=1&y=%20z&x=2" ||
					strings.Join(r.Header.Values("X-Custom"), ",") != "a,b" || string(b) != "hello" || r.ContentLength != 5 || r.Host != "actor.example" {
					return errs.InvalidRequest("runner got %s %s?%s %v %q host %q", r.Method, r.URL.Path, r.URL.RawQuery, r.Header, b, r.Host)
				}
				w.Header().Set("X-Reply", "yes")
				w.Header().Add("Set-Cookie", "a=1")
				w.Header().Add("Set-Cookie", "b=2")
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write([]byte("created "))
				_, _ = w.Write(b)
				return nil
			},
			wantStatus: 201, wantBody: "created hello",
			wantHeader: http.Header{"X-Reply": {"yes"}, "Set-Cookie": {"a=1", "b=2"}},
		},
		{
			name: "get, implicit 200", method: "GET", target: "/",
			handler: func(w http.ResponseWriter, r *http.Request) error {
				if r.ContentLength != 0 {
					return errs.InvalidRequest("content length %d", r.ContentLength)
				}
				_, _ = w.Write([]byte("ok"))
				return nil
			},
			wantStatus: 200, wantBody: "ok",
		},
		{
			name: "host error", method: "GET", target: "/missing",
			handler: func(w http.ResponseWriter, r *http.Request) error {
				return errs.New(404, "actor", "request_handler_not_found", "none")
			},
			wantErr: errs.New(404, "actor", "request_handler_not_found", "none"),
		},
		{
			name: "request body over the limit", method: "PUT", target: "/big", body: strings.Repeat("b", 1025),
			handler: func(w http.ResponseWriter, r *http.Request) error { return nil },
			wantErr: errs.IncomingTooLong(1024),
		},
		{
			name: "response over the limit", method: "GET", target: "/huge",
			handler: func(w http.ResponseWriter, r *http.Request) error {
				_, _ = w.Write(bytes.Repeat([]byte("r"), 1025))
				return nil
			},
			wantErr: errs.OutgoingTooLong(1024),
		},
	}
	var mu sync.Mutex
	var handler func(w http.ResponseWriter, r *http.Request) error
	var gotTarget hostapi.Target
	h := &fakeHost{request: func(_ context.Context, tg hostapi.Target, w http.ResponseWriter, r *http.Request) error {
		mu.Lock()
		gotTarget = tg
		fn := handler
		mu.Unlock()
		return fn(w, r)
	}}
	p := newPair(t, h, ServerOptions{MaxBodySize: 1024}, DialOptions{MaxBodySize: 1024}, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			handler = tc.handler
			mu.Unlock()
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			r.Host = "actor.example"
			for k, v := range tc.header {
				r.Header[k] = v
			}
			w := httptest.NewRecorder()
			err := p.client.Request(testCtx(t), hostapi.Target{ActorID: "a", Generation: 5}, w, r)
			if tc.wantErr != nil {
				var e *errs.Error
				if !errors.As(err, &e) || e.Code != tc.wantErr.Code || e.Status != tc.wantErr.Status || e.Message != tc.wantErr.Message {
					t.Fatalf("Request = %v, want %v", err, tc.wantErr)
				}
				if w.Body.Len() != 0 {
					t.Fatalf("an error wrote a body: %q", w.Body.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			tg := gotTarget
			mu.Unlock()
			if tg != (hostapi.Target{ActorID: "a", Generation: 5}) {
				t.Fatalf("target %+v", tg)
			}
			if w.Code != tc.wantStatus || w.Body.String() != tc.wantBody {
				t.Fatalf("response %d %q, want %d %q", w.Code, w.Body.String(), tc.wantStatus, tc.wantBody)
			}
			for k, v := range tc.wantHeader {
				if got := w.Header()[k]; strings.Join(got, "|") != strings.Join(v, "|") {
					t.Fatalf("header %s = %v, want %v", k, got, v)
				}
			}
			// The body can be read again (a router may retry the call).
			if b, _ := io.ReadAll(r.Body); string(b) != tc.body {
				t.Fatalf("body after the call: %q", b)
			}
		})
	}
}

func TestWebSocket(t *testing.T) {
	type hostSide struct {
		req *http.Request
		err error // what Read returned last
	}
	hostDone := make(chan hostSide, 1)
	h := &fakeHost{websocket: func(ctx context.Context, tg hostapi.Target, r *http.Request, ws hostapi.MessageConn) error {
		if tg.ActorID != "ws-actor" {
			return errs.NotFound()
		}
		for {
			binary, data, err := ws.Read(ctx)
			if err != nil {
				hostDone <- hostSide{req: r, err: err}
				return nil
			}
			if string(data) == "bye" {
				_ = ws.Write(ctx, false, []byte("see you"))
				_ = ws.Close(4000, "bye bye")
				hostDone <- hostSide{req: r}
				return nil
			}
			if err := ws.Write(ctx, binary, data); err != nil {
				return err
			}
		}
	}}
	p := newPair(t, h, ServerOptions{}, DialOptions{}, nil)
	ctx := testCtx(t)

	open := func(t *testing.T) (*clientWS, chan error) {
		cw := newClientWS()
		r := httptest.NewRequest("GET", "/chat/room?x=1&y=2", nil)
		r.Header.Set("X-Who", "me")
		res := make(chan error, 1)
		go func() { res <- p.client.WebSocket(ctx, hostapi.Target{ActorID: "ws-actor"}, r, cw) }()
		return cw, res
	}
	echo := func(t *testing.T, cw *clientWS) {
		msgs := []wsIn{{false, []byte("hello")}, {true, []byte{0, 1, 2, 0xff}}, {false, []byte("")}, {true, bytes.Repeat([]byte{7}, 100_000)}}
		for i := range 3 { // more than one credit window
			for _, m := range msgs {
				cw.in <- m
				got := recvOrFail(t, cw.out, fmt.Sprintf("echo %d", i))
				if got.binary != m.binary || !bytes.Equal(got.data, m.data) {
					t.Fatalf("echo %v %q, want %v %q", got.binary, got.data, m.binary, m.data)
				}
			}
			for range wsWindow {
				cw.in <- wsIn{false, []byte("x")}
				recvOrFail(t, cw.out, "burst echo")
			}
		}
	}

	t.Run("echo, client closes", func(t *testing.T) {
		cw, res := open(t)
		echo(t, cw)
		cw.hangUp(websocket.StatusNormalClosure, "done")
		hs := recvOrFail(t, hostDone, "host WebSocket return")
		var ce websocket.CloseError
		if !errors.As(hs.err, &ce) || ce.Code != websocket.StatusNormalClosure || ce.Reason != "done" {
			t.Fatalf("host Read error %v, want close 1000 done", hs.err)
		}
		if hs.req.URL.Path != "/chat/room" || hs.req.URL.RawQuery != "x=1&y=2" || hs.req.Header.Get("X-Who") != "me" || hs.req.Method != "GET" {
			t.Fatalf("host request %s %s?%s %v", hs.req.Method, hs.req.URL.Path, hs.req.URL.RawQuery, hs.req.Header)
		}
		if err := recvOrFail(t, res, "WebSocket return"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("echo, actor closes", func(t *testing.T) {
		cw, res := open(t)
		echo(t, cw)
		cw.in <- wsIn{false, []byte("bye")}
		if err := recvOrFail(t, res, "WebSocket return"); err != nil {
			t.Fatal(err)
		}
		got := recvOrFail(t, cw.out, "last message")
		if string(got.data) != "see you" {
			t.Fatalf("last message %q", got.data)
		}
		select {
		case <-cw.closed:
		default:
			t.Fatal("client socket not closed before WebSocket returned")
		}
		if cw.code != 4000 || cw.reason != "bye bye" {
			t.Fatalf("client closed with %d %q", cw.code, cw.reason)
		}
		recvOrFail(t, hostDone, "host return")
	})

	t.Run("host refuses", func(t *testing.T) {
		cw := newClientWS()
		cw.in <- wsIn{false, []byte("must not be consumed")}
		err := p.client.WebSocket(ctx, hostapi.Target{ActorID: "other"}, httptest.NewRequest("GET", "/", nil), cw)
		if !errors.Is(err, errs.NotFound()) {
			t.Fatalf("WebSocket = %v, want not_found", err)
		}
		if len(cw.in) != 1 {
			t.Fatal("a message was read from the client before the actor accepted the socket")
		}
	})
}

func TestDestroyStop(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	h := &fakeHost{
		destroy: func(_ context.Context, tg hostapi.Target) error {
			mu.Lock()
			calls = append(calls, fmt.Sprintf("destroy %s %d", tg.ActorID, tg.Generation))
			mu.Unlock()
			if tg.ActorID == "gone" {
				return errs.NotFound()
			}
			return nil
		},
		stop: func(_ context.Context, tg hostapi.Target) error {
			mu.Lock()
			calls = append(calls, fmt.Sprintf("stop %s %d", tg.ActorID, tg.Generation))
			mu.Unlock()
			if tg.Generation == 99 {
				return errs.Stale()
			}
			return nil
		},
	}
	p := newPair(t, h, ServerOptions{}, DialOptions{}, nil)
	tests := []struct {
		name     string
		call     func(context.Context, hostapi.Target) error
		target   hostapi.Target
		wantErr  error
		wantCall string
	}{
		{"destroy", p.client.Destroy, hostapi.Target{ActorID: "a", Generation: 2}, nil, "destroy a 2"},
		{"destroy not found", p.client.Destroy, hostapi.Target{ActorID: "gone"}, errs.NotFound(), "destroy gone 0"},
		{"stop", p.client.Stop, hostapi.Target{ActorID: "b", Generation: 4}, nil, "stop b 4"},
		{"stop stale", p.client.Stop, hostapi.Target{ActorID: "b", Generation: 99}, errs.Stale(), "stop b 99"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			calls = nil
			mu.Unlock()
			err := tc.call(testCtx(t), tc.target)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(calls) != 1 || calls[0] != tc.wantCall {
				t.Fatalf("host calls %v, want %q", calls, tc.wantCall)
			}
		})
	}
}

func TestCancelReachesHost(t *testing.T) {
	type seen struct {
		err         error
		hasDeadline bool
	}
	entered := make(chan bool, 1)
	cancelled := make(chan seen, 1)
	h := &fakeHost{action: func(ctx context.Context, req hostapi.ActionRequest) ([]byte, error) {
		_, ok := ctx.Deadline()
		entered <- ok
		<-ctx.Done()
		cancelled <- seen{err: ctx.Err()}
		return nil, errs.ActionTimedOut()
	}}
	p := newPair(t, h, ServerOptions{}, DialOptions{}, nil)

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(testCtx(t))
		res := make(chan error, 1)
		go func() {
			_, err := p.client.Action(ctx, hostapi.ActionRequest{ActorID: "a", Name: "slow"})
			res <- err
		}()
		if recvOrFail(t, entered, "host call") != true {
			t.Fatal("host ctx has no deadline though the test ctx has one")
		}
		cancel()
		if err := recvOrFail(t, res, "Action return"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Action = %v, want context.Canceled", err)
		}
		if s := recvOrFail(t, cancelled, "host ctx cancelled"); !errors.Is(s.err, context.Canceled) {
			t.Fatalf("host ctx ended with %v", s.err)
		}
	})

	t.Run("deadline travels", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := p.client.Action(ctx, hostapi.ActionRequest{ActorID: "a", Name: "slow"})
		recvOrFail(t, entered, "host call")
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, errs.ActionTimedOut()) {
			t.Fatalf("Action = %v", err)
		}
		if s := recvOrFail(t, cancelled, "host ctx ended"); s.err == nil {
			t.Fatal("host ctx did not end")
		}
	})
}

func TestServerClosedMidCall(t *testing.T) {
	entered := make(chan struct{}, 1)
	hostCtxDone := make(chan struct{})
	h := &fakeHost{action: func(ctx context.Context, req hostapi.ActionRequest) ([]byte, error) {
		entered <- struct{}{}
		<-ctx.Done()
		close(hostCtxDone)
		return nil, ctx.Err()
	}}
	p := newPair(t, h, ServerOptions{}, DialOptions{}, nil)
	ctx := testCtx(t)
	res := make(chan error, 1)
	go func() {
		_, err := p.client.Action(ctx, hostapi.ActionRequest{ActorID: "a", Name: "hang"})
		res <- err
	}()
	recvOrFail(t, entered, "host call")
	// The runner shuts down and gives up waiting for the call at once.
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.srv.Close(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v", err)
	}
	if err := recvOrFail(t, res, "Action return"); !errors.Is(err, ErrLinkLost) {
		t.Fatalf("in-flight Action = %v, want ErrLinkLost", err)
	}
	recvOrFail(t, hostCtxDone, "host ctx cancelled")
	recvOrFail(t, p.client.Done(), "Done")
	if !errors.Is(p.client.Err(), ErrLinkLost) {
		t.Fatalf("Err = %v", p.client.Err())
	}
	if _, err := p.client.Action(ctx, hostapi.ActionRequest{ActorID: "a", Name: "after"}); !errors.Is(err, ErrLinkLost) {
		t.Fatalf("Action after loss = %v, want ErrLinkLost", err)
	}
	// New links are refused.
	if _, err := Dial(ctx, p.url, DialOptions{}); err == nil {
		t.Fatal("Dial after Close succeeded")
	}
}

func TestServerGracefulClose(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	h := &fakeHost{action: func(ctx context.Context, req hostapi.ActionRequest) ([]byte, error) {
		if req.Name == "slow" {
			entered <- struct{}{}
			<-release
		}
		return []byte{0x01}, nil
	}}
	p := newPair(t, h, ServerOptions{}, DialOptions{}, nil)
	ctx := testCtx(t)
	res := make(chan error, 1)
	go func() {
		_, err := p.client.Action(ctx, hostapi.ActionRequest{ActorID: "a", Name: "slow"})
		res <- err
	}()
	recvOrFail(t, entered, "host call")
	closed := make(chan error, 1)
	go func() { closed <- p.srv.Close(ctx) }()
	// Wait until the link drains (new calls are refused with stopping).
	for {
		_, err := p.client.Action(ctx, hostapi.ActionRequest{ActorID: "a", Name: "new"})
		if errors.Is(err, errs.Stopping()) {
			break
		}
		if err != nil {
			t.Fatalf("call while closing = %v", err)
		}
	}
	close(release)
	if err := recvOrFail(t, res, "in-flight call"); err != nil {
		t.Fatalf("in-flight call during graceful close = %v", err)
	}
	if err := recvOrFail(t, closed, "Close"); err != nil {
		t.Fatal(err)
	}
	recvOrFail(t, p.client.Done(), "Done")
}

func TestClientCloseFailsCalls(t *testing.T) {
	entered := make(chan struct{}, 1)
	hostCtxDone := make(chan struct{})
	var hc *hostConn
	h := &fakeHost{
		action: func(ctx context.Context, req hostapi.ActionRequest) ([]byte, error) {
			entered <- struct{}{}
			<-ctx.Done()
			close(hostCtxDone)
			return nil, ctx.Err()
		},
		connect: func(_ context.Context, _ hostapi.ConnectRequest, _ hostapi.Sink) (hostapi.Conn, error) {
			hc = newHostConn("c")
			return hc, nil
		},
	}
	p := newPair(t, h, ServerOptions{}, DialOptions{}, nil)
	ctx := testCtx(t)
	sink := newRecvSink()
	if _, err := p.client.Connect(ctx, hostapi.ConnectRequest{ActorID: "a"}, sink); err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		_, err := p.client.Action(ctx, hostapi.ActionRequest{ActorID: "a", Name: "hang"})
		res <- err
	}()
	recvOrFail(t, entered, "host call")
	_ = p.client.Close()
	if err := recvOrFail(t, res, "Action"); !errors.Is(err, ErrLinkLost) {
		t.Fatalf("Action = %v, want ErrLinkLost", err)
	}
	recvOrFail(t, sink.done, "gateway sink closed")
	if !errors.Is(sink.err, ErrLinkLost) || !errors.Is(sink.err, errs.Stopping()) {
		t.Fatalf("sink closed with %v, want ErrLinkLost and actor/stopping", sink.err)
	}
	recvOrFail(t, hostCtxDone, "runner cancels the call")
	recvOrFail(t, hc.closed, "runner closes the host Conn")
}

func TestTokenAuth(t *testing.T) {
	h := &fakeHost{action: func(context.Context, hostapi.ActionRequest) ([]byte, error) { return []byte{0x01}, nil }}
	_, ts := newServer(t, h, ServerOptions{Token: "s3cret"}, nil)
	ctx := testCtx(t)
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"no token", "", false},
		{"wrong token", "guess", false},
		{"right token", "s3cret", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Dial(ctx, wsURL(ts), DialOptions{Token: tc.token})
			if !tc.ok {
				if err == nil || !errors.Is(err, errs.Unauthorized()) {
					t.Fatalf("Dial = %v, want unauthorized", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Action(ctx, hostapi.ActionRequest{ActorID: "a"}); err != nil {
				t.Fatal(err)
			}
		})
	}
	resp, err := http.Get(ts.URL + "/link")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("plain GET answered %d, want 401", resp.StatusCode)
	}
}

func TestVersionMismatch(t *testing.T) {
	_, ts := newServer(t, &fakeHost{}, ServerOptions{}, nil)
	ctx := testCtx(t)
	c, _, err := websocket.Dial(ctx, wsURL(ts), &websocket.DialOptions{Subprotocols: []string{"rivetkube.link.v0"}})
	if err == nil {
		c.CloseNow()
		t.Fatal("a link without the v1 subprotocol was accepted")
	}
}

func TestOversizedFrames(t *testing.T) {
	const limit = 64 << 10
	h := &fakeHost{action: func(_ context.Context, req hostapi.ActionRequest) ([]byte, error) {
		if req.Name == "big-output" {
			return bytes.Repeat([]byte{1}, limit), nil
		}
		return []byte{0x01}, nil
	}}
	p := newPair(t, h, ServerOptions{MaxFrameSize: limit}, DialOptions{MaxFrameSize: 2 * limit}, nil)
	ctx := testCtx(t)
	tests := []struct {
		name    string
		req     hostapi.ActionRequest
		wantErr error
	}{
		{"args over the runner's frame limit", hostapi.ActionRequest{ActorID: "a", Name: "x", Args: bytes.Repeat([]byte{1}, limit+1)}, errs.IncomingTooLong(0)},
		{"output over the frame limit", hostapi.ActionRequest{ActorID: "a", Name: "big-output"}, errs.OutgoingTooLong(0)},
		{"small call still works", hostapi.ActionRequest{ActorID: "a", Name: "x"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.client.Action(ctx, tc.req)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Action = %v, want %v", err, tc.wantErr)
			}
		})
	}
	select {
	case <-p.client.Done():
		t.Fatalf("link lost: %v", p.client.Err())
	default:
	}
}

// TestSlowLinkClosesStream: when the link cannot keep up, a connection
// whose actor keeps sending is closed with actor/overloaded; Send never
// blocks, and other streams on the link go on.
func TestSlowLinkClosesStream(t *testing.T) {
	hold := &latch.Latch{}
	sinks := make(chan hostapi.Sink, 2)
	h := &fakeHost{
		connect: func(_ context.Context, _ hostapi.ConnectRequest, sink hostapi.Sink) (hostapi.Conn, error) {
			sinks <- sink
			return newHostConn("c"), nil
		},
		action: func(context.Context, hostapi.ActionRequest) ([]byte, error) { return []byte{0x05}, nil },
	}
	const queue = 16
	p := newPair(t, h, ServerOptions{StreamQueue: queue}, DialOptions{}, func(s *Server) { s.hold = hold })
	ctx := testCtx(t)
	fast, slow := newRecvSink(), newRecvSink()
	fastConn, err := p.client.Connect(ctx, hostapi.ConnectRequest{ActorID: "fast"}, fast)
	if err != nil {
		t.Fatal(err)
	}
	defer fastConn.Close()
	fastSink := <-sinks
	slowConn, err := p.client.Connect(ctx, hostapi.ConnectRequest{ActorID: "slow"}, slow)
	if err != nil {
		t.Fatal(err)
	}
	defer slowConn.Close()
	slowSink := <-sinks

	hold.Close() // the network stalls
	sent := 0
	for slowSink.Send(protocol.ToClient{Event: &protocol.Event{Name: "flood", Args: []byte{0x80}}}) {
		sent++
		if sent > 10*queue {
			t.Fatal("Send kept accepting frames on a stalled link")
		}
	}
	fastSink.Send(protocol.ToClient{Event: &protocol.Event{Name: "hello"}})
	res := make(chan error, 1)
	go func() {
		_, err := p.client.Action(ctx, hostapi.ActionRequest{ActorID: "other"})
		res <- err
	}()
	hold.Open()

	recvOrFail(t, slow.done, "slow stream closed")
	if !errors.Is(slow.err, errs.Overloaded("")) {
		t.Fatalf("slow stream closed with %v, want actor/overloaded", slow.err)
	}
	if len(slow.msgs) != sent {
		t.Fatalf("slow stream got %d events before the close, want the %d accepted", len(slow.msgs), sent)
	}
	fast.waitFor(t, "fast stream event", func() bool { return len(fast.msgs) == 1 && !fast.closed })
	if err := recvOrFail(t, res, "action"); err != nil {
		t.Fatalf("action on the same link = %v", err)
	}
}

// TestKeepalive: a runner that stops answering pings is declared lost.
func TestKeepalive(t *testing.T) {
	stop := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		<-stop // never reads, so never answers a ping
	}))
	defer ts.Close()
	defer close(stop)
	ctx := testCtx(t)
	c, err := Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), DialOptions{PingInterval: 20 * time.Millisecond, PingTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res := make(chan error, 1)
	go func() {
		_, err := c.Action(ctx, hostapi.ActionRequest{ActorID: "a"})
		res <- err
	}()
	recvOrFail(t, c.Done(), "link declared lost")
	if err := c.Err(); !errors.Is(err, ErrLinkLost) || !strings.Contains(err.Error(), "keepalive") {
		t.Fatalf("Err = %v", err)
	}
	if err := recvOrFail(t, res, "Action"); !errors.Is(err, ErrLinkLost) {
		t.Fatalf("Action = %v, want ErrLinkLost", err)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	id := uint64(3)
	key := "a/b"
	tc := protocol.ToClient{Error: &protocol.ErrorMessage{Group: "g", Code: "c", Message: "m", Metadata: []byte{1}, ActionID: &id,
		Actor: &protocol.ActorSpecifier{ActorID: "x", Generation: 2, Key: &key}}}
	f := &frame{S: 1 << 40, K: kSinkSend, ToC: &tc, Header: map[string][]string{"A": {"1", "2"}}, Timeout: 5}
	b1, err := encodeFrame(f)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := encodeFrame(&frame{S: 2, K: kCancel})
	var got []*frame
	if err := decodeFrames(append(b1, b2...), func(f *frame) { got = append(got, f) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].S != 1<<40 || got[1].K != kCancel {
		t.Fatalf("decoded %+v", got)
	}
	m := *got[0].ToC
	if m.Error == nil || *m.Error.ActionID != 3 || *m.Error.Actor.Key != "a/b" || m.Error.Actor.Generation != 2 {
		t.Fatalf("ToClient %+v", m.Error)
	}
	if len(b2) > 8 {
		t.Errorf("a cancel frame takes %d bytes", len(b2))
	}
}

func FuzzDecodeFrames(f *testing.F) {
	for _, fr := range []*frame{
		{S: 1, K: kAction, Actor: "a", Name: "n", Data: []byte{0x80}},
		{S: 2, K: kResult, Err: &wireError{Group: "g", Code: "c"}},
		{S: 3, K: kSinkSend, ToC: &protocol.ToClient{Event: &protocol.Event{Name: "e"}}},
		{S: 4, K: kRequest, Header: map[string][]string{"X": {"y"}}},
	} {
		b, _ := encodeFrame(fr)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = decodeFrames(data, func(fr *frame) {
			_ = fr.Err.err()
		})
	})
}

// Server.Ended reaches every linked gateway's OnEnded, in order; a gateway
// without one ignores the notice and its link goes on.
func TestEndedNotice(t *testing.T) {
	h := &fakeHost{action: func(context.Context, hostapi.ActionRequest) ([]byte, error) { return []byte{0x01}, nil }}
	type notice struct {
		actor     string
		gen       uint64
		destroyed bool
	}
	got := make(chan notice, 4)
	srv, ts := newServer(t, h, ServerOptions{}, nil)
	dial := func(do DialOptions) *Client {
		c, err := Dial(testCtx(t), wsURL(ts), do)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
		// A call first: the runner has the link registered once it answers.
		if _, err := c.Action(testCtx(t), hostapi.ActionRequest{ActorID: "a1", Name: "x"}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	dial(DialOptions{OnEnded: func(a string, g uint64, d bool) { got <- notice{a, g, d} }})
	without := dial(DialOptions{})
	srv.Ended("a1", 7, false)
	srv.Ended("a2", 3, true)
	if n := recvOrFail(t, got, "first notice"); n != (notice{"a1", 7, false}) {
		t.Fatalf("first notice %+v", n)
	}
	if n := recvOrFail(t, got, "second notice"); n != (notice{"a2", 3, true}) {
		t.Fatalf("second notice %+v", n)
	}
	if out, err := without.Action(testCtx(t), hostapi.ActionRequest{ActorID: "a1", Name: "x"}); err != nil || !bytes.Equal(out, []byte{0x01}) {
		t.Fatalf("call on the link that ignored the notices: %x, %v", out, err)
	}
}
