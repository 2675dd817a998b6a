package link

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/protocol"
)

// fakeHost is a hostapi.Host whose methods the test sets.
type fakeHost struct {
	action    func(ctx context.Context, req hostapi.ActionRequest) ([]byte, error)
	connect   func(ctx context.Context, req hostapi.ConnectRequest, sink hostapi.Sink) (hostapi.Conn, error)
	request   func(ctx context.Context, t hostapi.Target, w http.ResponseWriter, r *http.Request) error
	websocket func(ctx context.Context, t hostapi.Target, r *http.Request, ws hostapi.MessageConn) error
	destroy   func(ctx context.Context, t hostapi.Target) error
	stop      func(ctx context.Context, t hostapi.Target) error
	queueSend func(ctx context.Context, req hostapi.QueueSendRequest) (hostapi.QueueSendResponse, error)
	wake      func(ctx context.Context, t hostapi.Target) error
	inspect   func(ctx context.Context, t hostapi.Target, w http.ResponseWriter, r *http.Request) error
}

var errNotSet = errors.New("fake host: not set")

func (h *fakeHost) Action(ctx context.Context, req hostapi.ActionRequest) ([]byte, error) {
	if h.action == nil {
		return nil, errNotSet
	}
	return h.action(ctx, req)
}

func (h *fakeHost) Connect(ctx context.Context, req hostapi.ConnectRequest, sink hostapi.Sink) (hostapi.Conn, error) {
	if h.connect == nil {
		return nil, errNotSet
	}
	return h.connect(ctx, req, sink)
}

func (h *fakeHost) Request(ctx context.Context, t hostapi.Target, w http.ResponseWriter, r *http.Request) error {
	if h.request == nil {
		return errNotSet
	}
	return h.request(ctx, t, w, r)
}

func (h *fakeHost) WebSocket(ctx context.Context, t hostapi.Target, r *http.Request, ws hostapi.MessageConn) error {
	if h.websocket == nil {
		return errNotSet
	}
	return h.websocket(ctx, t, r, ws)
}

func (h *fakeHost) Destroy(ctx context.Context, t hostapi.Target) error {
	if h.destroy == nil {
		return errNotSet
	}
	return h.destroy(ctx, t)
}

func (h *fakeHost) Stop(ctx context.Context, t hostapi.Target) error {
	if h.stop == nil {
		return errNotSet
	}
	return h.stop(ctx, t)
}

func (h *fakeHost) QueueSend(ctx context.Context, req hostapi.QueueSendRequest) (hostapi.QueueSendResponse, error) {
	if h.queueSend == nil {
		return hostapi.QueueSendResponse{}, errNotSet
	}
	return h.queueSend(ctx, req)
}

func (h *fakeHost) Wake(ctx context.Context, t hostapi.Target) error {
	if h.wake == nil {
		return errNotSet
	}
	return h.wake(ctx, t)
}

func (h *fakeHost) Inspect(ctx context.Context, t hostapi.Target, w http.ResponseWriter, r *http.Request) error {
	if h.inspect == nil {
		return errNotSet
	}
	return h.inspect(ctx, t, w, r)
}

func (h *fakeHost) HasActor(string) bool { return true }

var _ hostapi.Host = (*fakeHost)(nil)

// pair is a real Server on httptest and a real Client linked to it.
type pair struct {
	srv    *Server
	ts     *httptest.Server
	url    string
	client *Client
}

func wsURL(ts *httptest.Server) string { return "ws" + strings.TrimPrefix(ts.URL, "http") + "/link" }

// newServer starts a Server for h; configure may adjust it before any link.
func newServer(t testing.TB, h hostapi.Host, so ServerOptions, configure func(*Server)) (*Server, *httptest.Server) {
	t.Helper()
	srv := NewServer(h, so)
	if configure != nil {
		configure(srv)
	}
	mux := http.NewServeMux()
	mux.Handle("/link", srv)
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
		ts.Close()
	})
	return srv, ts
}

