package link

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/latch"
	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/protocol"
	"github.com/rivetkube/rivetkube/internal/tracing"
)

// ServerOptions configures the runner side of links.
type ServerOptions struct {
	// Token, when not empty, must arrive as "Authorization: Bearer <token>";
	// other requests are answered 401.
	Token string
	// MaxConcurrent bounds the streams (calls, connections, sockets) open
	// on one link (default 4096); a call beyond it fails at once with
	// actor/overloaded.
	MaxConcurrent int
	// PingInterval, PingTimeout, MaxFrameSize, MaxBodySize, QueueBytes and
	// StreamQueue are as in DialOptions. MaxBodySize also bounds the
	// buffered raw HTTP response.
	PingInterval time.Duration
	PingTimeout  time.Duration
	MaxFrameSize int64
	MaxBodySize  int64
	QueueBytes   int64
	StreamQueue  int
	Log          *slog.Logger
	// Metrics, when set, counts link frames (rivetkube_runner_link_frames_total).
	Metrics *metrics.Runner
}

// Server is the runner side: it accepts links from gateways and runs
// their calls against a hostapi.Host.
type Server struct {
	host    hostapi.Host
	token   string
	maxConc int
	lim     limits

	mu      sync.Mutex
	closing bool
	links   map[*serverLink]struct{}
	active  sync.WaitGroup // ServeHTTP of each link

	hold *latch.Latch // tests only
}

// NewServer returns a Server running calls against host.
func NewServer(host hostapi.Host, opts ServerOptions) *Server {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = defaultMaxConc
	}
	return &Server{
		host: host, token: opts.Token, maxConc: opts.MaxConcurrent,
		lim: limits{
			pingInterval: opts.PingInterval, pingTimeout: opts.PingTimeout, maxFrame: opts.MaxFrameSize,
			maxBody: opts.MaxBodySize, queueBytes: opts.QueueBytes, streamQueue: opts.StreamQueue, log: opts.Log,
			frames: frameCounter(opts.Metrics),
		}.withDefaults(),
		links: map[*serverLink]struct{}{},
	}
}

// Ended tells every gateway linked to this runner that actorID's instance
// of generation gen ended here for good (slept with its placement cleared,
// or destroyed), so a gateway that remembers the placement can wake the
// actor without first trying this runner. A hint: a link whose queue is
// full does not get it.
func (s *Server) Ended(actorID string, gen uint64, destroyed bool) {
	s.mu.Lock()
	links := make([]*link, 0, len(s.links))
	for sl := range s.links {
		links = append(links, sl.l)
	}
	s.mu.Unlock()
	for _, l := range links {
		_ = l.send(context.Background(), &frame{K: kEnded, Actor: actorID, Gen: gen, Binary: destroyed}, nil, putTry)
	}
}

func (s *Server) authorized(r *http.Request) bool {
	if s.token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) == 1
}

func offers(r *http.Request, proto string) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if strings.TrimSpace(p) == proto {
				return true
			}
		}
	}
	return false
}

// ServeHTTP accepts one link (mount it at /link). It returns when the link
// is lost or closed.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rivetkube-link"`)
		http.Error(w, "missing or invalid link token", http.StatusUnauthorized)
		return
	}
	if !offers(r, Subprotocol) {
		http.Error(w, "this runner speaks "+Subprotocol, http.StatusUpgradeRequired)
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		http.Error(w, "runner is closing", http.StatusServiceUnavailable)
		return
	}
	s.active.Add(1)
	s.mu.Unlock()
	defer s.active.Done()

	w.Header().Set(headerMaxFrame, strconv.FormatInt(s.lim.maxFrame, 10))
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:    []string{Subprotocol},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept answered the request.
	}
	sl := &serverLink{s: s, streams: map[uint64]*sstream{}}
	sl.l = newLink(c, s.lim, peerMaxFrame(s.lim.maxFrame, r.Header.Get(headerMaxFrame)))
	sl.l.dispatch = sl.dispatch
	sl.l.onLost = sl.lost
	sl.l.hold = s.hold

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = c.Close(websocket.StatusGoingAway, "runner closing")
		return
	}
	s.links[sl] = struct{}{}
	s.mu.Unlock()

	sl.l.start()
	<-sl.l.done
	sl.l.wg.Wait()
	s.mu.Lock()
	delete(s.links, sl)
	s.mu.Unlock()
}

