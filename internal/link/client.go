package link

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/protocol"
)

// Caller is hostapi.Host without HasActor: what a gateway can ask of one
// runner over its link. *Client implements it.
type Caller interface {
	Action(ctx context.Context, req hostapi.ActionRequest) ([]byte, error)
	Connect(ctx context.Context, req hostapi.ConnectRequest, sink hostapi.Sink) (hostapi.Conn, error)
	Request(ctx context.Context, t hostapi.Target, w http.ResponseWriter, r *http.Request) error
	WebSocket(ctx context.Context, t hostapi.Target, r *http.Request, ws hostapi.MessageConn) error
	Destroy(ctx context.Context, t hostapi.Target) error
	Stop(ctx context.Context, t hostapi.Target) error
}

var _ Caller = (*Client)(nil)

// DialOptions configures the gateway side of a link.
type DialOptions struct {
	// Token is sent as "Authorization: Bearer <token>" when not empty.
	Token string
	// PingInterval is how often the link is pinged (default 5 s);
	// PingTimeout how long a pong may take before the link is declared
	// lost (default 10 s).
	PingInterval time.Duration
	PingTimeout  time.Duration
	// MaxFrameSize bounds one frame either way (default 32 MiB). The link
	// sends frames no larger than the smaller of both ends' limits.
	MaxFrameSize int64
	// MaxBodySize bounds a raw HTTP request body (default 16 MiB).
	MaxBodySize int64
	// QueueBytes bounds the link's outbound queue (default 2×MaxFrameSize).
	QueueBytes int64
	// StreamQueue bounds the frames one stream may have queued (default 1024).
	StreamQueue int
	// HTTPClient dials the WebSocket (default http.DefaultClient).
	HTTPClient *http.Client
	Log        *slog.Logger
	// OnEnded, when set, gets the runner's notices that an actor's
	// instance of generation gen ended there for good (it slept, or was
	// destroyed when destroyed is set). It runs on the link's reader
	// goroutine and must not block.
	OnEnded func(actorID string, gen uint64, destroyed bool)
}

// Client is the gateway side of a link to one runner. It is safe for
// concurrent use; every call is a stream multiplexed on one WebSocket.
type Client struct {
	l   *link
	lim limits

	onEnded func(actorID string, gen uint64, destroyed bool)

	mu      sync.Mutex
	next    uint64
	streams map[uint64]*cstream
}

// cstream is one call (and, for Connect and WebSocket, its stream) on the
// gateway side.
type cstream struct {
	id   uint64
	k    kind
	res  chan *frame  // cap 1: the kResult
	pend atomic.Int32 // frames of this stream queued, not yet written

	// Connect.
	smu        sync.Mutex
	sink       hostapi.Sink
	sinkClosed bool

	// WebSocket.
	ws *cws

	// Streamed raw response: flushed chunks, one in flight.
	chunks chan *frame
}

// Dial opens a link to the runner at url (ws://host:port/link).
func Dial(ctx context.Context, url string, opts DialOptions) (*Client, error) {
	lim := limits{
		pingInterval: opts.PingInterval, pingTimeout: opts.PingTimeout, maxFrame: opts.MaxFrameSize,
		maxBody: opts.MaxBodySize, queueBytes: opts.QueueBytes, streamQueue: opts.StreamQueue, log: opts.Log,
	}.withDefaults()
	h := http.Header{}
	if opts.Token != "" {
		h.Set("Authorization", "Bearer "+opts.Token)
	}
	h.Set(headerMaxFrame, strconv.FormatInt(lim.maxFrame, 10))
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient:      opts.HTTPClient,
		HTTPHeader:      h,
		Subprotocols:    []string{Subprotocol},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return nil, fmt.Errorf("link: dial %s: %w", url, errs.Unauthorized())
		}
		return nil, fmt.Errorf("link: dial %s: %w", url, err)
	}
	if c.Subprotocol() != Subprotocol {
		_ = c.Close(websocket.StatusPolicyViolation, "unsupported link version")
		return nil, fmt.Errorf("link: dial %s: runner does not speak %s", url, Subprotocol)
	}
	maxSend := lim.maxFrame
	if resp != nil {
		maxSend = peerMaxFrame(lim.maxFrame, resp.Header.Get(headerMaxFrame))
	}
	cl := &Client{l: newLink(c, lim, maxSend), lim: lim, streams: map[uint64]*cstream{}, onEnded: opts.OnEnded}
	cl.l.dispatch = cl.dispatch
	cl.l.onLost = cl.lost
	cl.l.start()
	return cl, nil
}