func newPair(t testing.TB, h hostapi.Host, so ServerOptions, do DialOptions, configure func(*Server)) *pair {
	t.Helper()
	srv, ts := newServer(t, h, so, configure)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, wsURL(ts), do)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &pair{srv: srv, ts: ts, url: wsURL(ts), client: c}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recvSink is a gateway-side hostapi.Sink that records what it gets.
type recvSink struct {
	mu     sync.Mutex
	msgs   []protocol.ToClient
	closed bool
	err    error
	got    chan struct{} // cap 1, poked on every Send/Close
	done   chan struct{}
}

func newRecvSink() *recvSink {
	return &recvSink{got: make(chan struct{}, 1), done: make(chan struct{})}
}

func (s *recvSink) Send(m protocol.ToClient) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.msgs = append(s.msgs, m)
	s.poke()
	return true
}

func (s *recvSink) Close(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed, s.err = true, err
	close(s.done)
	s.poke()
}

func (s *recvSink) poke() {
	select {
	case s.got <- struct{}{}:
	default:
	}
}

// waitFor waits until cond (run under the sink's lock) holds.
func (s *recvSink) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		ok := cond()
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.got:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// hostConn is a runner-side hostapi.Conn that records what it gets.
type hostConn struct {
	id     string
	mu     sync.Mutex
	msgs   []protocol.ToServer
	got    chan struct{}
	closed chan struct{}
	once   sync.Once
}

func newHostConn(id string) *hostConn {
	return &hostConn{id: id, got: make(chan struct{}, 1), closed: make(chan struct{})}
}

func (c *hostConn) ID() string { return c.id }

func (c *hostConn) Receive(m protocol.ToServer) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	select {
	case c.got <- struct{}{}:
	default:
	}
}

func (c *hostConn) Close() { c.once.Do(func() { close(c.closed) }) }

func (c *hostConn) waitMsgs(t testing.TB, n int) []protocol.ToServer {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		if len(c.msgs) >= n {
			out := append([]protocol.ToServer(nil), c.msgs...)
			c.mu.Unlock()
			return out
		}
		c.mu.Unlock()
		select {
		case <-c.got:
		case <-timeout:
			t.Fatalf("timed out waiting for %d messages", n)
		}
	}
}

// clientWS is a gateway-side hostapi.MessageConn standing for the
// client's socket.
type clientWS struct {
	in      chan wsIn // what the client sends
	out     chan wsIn // what reaches the client
	gone    chan struct{}
	goneErr error
	closeMu sync.Mutex
	code    int
	reason  string
	closed  chan struct{}
	once    sync.Once
}

func newClientWS() *clientWS {
	return &clientWS{in: make(chan wsIn, 16), out: make(chan wsIn, 16), gone: make(chan struct{}), closed: make(chan struct{})}
}

// hangUp is the client closing its socket.
func (w *clientWS) hangUp(code websocket.StatusCode, reason string) {
	w.goneErr = websocket.CloseError{Code: code, Reason: reason}
	close(w.gone)
}

func (w *clientWS) Read(ctx context.Context) (bool, []byte, error) {
	select {
	case m := <-w.in:
		return m.binary, m.data, nil
	case <-w.gone:
		return false, nil, w.goneErr
	case <-w.closed:
		return false, nil, errors.New("closed")
	case <-ctx.Done():
		return false, nil, ctx.Err()
	}
}

func (w *clientWS) Write(ctx context.Context, binary bool, data []byte) error {
	select {
	case w.out <- wsIn{binary, data}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *clientWS) Close(code int, reason string) error {
	w.once.Do(func() {
		w.closeMu.Lock()
		w.code, w.reason = code, reason
		w.closeMu.Unlock()
		close(w.closed)
	})
	return nil
}

func recvOrFail[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// TestMain fails the run when goroutines started by this package outlive
// the tests: every goroutine must have a way to stop.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for {
			leaked := linkGoroutines()
			if leaked == "" {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "goroutines leaked:\n%s\n", leaked)
				code = 1
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	os.Exit(code)
}

func linkGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "rivetkube/internal/link.") && !strings.Contains(g, "linkGoroutines") && !strings.Contains(g, "TestMain") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