// Close refuses new links and new calls (they fail with actor/stopping),
// waits until every stream of every link has ended and its replies have
// been written, then closes the links. When ctx ends first the links are
// closed at once: calls in flight get their ctx cancelled and the gateway
// sees ErrLinkLost. It returns ctx's error in that case.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	links := make([]*serverLink, 0, len(s.links))
	for sl := range s.links {
		links = append(links, sl)
	}
	s.mu.Unlock()

	var wg sync.WaitGroup
	for _, sl := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			graceful := sl.drain(ctx) == nil && sl.l.out.waitEmpty(ctx) == nil
			sl.l.fail(errors.New("runner closing"), graceful, websocket.StatusGoingAway, "runner closing")
			done := make(chan struct{})
			go func() {
				// The reader starts calls: wait for it before waiting for them.
				sl.l.wg.Wait()
				sl.calls.Wait()
				close(done)
			}()
			select {
			case <-done:
			case <-ctx.Done():
			}
		}()
	}
	wg.Wait()
	done := make(chan struct{})
	go func() { s.active.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return ctx.Err()
}

// serverLink is one accepted link.
type serverLink struct {
	s *Server
	l *link

	mu       sync.Mutex
	streams  map[uint64]*sstream
	draining bool
	idle     chan struct{} // closed when draining and no stream is left

	calls sync.WaitGroup // call goroutines and serial executors
}

// sstream is one stream on the runner side.
type sstream struct {
	id     uint64
	k      kind
	ctx    context.Context // the host's ctx for the call
	cancel context.CancelFunc
	pend   atomic.Int32

	// Connect.
	rx        serial // Receive and Close, in order, off the reader goroutine
	sink      *serverSink
	hc        hostapi.Conn // guarded by serverLink.mu
	connected bool         // guarded by serverLink.mu
	hcClosed  bool         // guarded by serverLink.mu

	// WebSocket.
	ws *serverWS

	// Streamed raw response: the gateway's acknowledgement of a chunk.
	acks chan struct{}
}

func (sl *serverLink) lookup(id uint64) *sstream {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.streams[id]
}

// drain refuses new calls and waits until no stream is left.
func (sl *serverLink) drain(ctx context.Context) error {
	sl.mu.Lock()
	sl.draining = true
	if sl.idle == nil {
		sl.idle = make(chan struct{})
		if len(sl.streams) == 0 {
			close(sl.idle)
		}
	}
	idle := sl.idle
	sl.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-sl.l.done:
		return nil
	}
}

// end removes st (idempotent) and cancels its ctx.
func (sl *serverLink) end(st *sstream) {
	sl.mu.Lock()
	if sl.streams[st.id] == st {
		delete(sl.streams, st.id)
		if sl.idle != nil && len(sl.streams) == 0 {
			close(sl.idle)
		}
	}
	sl.mu.Unlock()
	st.cancel()
}

// lost runs once when the link dies: every call's ctx is cancelled, every
// hosted connection is closed as if its client went away.
func (sl *serverLink) lost(error) {
	sl.mu.Lock()
	all := make([]*sstream, 0, len(sl.streams))
	for _, st := range sl.streams {
		all = append(all, st)
	}
	sl.mu.Unlock()
	for _, st := range all {
		if st.sink != nil {
			st.sink.markClosed()
			sl.closeConn(st)
		}
		sl.end(st)
	}
}

// closeConn closes the host's Conn of st once, after the frames already
// handed to it.
func (sl *serverLink) closeConn(st *sstream) {
	sl.mu.Lock()
	hc := st.hc
	if hc == nil || st.hcClosed {
		sl.mu.Unlock()
		return
	}
	st.hcClosed = true
	sl.mu.Unlock()
	st.rx.push(hc.Close, true)
}