// Done is closed when the link is lost (or closed).
func (c *Client) Done() <-chan struct{} { return c.l.done }

// Err is why the link was lost (it matches ErrLinkLost), or nil while it is up.
func (c *Client) Err() error { return c.l.lostErr() }

// Close closes the link. Calls in flight fail with ErrLinkLost; open
// connections are closed. It waits for the link's goroutines.
func (c *Client) Close() error {
	c.l.fail(errors.New("closed by the gateway"), true, websocket.StatusNormalClosure, "")
	c.l.wg.Wait()
	return nil
}

// open registers a new stream; init sets its fields before the reader can
// see it.
func (c *Client) open(k kind, init func(*cstream)) *cstream {
	st := &cstream{k: k, res: make(chan *frame, 1)}
	if init != nil {
		init(st)
	}
	c.mu.Lock()
	c.next++
	st.id = c.next
	c.streams[st.id] = st
	c.mu.Unlock()
	return st
}

func (c *Client) remove(st *cstream) {
	c.mu.Lock()
	if c.streams[st.id] == st {
		delete(c.streams, st.id)
	}
	c.mu.Unlock()
}

// lost runs once when the link dies: open connections are closed. Calls
// waiting for a result see Done.
func (c *Client) lost(error) {
	c.mu.Lock()
	open := make([]*cstream, 0, len(c.streams))
	for _, st := range c.streams {
		open = append(open, st)
	}
	c.mu.Unlock()
	for _, st := range open {
		if st.sink != nil {
			st.closeSink(sinkLostErr)
		}
	}
}

// dispatch handles one frame from the runner (reader goroutine).
func (c *Client) dispatch(f *frame) {
	if f.K == kEnded {
		if c.onEnded != nil && f.Actor != "" && f.Gen > 0 {
			c.onEnded(f.Actor, f.Gen, f.Binary)
		}
		return
	}
	c.mu.Lock()
	st := c.streams[f.S]
	if st == nil {
		c.mu.Unlock()
		if f.K == kResult && f.Err == nil && f.Name != "" {
			// A Connect that succeeded after its caller gave up: nobody
			// will ever close it, so close it now.
			_ = c.l.send(context.Background(), &frame{S: f.S, K: kConnClose}, nil, putMust)
		}
		return
	}
	if f.K == kResult {
		// Delivered under c.mu so a caller giving up either gets it or
		// leaves it to the "nobody waits" path above.
		if st.k != kConnect || f.Err != nil {
			delete(c.streams, f.S)
		}
		select {
		case st.res <- f:
		default:
		}
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	switch f.K {
	case kSinkSend:
		if st.sink != nil && f.ToC != nil {
			st.sinkSend(*f.ToC)
		}
	case kSinkClose:
		if st.sink != nil {
			st.closeSink(f.Err.err())
		}
	case kWSMsg, kWSClose:
		if st.ws != nil {
			st.ws.event(c, st, f)
		}
	case kWSCredit:
		if st.ws != nil {
			st.ws.credit(int(f.N))
		}
	case kRespChunk:
		if st.chunks != nil {
			select {
			case st.chunks <- f:
			default:
				// The runner sends the next chunk only after an ack.
				c.l.fail(errors.New("runner sent a response chunk before its ack"), true, websocket.StatusProtocolError, "unacknowledged chunk")
			}
		}
	}
}

func (st *cstream) sinkSend(m protocol.ToClient) {
	st.smu.Lock()
	defer st.smu.Unlock()
	if st.sinkClosed {
		return
	}
	if !st.sink.Send(m) {
		// The client is gone; the gateway closes the Conn, which tells
		// the runner.
		st.sinkClosed = true
	}
}

func (st *cstream) closeSink(err error) {
	st.smu.Lock()
	defer st.smu.Unlock()
	if st.sinkClosed {
		return
	}
	st.sinkClosed = true
	st.sink.Close(err)
}

// call sends a call frame and waits for its result.
func (c *Client) call(ctx context.Context, f *frame, st *cstream) (res *frame, err error) {
	ctx, span := startCallSpan(ctx, f, st.k)
	defer func() { endCallSpan(span, res, err) }()
	if err := ctx.Err(); err != nil {
		c.remove(st)
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			c.remove(st)
			return nil, context.DeadlineExceeded
		}
		f.Timeout = int64(left)
	}
	f.Place = hostapi.SelfPlace(ctx)
	f.S = st.id
	f.K = st.k
	if err := c.l.send(ctx, f, nil, putWait); err != nil {
		c.remove(st)
		if errors.Is(err, errFrameTooBig) {
			return nil, errs.IncomingTooLong(c.l.maxSend)
		}
		return nil, err
	}
	return c.wait(ctx, st)
}