// reject answers a call that is not run.
func (sl *serverLink) reject(id uint64, err error) {
	_ = sl.l.send(context.Background(), &frame{S: id, K: kResult, Err: toWireError(err)}, nil, putMust)
}

// dispatch handles one frame from the gateway (reader goroutine).
func (sl *serverLink) dispatch(f *frame) {
	switch f.K {
	case kAction, kConnect, kRequest, kWebSocket, kDestroy, kStop, kQueueSend, kWake, kInspect:
		sl.startCall(f)
	case kCancel:
		if st := sl.lookup(f.S); st != nil {
			sl.mu.Lock()
			connected := st.connected
			sl.mu.Unlock()
			if !connected {
				st.cancel()
			}
		}
	case kConnRecv:
		st := sl.lookup(f.S)
		if st == nil || st.sink == nil || f.ToS == nil {
			return
		}
		sl.mu.Lock()
		hc := st.hc
		sl.mu.Unlock()
		if hc == nil {
			return
		}
		msg := *f.ToS
		if !st.rx.push(func() { hc.Receive(msg) }, false) {
			st.sink.Close(errs.Overloaded("link inbound queue is full"))
		}
	case kConnClose:
		if st := sl.lookup(f.S); st != nil && st.sink != nil {
			st.sink.markClosed()
			sl.closeConn(st)
			sl.end(st)
		}
	case kWSMsg:
		if st := sl.lookup(f.S); st != nil && st.ws != nil {
			st.ws.deliver(f)
		}
	case kWSClose:
		if st := sl.lookup(f.S); st != nil && st.ws != nil {
			st.ws.peerClose(websocket.StatusCode(f.Status), f.Reason)
		}
	case kRespAck:
		if st := sl.lookup(f.S); st != nil && st.acks != nil {
			select {
			case st.acks <- struct{}{}:
			default:
			}
		}
	default:
		// Unknown kinds are ignored: a newer gateway may send hints an
		// older runner does not need.
	}
}

func (sl *serverLink) startCall(f *frame) {
	st := &sstream{id: f.S, k: f.K}
	st.rx = serial{max: sl.l.lim.streamQueue, wg: &sl.calls}
	parent := tracing.FromCarrier(sl.l.ctx, f.Trace)
	if f.Place {
		parent = hostapi.WithSelfPlace(parent)
	}
	ctx, cancel := context.WithCancel(parent)
	if f.Timeout > 0 {
		ctx, cancel = withTimeout(ctx, cancel, time.Duration(f.Timeout))
	}
	st.ctx, st.cancel = ctx, cancel
	switch f.K {
	case kConnect:
		st.sink = &serverSink{sl: sl, st: st}
	case kWebSocket:
		st.ws = &serverWS{sl: sl, st: st, in: make(chan wsIn, wsWindow),
			peerClosed: make(chan struct{}), localClosed: make(chan struct{})}
	case kRequest:
		st.acks = make(chan struct{}, 1)
	}

	sl.mu.Lock()
	switch {
	case f.S == 0 || sl.streams[f.S] != nil:
		sl.mu.Unlock()
		cancel()
		sl.l.fail(errors.New("gateway reused a stream id"), true, websocket.StatusProtocolError, "duplicate stream id")
		return
	case sl.draining:
		sl.mu.Unlock()
		cancel()
		sl.reject(f.S, errs.Stopping())
		return
	case len(sl.streams) >= sl.s.maxConc:
		sl.mu.Unlock()
		cancel()
		sl.reject(f.S, errs.Overloaded("too many calls on the runner link"))
		return
	}
	sl.streams[f.S] = st
	sl.calls.Add(1)
	sl.mu.Unlock()
	go sl.run(st, f)
}

func withTimeout(parent context.Context, cancelParent context.CancelFunc, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(parent, d)
	return ctx, func() { cancel(); cancelParent() }
}

// reply sends the result of st, waiting for room with the call's ctx.
func (sl *serverLink) reply(st *sstream, f *frame) {
	f.S, f.K = st.id, kResult
	err := sl.l.send(st.ctx, f, nil, putWait)
	if errors.Is(err, errFrameTooBig) {
		sl.reject(st.id, errs.OutgoingTooLong(sl.l.maxSend))
	}
}

func (sl *serverLink) run(st *sstream, f *frame) {
	defer sl.calls.Done()
	h := sl.s.host
	t := hostapi.Target{ActorID: f.Actor, Generation: f.Gen}
	switch f.K {
	case kAction:
		out, err := h.Action(st.ctx, hostapi.ActionRequest{ActorID: f.Actor, Generation: f.Gen, Name: f.Name, Args: f.Data, ConnParams: f.Params, Request: requestInfo(f)})
		sl.reply(st, &frame{Data: out, Err: toWireError(err)})
	case kDestroy:
		sl.reply(st, &frame{Err: toWireError(h.Destroy(st.ctx, t))})
	case kStop:
		sl.reply(st, &frame{Err: toWireError(h.Stop(st.ctx, t))})
	case kWake:
		sl.reply(st, &frame{Err: toWireError(h.Wake(st.ctx, t))})
	case kQueueSend:
		res, err := h.QueueSend(st.ctx, hostapi.QueueSendRequest{
			ActorID: f.Actor, Generation: f.Gen, Queue: f.Name, Body: f.Data,
			Wait: f.Binary, Timeout: time.Duration(f.N) * time.Millisecond,
		})
		out := &frame{Data: res.Response, Err: toWireError(err)}
		if res.Completed {
			out.Status = 1
		}
		sl.reply(st, out)
	case kRequest, kInspect:
		serve := h.Request
		if f.K == kInspect {
			serve = h.Inspect
		}
		bw := &bufferedWriter{header: http.Header{}, limit: sl.l.lim.maxBody}
		if f.K == kRequest {
			bw.stream = func(status int, header http.Header, data []byte) error { return sl.sendChunk(st, status, header, data) }
		}
		err := serve(st.ctx, t, bw, buildRequest(st.ctx, f, f.Name))
		if err == nil && bw.over {
			err = errs.OutgoingTooLong(bw.limit)
		}
		if err != nil && !bw.started {
			sl.reply(st, &frame{Err: toWireError(err)})
			break
		}
		status := bw.status
		if status == 0 {
			status = http.StatusOK
		}
		if bw.started {
			// Status and headers went out with the first chunk.
			sl.reply(st, &frame{Data: bw.body.Bytes()})
			break
		}
		sl.reply(st, &frame{Status: status, Header: bw.header, Data: bw.body.Bytes()})
	case kWebSocket:
		err := h.WebSocket(st.ctx, t, buildRequest(st.ctx, f, http.MethodGet), st.ws)
		st.ws.finish()
		sl.reply(st, &frame{Err: toWireError(err)})
	case kConnect:
		hc, err := h.Connect(st.ctx, hostapi.ConnectRequest{ActorID: f.Actor, Generation: f.Gen, Params: f.Params, Request: requestInfo(f)}, st.sink)
		if err != nil {
			st.sink.markClosed()
			sl.reply(st, &frame{Err: toWireError(err)})
			break
		}
		sl.mu.Lock()
		st.hc, st.connected = hc, true
		alive := sl.streams[st.id] == st
		sl.mu.Unlock()
		if !alive {
			// The link died (or the stream ended) while Connect ran.
			sl.closeConn(st)
			return
		}
		sl.reply(st, &frame{Name: hc.ID()})
		// The stream stays open until the gateway closes the Conn or the
		// link dies; the call's ctx ends now, as it does for a local Connect
		// whose caller returned.
		st.cancel()
		return
	}
	sl.end(st)
}