// callStreaming is call for a stream whose result may be preceded by
// response chunks, each handed to onChunk on the caller's goroutine. An
// error from onChunk (the client went away) cancels the call.
func (c *Client) callStreaming(ctx context.Context, f *frame, st *cstream, onChunk func(*frame) error) (*frame, error) {
	if st.chunks == nil {
		return c.call(ctx, f, st)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunkErr := make(chan error, 1)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case ch := <-st.chunks:
				if err := onChunk(ch); err != nil {
					chunkErr <- err
					cancel()
					return
				}
			case <-done:
				return
			}
		}
	}()
	res, err := c.call(ctx, f, st)
	close(done)
	<-exited // the caller owns the ResponseWriter again
	select {
	case cerr := <-chunkErr:
		if err != nil {
			return nil, cerr
		}
	default:
	}
	return res, err
}

// wait waits for the result of st. When ctx ends first, the runner is
// told to cancel the call.
func (c *Client) wait(ctx context.Context, st *cstream) (*frame, error) {
	select {
	case f := <-st.res:
		return f, nil
	case <-ctx.Done():
		if f, ok := c.abandon(st); ok {
			return f, nil
		}
		_ = c.l.send(context.Background(), &frame{S: st.id, K: kCancel}, nil, putMust)
		return nil, ctx.Err()
	case <-c.l.done:
		if f, ok := c.abandon(st); ok {
			return f, nil
		}
		return nil, c.l.lostErr()
	}
}

// abandon removes st; a result that arrived meanwhile is returned.
func (c *Client) abandon(st *cstream) (*frame, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streams[st.id] == st {
		delete(c.streams, st.id)
	}
	select {
	case f := <-st.res:
		return f, true
	default:
		return nil, false
	}
}

// Action implements hostapi.Host.
func (c *Client) Action(ctx context.Context, req hostapi.ActionRequest) ([]byte, error) {
	f := &frame{Actor: req.ActorID, Gen: req.Generation, Name: req.Name, Data: req.Args, Params: req.ConnParams}
	putRequestInfo(f, req.Request)
	res, err := c.call(ctx, f, c.open(kAction, nil))
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err.err()
	}
	return res.Data, nil
}

// Destroy implements hostapi.Host.
func (c *Client) Destroy(ctx context.Context, t hostapi.Target) error {
	res, err := c.call(ctx, &frame{Actor: t.ActorID, Gen: t.Generation}, c.open(kDestroy, nil))
	if err != nil {
		return err
	}
	return res.Err.err()
}