// buildRequest rebuilds the gateway's request on the runner.
func buildRequest(ctx context.Context, f *frame, method string) *http.Request {
	h := http.Header(f.Header)
	if h == nil {
		h = http.Header{}
	}
	r := &http.Request{
		Method: method, URL: &url.URL{Path: f.Path, RawQuery: f.Query},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Host: f.Host, Body: http.NoBody, RemoteAddr: f.Remote,
	}
	if len(f.Data) > 0 {
		data := f.Data
		r.ContentLength = int64(len(data))
		r.Body = io.NopCloser(bytes.NewReader(data))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	}
	return r.WithContext(ctx)
}

// sendChunk sends a flushed part of st's response and waits until the
// gateway acknowledges it (or the call ends).
func (sl *serverLink) sendChunk(st *sstream, status int, header http.Header, data []byte) error {
	err := sl.l.send(st.ctx, &frame{S: st.id, K: kRespChunk, Status: status, Header: header, Data: data}, &st.pend, putWait)
	if errors.Is(err, errFrameTooBig) {
		return errs.OutgoingTooLong(sl.l.maxSend)
	}
	if err != nil {
		return err
	}
	select {
	case <-st.acks:
		return nil
	case <-st.ctx.Done():
		return st.ctx.Err()
	}
}

// bufferedWriter collects a raw HTTP response, bounded. With stream set it
// is also an http.Flusher: a flush sends what was written so far as a
// chunk and waits for the gateway's acknowledgement.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
	limit  int64
	over   bool

	stream  func(status int, header http.Header, data []byte) error
	started bool
	err     error
}

// Flush implements http.Flusher (a no-op without streaming).
func (b *bufferedWriter) Flush() { _ = b.FlushError() }

// FlushError sends what was written so far; http.ResponseController uses
// it and so learns about a client that went away.
func (b *bufferedWriter) FlushError() error {
	if b.stream == nil || b.over {
		return nil
	}
	if b.err != nil {
		return b.err
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	var hdr http.Header
	if !b.started {
		hdr = b.header.Clone()
	}
	b.started = true
	err := b.stream(b.status, hdr, bytes.Clone(b.body.Bytes()))
	b.body.Reset()
	if err != nil {
		b.err = err
	}
	return err
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if int64(b.body.Len()+len(p)) > b.limit {
		b.over = true
		return 0, errs.OutgoingTooLong(b.limit)
	}
	return b.body.Write(p)
}

// serverSink is the hostapi.Sink a runner's host gets for a connection.
// Send never blocks: a full stream (or link) queue closes the connection
// with actor/overloaded.
type serverSink struct {
	sl     *serverLink
	st     *sstream
	mu     sync.Mutex
	closed bool
}

func (s *serverSink) Send(msg protocol.ToClient) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if int(s.st.pend.Load()) >= s.sl.l.lim.streamQueue {
		s.closeLocked(errs.Overloaded("link stream queue is full"))
		return false
	}
	err := s.sl.l.send(context.Background(), &frame{S: s.st.id, K: kSinkSend, ToC: &msg}, &s.st.pend, putTry)
	switch {
	case err == nil:
		return true
	case errors.Is(err, errQueueFull):
		s.closeLocked(errs.Overloaded("link outbound queue is full"))
	case errors.Is(err, errFrameTooBig):
		s.closeLocked(errs.OutgoingTooLong(s.sl.l.maxSend))
	default:
		s.closed = true // link lost
	}
	return false
}

func (s *serverSink) Close(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closeLocked(err)
	}
}

func (s *serverSink) closeLocked(err error) {
	s.closed = true
	_ = s.sl.l.send(context.Background(), &frame{S: s.st.id, K: kSinkClose, Err: toWireError(err)}, nil, putMust)
}

// markClosed makes Send return false without telling the gateway.
func (s *serverSink) markClosed() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// serverWS is the hostapi.MessageConn a runner's host gets for a raw
// WebSocket. Read blocks on a bounded channel the link fills (the gateway
// sends only as many messages as Read has made room for); Write queues a
// frame and never waits for the link.
type serverWS struct {
	sl *serverLink
	st *sstream
	in chan wsIn

	mu          sync.Mutex
	granted     bool
	consumed    int
	peerClosed  chan struct{}
	peerErr     error
	localClosed chan struct{}
	localErr    error
}