// Stop implements hostapi.Host.
func (c *Client) Stop(ctx context.Context, t hostapi.Target) error {
	res, err := c.call(ctx, &frame{Actor: t.ActorID, Gen: t.Generation}, c.open(kStop, nil))
	if err != nil {
		return err
	}
	return res.Err.err()
}

// Wake implements hostapi.Host.
func (c *Client) Wake(ctx context.Context, t hostapi.Target) error {
	res, err := c.call(ctx, &frame{Actor: t.ActorID, Gen: t.Generation}, c.open(kWake, nil))
	if err != nil {
		return err
	}
	return res.Err.err()
}

// QueueSend implements hostapi.Host.
func (c *Client) QueueSend(ctx context.Context, req hostapi.QueueSendRequest) (hostapi.QueueSendResponse, error) {
	f := &frame{Actor: req.ActorID, Gen: req.Generation, Name: req.Queue, Data: req.Body, Binary: req.Wait}
	if req.Timeout > 0 {
		f.N = uint64(req.Timeout.Milliseconds())
	}
	res, err := c.call(ctx, f, c.open(kQueueSend, nil))
	if err != nil {
		return hostapi.QueueSendResponse{}, err
	}
	if res.Err != nil {
		return hostapi.QueueSendResponse{}, res.Err.err()
	}
	return hostapi.QueueSendResponse{Completed: res.Status == 1, Response: res.Data}, nil
}

// Inspect implements hostapi.Host like Request, served by the actor's inspector.
func (c *Client) Inspect(ctx context.Context, t hostapi.Target, w http.ResponseWriter, r *http.Request) error {
	return c.request(ctx, kInspect, t, w, r)
}

// Request implements hostapi.Host. The body is read (at most MaxBodySize)
// and r.Body is replaced by a reader of the same bytes, so a caller may
// retry with r. The response is written to w only on success.
func (c *Client) Request(ctx context.Context, t hostapi.Target, w http.ResponseWriter, r *http.Request) error {
	return c.request(ctx, kRequest, t, w, r)
}