type wsIn struct {
	binary bool
	data   []byte
}

var errWSFinished = errors.New("link: websocket call returned")

func (w *serverWS) deliver(f *frame) {
	select {
	case w.in <- wsIn{binary: f.Binary, data: f.Data}:
	default:
		// More than the credit granted: a broken gateway.
		_ = w.Close(int(websocket.StatusPolicyViolation), "message.window_exceeded")
	}
}

func (w *serverWS) peerClose(code websocket.StatusCode, reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.peerErr == nil {
		w.peerErr = websocket.CloseError{Code: code, Reason: reason}
		close(w.peerClosed)
	}
}

// finish ends the socket when the host's WebSocket call returns.
func (w *serverWS) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.localErr == nil {
		w.localErr = errWSFinished
		close(w.localClosed)
	}
}

// Read implements hostapi.MessageConn. Messages the gateway sent before
// closing are read before the close.
func (w *serverWS) Read(ctx context.Context) (bool, []byte, error) {
	w.mu.Lock()
	if !w.granted {
		w.granted = true
		_ = w.sl.l.send(context.Background(), &frame{S: w.st.id, K: kWSCredit, N: wsWindow}, nil, putMust)
	}
	w.mu.Unlock()
	select {
	case m := <-w.in:
		return w.got(m)
	default:
	}
	select {
	case m := <-w.in:
		return w.got(m)
	case <-w.peerClosed:
		select {
		case m := <-w.in:
			return w.got(m)
		default:
		}
		return false, nil, w.peerErr
	case <-w.localClosed:
		return false, nil, w.localErr
	case <-ctx.Done():
		return false, nil, ctx.Err()
	case <-w.st.ctx.Done():
		if err := w.sl.l.lostErr(); err != nil {
			return false, nil, err
		}
		return false, nil, w.st.ctx.Err()
	}
}

func (w *serverWS) got(m wsIn) (bool, []byte, error) {
	w.mu.Lock()
	w.consumed++
	if w.consumed >= wsWindow/2 {
		n := w.consumed
		w.consumed = 0
		_ = w.sl.l.send(context.Background(), &frame{S: w.st.id, K: kWSCredit, N: uint64(n)}, nil, putMust)
	}
	w.mu.Unlock()
	return m.binary, m.data, nil
}

// Write implements hostapi.MessageConn. It does not wait for the link:
// when the stream's queue is full the socket is closed with
// actor/overloaded.
func (w *serverWS) Write(ctx context.Context, binary bool, data []byte) error {
	w.mu.Lock()
	if w.localErr != nil {
		w.mu.Unlock()
		return w.localErr
	}
	w.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if int(w.st.pend.Load()) >= w.sl.l.lim.streamQueue {
		_ = w.Close(int(websocket.StatusPolicyViolation), "actor.overloaded")
		return errs.Overloaded("link stream queue is full")
	}
	err := w.sl.l.send(ctx, &frame{S: w.st.id, K: kWSMsg, Binary: binary, Data: data}, &w.st.pend, putTry)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errQueueFull):
		_ = w.Close(int(websocket.StatusPolicyViolation), "actor.overloaded")
		return errs.Overloaded("link outbound queue is full")
	case errors.Is(err, errFrameTooBig):
		return errs.OutgoingTooLong(w.sl.l.maxSend)
	}
	return err
}

// Close implements hostapi.MessageConn: the gateway closes the client's
// socket with code and reason; Read returns at once.
func (w *serverWS) Close(code int, reason string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.localErr != nil {
		return nil
	}
	w.localErr = websocket.CloseError{Code: websocket.StatusCode(code), Reason: reason}
	close(w.localClosed)
	return w.sl.l.send(context.Background(), &frame{S: w.st.id, K: kWSClose, Status: code, Reason: reason}, nil, putMust)
}