func (c *Client) request(ctx context.Context, k kind, t hostapi.Target, w http.ResponseWriter, r *http.Request) error {
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(r.Body, c.lim.maxBody+1))
		if err != nil {
			return errs.InvalidRequest("reading the request body: %v", err)
		}
		if int64(len(b)) > c.lim.maxBody {
			return errs.IncomingTooLong(c.lim.maxBody)
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	st := c.open(k, func(st *cstream) {
		if k == kRequest {
			st.chunks = make(chan *frame, 1)
		}
	})
	started := false
	res, err := c.callStreaming(ctx, &frame{
		Actor: t.ActorID, Gen: t.Generation, Name: r.Method,
		Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header, Host: r.Host, Data: body, Remote: r.RemoteAddr,
	}, st, func(ch *frame) error {
		// A flushed part of the response: to the client, then the ack.
		if !started {
			started = true
			h := w.Header()
			for k, v := range ch.Header {
				h[k] = v
			}
			status := ch.Status
			if status == 0 {
				status = http.StatusOK
			}
			w.WriteHeader(status)
		}
		if len(ch.Data) > 0 {
			if _, err := w.Write(ch.Data); err != nil {
				return err
			}
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			return err
		}
		return c.l.send(ctx, &frame{S: st.id, K: kRespAck}, &st.pend, putWait)
	})
	if started {
		// Status and headers are out: the rest of the body, if any; an
		// error now can only end the stream.
		if err == nil && res.Err == nil && len(res.Data) > 0 {
			_, _ = w.Write(res.Data)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if res.Err != nil {
		return res.Err.err()
	}
	h := w.Header()
	for k, v := range res.Header {
		h[k] = v
	}
	status := res.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if len(res.Data) > 0 {
		_, _ = w.Write(res.Data)
	}
	return nil
}

// Connect implements hostapi.Host. What the actor sends arrives on sink in
// order, from the link's reader goroutine (so sink.Send must not block,
// as hostapi requires).
func (c *Client) Connect(ctx context.Context, req hostapi.ConnectRequest, sink hostapi.Sink) (hostapi.Conn, error) {
	st := c.open(kConnect, func(st *cstream) { st.sink = sink })
	f := &frame{Actor: req.ActorID, Gen: req.Generation, Params: req.Params}
	putRequestInfo(f, req.Request)
	res, err := c.call(ctx, f, st)
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err.err()
	}
	return &clientConn{c: c, st: st, id: res.Name}, nil
}

// clientConn is the gateway's handle of a connection hosted by a runner.
type clientConn struct {
	c      *Client
	st     *cstream
	id     string
	closed atomic.Bool
}

func (cc *clientConn) ID() string { return cc.id }

// Receive implements hostapi.Conn. It never blocks: when the stream's
// queue or the link's is full the connection is closed with
// actor/overloaded.
func (cc *clientConn) Receive(msg protocol.ToServer) {
	if cc.closed.Load() {
		return
	}
	st, c := cc.st, cc.c
	if int(st.pend.Load()) >= c.lim.streamQueue {
		st.closeSink(errs.Overloaded("link stream queue is full"))
		return
	}
	err := c.l.send(context.Background(), &frame{S: st.id, K: kConnRecv, ToS: &msg}, &st.pend, putTry)
	switch {
	case err == nil:
	case errors.Is(err, errQueueFull):
		st.closeSink(errs.Overloaded("link outbound queue is full"))
	case errors.Is(err, errFrameTooBig):
		st.closeSink(errs.IncomingTooLong(c.l.maxSend))
	}
	// A lost link closes the sink itself.
}

// Close implements hostapi.Conn.
func (cc *clientConn) Close() {
	if !cc.closed.CompareAndSwap(false, true) {
		return
	}
	cc.c.remove(cc.st)
	_ = cc.c.l.send(context.Background(), &frame{S: cc.st.id, K: kConnClose}, nil, putMust)
}

// cws is the gateway side of a raw WebSocket stream.
type cws struct {
	events   chan *frame   // kWSMsg/kWSClose from the runner, in order
	overflow chan struct{} // closed when events overflowed
	ovOnce   sync.Once
	done     chan struct{} // closed when the WebSocket call returns

	mu       sync.Mutex
	credits  int
	creditCh chan struct{} // cap 1
}

func (w *cws) event(c *Client, st *cstream, f *frame) {
	select {
	case w.events <- f:
	default:
		// The client does not keep up with the actor: close the socket
		// rather than buffer without bound or stall the link.
		w.ovOnce.Do(func() {
			close(w.overflow)
			_ = c.l.send(context.Background(), &frame{S: st.id, K: kWSClose, Status: int(websocket.StatusPolicyViolation), Reason: "actor.overloaded"}, nil, putMust)
		})
	}
}

func (w *cws) credit(n int) {
	if n <= 0 {
		return
	}
	w.mu.Lock()
	w.credits += n
	w.mu.Unlock()
	select {
	case w.creditCh <- struct{}{}:
	default:
	}
}

// take waits for one credit.
func (w *cws) take(ctx context.Context, lost <-chan struct{}) bool {
	for {
		w.mu.Lock()
		if w.credits > 0 {
			w.credits--
			w.mu.Unlock()
			return true
		}
		w.mu.Unlock()
		select {
		case <-w.creditCh:
		case <-ctx.Done():
			return false
		case <-lost:
			return false
		case <-w.done:
			return false
		}
	}
}

// WebSocket implements hostapi.Host. Messages from ws are forwarded only
// while the runner reads (credit-based flow control, so nothing is read
// from ws before the actor has accepted the socket). It returns when the
// runner's WebSocket call returns; the caller then closes ws, which also
// ends the goroutine reading it.
func (c *Client) WebSocket(ctx context.Context, t hostapi.Target, r *http.Request, ws hostapi.MessageConn) error {
	w := &cws{
		events: make(chan *frame, c.lim.streamQueue), overflow: make(chan struct{}),
		done: make(chan struct{}), creditCh: make(chan struct{}, 1),
	}
	st := c.open(kWebSocket, func(st *cstream) { st.ws = w })
	defer close(w.done)
	f := &frame{Actor: t.ActorID, Gen: t.Generation, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header, Host: r.Host, Remote: r.RemoteAddr,
		Place: hostapi.SelfPlace(ctx)}
	if dl, ok := ctx.Deadline(); ok {
		f.Timeout = int64(time.Until(dl))
		if f.Timeout <= 0 {
			c.remove(st)
			return context.DeadlineExceeded
		}
	}
	f.S, f.K = st.id, kWebSocket
	if err := c.l.send(ctx, f, nil, putWait); err != nil {
		c.remove(st)
		if errors.Is(err, errFrameTooBig) {
			return errs.IncomingTooLong(c.l.maxSend)
		}
		return err
	}
	go c.pumpWS(ctx, st, ws)
	overflow := w.overflow
	for {
		select {
		case ev := <-w.events:
			c.wsEvent(ctx, st, ws, ev)
		case <-overflow:
			_ = ws.Close(int(websocket.StatusPolicyViolation), "actor.overloaded")
			overflow = nil
		case res := <-st.res:
			// Messages and the close sent before the result go first.
		drain:
			for {
				select {
				case ev := <-w.events:
					c.wsEvent(ctx, st, ws, ev)
				default:
					break drain
				}
			}
			return res.Err.err()
		case <-ctx.Done():
			if res, ok := c.abandon(st); ok {
				return res.Err.err()
			}
			_ = c.l.send(context.Background(), &frame{S: st.id, K: kCancel}, nil, putMust)
			return ctx.Err()
		case <-c.l.done:
			if res, ok := c.abandon(st); ok {
				return res.Err.err()
			}
			return c.l.lostErr()
		}
	}
}

func (c *Client) wsEvent(ctx context.Context, st *cstream, ws hostapi.MessageConn, ev *frame) {
	switch ev.K {
	case kWSMsg:
		if err := ws.Write(ctx, ev.Binary, ev.Data); err != nil {
			// The client is gone: tell the actor.
			_ = c.l.send(context.Background(), &frame{S: st.id, K: kWSClose, Status: int(websocket.StatusGoingAway)}, nil, putMust)
		}
	case kWSClose:
		_ = ws.Close(ev.Status, ev.Reason)
	}
}

// pumpWS forwards the client's messages to the runner, one per credit.
func (c *Client) pumpWS(ctx context.Context, st *cstream, ws hostapi.MessageConn) {
	w := st.ws
	for {
		if !w.take(ctx, c.l.done) {
			return
		}
		binary, data, err := ws.Read(ctx)
		if err != nil {
			code, reason := websocket.StatusNoStatusRcvd, ""
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				code, reason = ce.Code, ce.Reason
			}
			_ = c.l.send(context.Background(), &frame{S: st.id, K: kWSClose, Status: int(code), Reason: reason}, nil, putMust)
			return
		}
		err = c.l.send(ctx, &frame{S: st.id, K: kWSMsg, Binary: binary, Data: data}, &st.pend, putTry)
		var code websocket.StatusCode
		var reason string
		switch {
		case err == nil:
			continue
		case errors.Is(err, errFrameTooBig):
			code, reason = websocket.StatusMessageTooBig, "message.incoming_too_long"
		case errors.Is(err, errQueueFull):
			code, reason = websocket.StatusPolicyViolation, "actor.overloaded"
		default:
			return // link lost: the WebSocket call reports it
		}
		_ = ws.Close(int(code), reason)
		_ = c.l.send(context.Background(), &frame{S: st.id, K: kWSClose, Status: int(code), Reason: reason}, nil, putMust)
		return
	}
}
