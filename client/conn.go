package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/rivetkube/rivetkube/internal/protocol"
)

// Defaults of the connection options.
const (
	DefaultEventQueueSize    = 1024
	DefaultReconnectMinDelay = 250 * time.Millisecond
	DefaultReconnectMaxDelay = 30 * time.Second
)

const (
	// writeTimeout bounds one WebSocket write; a stuck write closes the
	// socket, which then reconnects.
	writeTimeout = 30 * time.Second
	// attemptTimeout bounds one connection attempt, from dialing until the
	// server's Init message.
	attemptTimeout = 60 * time.Second
)

// ConnOption configures a Conn.
type ConnOption func(*connOptions)

type connOptions struct {
	onOpen        func()
	onClose       func(error)
	onError       func(error)
	queueSize     int
	minDelay      time.Duration
	maxDelay      time.Duration
	maxReconnects int
}

// WithOnOpen sets a callback run each time the connection is established,
// on the first connect and after every reconnection.
func WithOnOpen(fn func()) ConnOption {
	return func(o *connOptions) { o.onOpen = fn }
}

// WithOnClose sets a callback run each time an established connection is
// lost unexpectedly; err is the cause (an *ActorError for a structured close
// reason). It is not run for Close.
func WithOnClose(fn func(err error)) ConnOption {
	return func(o *connOptions) { o.onClose = fn }
}

// WithOnError sets a callback for errors not tied to one call: Error
// messages without an action id, structured close reasons, dropped events
// (ErrEventsDropped), and the final error when reconnecting gives up.
func WithOnError(fn func(err error)) ConnOption {
	return func(o *connOptions) { o.onError = fn }
}

// WithEventQueueSize sets how many received events may wait for their
// listeners (default DefaultEventQueueSize). When listeners fall this far
// behind, further events are dropped and ErrEventsDropped is reported to
// the error callback, so that a slow listener never stalls the connection.
func WithEventQueueSize(n int) ConnOption {
	return func(o *connOptions) { o.queueSize = n }
}

// WithReconnect sets the reconnection backoff: the delay before attempt n
// (from 0) is min·2ⁿ capped at max, with jitter taking off up to half.
// maxAttempts > 0 gives up after that many failed attempts in a row; 0
// (the default) retries until Close. Errors that retrying cannot fix (for
// example an unknown actor) end the connection at once.
func WithReconnect(minDelay, maxDelay time.Duration, maxAttempts int) ConnOption {
	return func(o *connOptions) { o.minDelay, o.maxDelay, o.maxReconnects = minDelay, maxDelay, maxAttempts }
}

// Conn is a stateful WebSocket connection to an actor: it calls actions
// and receives the events it subscribed to. It is safe for concurrent use.
//
// After an unexpected close it reconnects with backoff and resubscribes to
// all events; calls in flight at that moment fail with ErrConnectionLost,
// while calls made while disconnected wait for the new connection (bounded
// by their context).
//
// Listeners and the OnOpen, OnClose and OnError callbacks run one at a time,
// in the order the messages were received, on a goroutine of the Conn; they
// may call any Conn method. See WithEventQueueSize for what happens when
// they are slow.
type Conn struct {
	h    *Handle
	c    *Client
	opts connOptions

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	mu       sync.Mutex
	sess     *session      // nil while disconnected
	ready    chan struct{} // closed once sess is set; replaced when it is lost
	nextID   uint64
	actorID  string // from the latest Init
	closed   bool   // Close was called or reconnecting gave up
	closeErr error  // what Action returns once closed
	done     chan struct{}

	// subMu guards subs and serializes subscription messages, so that the
	// server sees subscribe and unsubscribe in the order listeners change.
	subMu sync.Mutex
	subs  map[string][]*listener

	userClosed atomic.Bool // Close was called: no more callbacks

	qmu     sync.Mutex
	queue   []dispatchItem
	dropped int
	qsignal chan struct{}

	wg sync.WaitGroup // the network goroutine
}

// session is one WebSocket between Init and its close.
type session struct {
	ws       *websocket.Conn
	pending  map[uint64]chan actionResult // guarded by Conn.mu; nil once ended
	actorID  string
	connID   string
	isBinary bool
}

type actionResult struct {
	output []byte
	err    error
}

type listener struct {
	fn     func(RawArgs)
	active atomic.Bool
}

// dispatchItem is a callback invocation waiting for the dispatch goroutine.
type dispatchItem struct {
	kind  int // itemEvent, itemOpen, itemClose, itemError
	event string
	args  []byte
	err   error
}

const (
	itemEvent = iota
	itemOpen
	itemClose
	itemError
)

// Connect opens a connection to the actor and waits until the server
// accepted it (its Init message arrived). ctx bounds only this initial
// connection, which is retried like actions when the gateway says the actor
// is not ready; each attempt is also limited to one minute. Close the Conn
// when done.
func (h *Handle) Connect(ctx context.Context, opts ...ConnOption) (*Conn, error) {
	if h.err != nil {
		return nil, h.err
	}
	o := connOptions{
		queueSize: DefaultEventQueueSize,
		minDelay:  DefaultReconnectMinDelay,
		maxDelay:  DefaultReconnectMaxDelay,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.queueSize <= 0 {
		o.queueSize = DefaultEventQueueSize
	}
	if o.minDelay <= 0 {
		o.minDelay = DefaultReconnectMinDelay
	}
	if o.maxDelay < o.minDelay {
		o.maxDelay = o.minDelay
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		h:       h,
		c:       h.c,
		opts:    o,
		ctx:     cctx,
		cancel:  cancel,
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
		subs:    map[string][]*listener{},
		qsignal: make(chan struct{}, 1),
	}
	var s *session
	err := h.c.retry(ctx, func(err error) bool { return retryableError(h.kind, err, true) }, func() error {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		defer cancel()
		var err error
		s, err = c.dial(actx)
		return err
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("client: connect: %w", err)
	}
	c.install(s) // no listeners yet: nothing to resubscribe
	c.enqueue(dispatchItem{kind: itemOpen})
	c.wg.Add(1)
	go c.run(s)
	go c.dispatch()
	return c, nil
}

// ActorID returns the ID of the actor, as reported by the server's latest
// Init message. A GetOrCreate handle may reconnect to a new actor after the
// old one was destroyed.
func (c *Conn) ActorID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.actorID
}

// ConnectionID returns the server's ID of the current connection, or "" while
// disconnected. It changes on reconnection.
func (c *Conn) ConnectionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != nil {
		return c.sess.connID
	}
	return ""
}

// Done returns a channel that is closed when the Conn is closed for good,
// by Close or because reconnecting failed. Err then tells why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns nil while the Conn is usable, and afterwards an error wrapping
// ErrConnClosed (and the cause, if reconnecting failed).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// Action calls the action name with args over the connection and decodes
// its output into out unless out is nil. While the connection is being
// re-established the call waits for it, bounded by ctx. Actions are not
// retried: if the connection is lost after the request was sent, the error
// wraps ErrConnectionLost.
func (c *Conn) Action(ctx context.Context, name string, out any, args ...any) error {
	argData, err := encodeArgs(args)
	if err != nil {
		return fmt.Errorf("client: action %q: %w", name, err)
	}
	for {
		c.mu.Lock()
		if c.closed {
			err := c.closeErr
			c.mu.Unlock()
			return fmt.Errorf("client: action %q: %w", name, err)
		}
		s := c.sess
		if s == nil {
			ready := c.ready
			c.mu.Unlock()
			select {
			case <-ready:
				continue
			case <-c.done:
				continue
			case <-ctx.Done():
				return fmt.Errorf("client: action %q: waiting for connection: %w", name, ctx.Err())
			}
		}
		id := c.nextID
		c.nextID++
		ch := make(chan actionResult, 1)
		s.pending[id] = ch
		c.mu.Unlock()

		err := c.write(s, protocol.ToServer{Action: &protocol.ActionRequest{ID: id, Name: name, Args: argData}})
		if err != nil {
			c.forget(s, id)
			return fmt.Errorf("client: action %q: %w: %w", name, ErrConnectionLost, err)
		}
		select {
		case r := <-ch:
			if r.err != nil {
				return fmt.Errorf("client: action %q: %w", name, r.err)
			}
			if err := decodeValue(r.output, out); err != nil {
				return fmt.Errorf("client: action %q: %w", name, err)
			}
			return nil
		case <-ctx.Done():
			c.forget(s, id)
			return fmt.Errorf("client: action %q: %w", name, ctx.Err())
		}
	}
}

// forget drops a pending call.
func (c *Conn) forget(s *session, id uint64) {
	c.mu.Lock()
	delete(s.pending, id)
	c.mu.Unlock()
}

// On adds a listener for the event name and returns a function that removes
// it. The connection subscribes to the event when its first listener is
// added and unsubscribes when the last one is removed; subscriptions are
// renewed after every reconnection. Once unsubscribe returns, fn is not
// called again (unless it is running at that moment).
func (c *Conn) On(event string, fn func(args RawArgs)) (unsubscribe func()) {
	l := &listener{fn: fn}
	l.active.Store(true)
	c.subMu.Lock()
	first := len(c.subs[event]) == 0
	c.subs[event] = append(c.subs[event], l)
	if first {
		c.sendSubscription(event, true)
	}
	c.subMu.Unlock()

	var once sync.Once
	return func() {
		once.Do(func() {
			l.active.Store(false)
			c.subMu.Lock()
			defer c.subMu.Unlock()
			ls := c.subs[event]
			i := slices.Index(ls, l)
			if i < 0 {
				return
			}
			ls = append(ls[:i:i], ls[i+1:]...)
			if len(ls) > 0 {
				c.subs[event] = ls
				return
			}
			delete(c.subs, event)
			c.sendSubscription(event, false)
		})
	}
}

// sendSubscription tells the server about a subscription change if
// connected; otherwise the next connection sends the full set. The caller
// holds subMu. A failed write means the socket is going away; the
// reconnection resubscribes.
func (c *Conn) sendSubscription(event string, subscribe bool) {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s == nil {
		return
	}
	_ = c.write(s, protocol.ToServer{Subscription: &protocol.SubscriptionRequest{EventName: event, Subscribe: subscribe}})
}

// Close closes the connection with status 1000 "Disposed" and stops its
// goroutines. Calls waiting on the Conn fail with ErrConnClosed. After Close
// returns no listener or callback starts; one already running may still be
// finishing (Close may be called from a listener). Close is idempotent and
// always returns nil.
func (c *Conn) Close() error {
	c.userClosed.Store(true)
	c.mu.Lock()
	if c.closed && c.ctx.Err() != nil {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	if !c.closed {
		c.closed = true
		c.closeErr = ErrConnClosed
		close(c.done)
	}
	s := c.sess
	c.mu.Unlock()
	if s != nil {
		// Bounded by the websocket library's close handshake timeouts.
		_ = s.ws.Close(websocket.StatusNormalClosure, "Disposed")
	}
	c.cancel()
	c.wg.Wait()
	c.signal()
	return nil
}

// terminate closes the Conn for good because reconnecting failed.
func (c *Conn) terminate(cause error) {
	err := fmt.Errorf("%w: %w", ErrConnClosed, cause)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.closeErr = err
	c.mu.Unlock()
	// Queue the report before closing done: the dispatch goroutine exits
	// once done is closed and its queue is empty.
	c.enqueue(dispatchItem{kind: itemError, err: err})
	close(c.done)
	c.cancel()
}

// dial opens a WebSocket and waits for Init. It does not install the
// session.
func (c *Conn) dial(ctx context.Context) (*session, error) {
	u, err := c.h.gatewayURL(ctx, "/connect")
	if err != nil {
		return nil, err
	}
	ws, resp, err := websocket.Dial(ctx, u, c.h.dialOptions(c.c.encoding))
	if err != nil {
		return nil, handshakeError(resp, err, c.c.enc)
	}
	ws.SetReadLimit(c.c.maxMessage)
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			ws.CloseNow()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, closeCause(err)
		}
		msg, err := protocol.DecodeToClient(c.c.enc, data)
		if err != nil {
			ws.Close(websocket.StatusUnsupportedData, "malformed message")
			return nil, fmt.Errorf("malformed message from server: %w", err)
		}
		switch {
		case msg.Init != nil:
			return &session{
				ws:       ws,
				pending:  map[uint64]chan actionResult{},
				actorID:  msg.Init.ActorID,
				connID:   msg.Init.ConnectionID,
				isBinary: c.c.enc.Binary(),
			}, nil
		case msg.Error != nil && msg.Error.ActionID == nil:
			ws.Close(websocket.StatusNormalClosure, "")
			return nil, messageError(msg.Error)
		}
		// Nothing else is expected before Init; ignore it.
	}
}

// install resubscribes to all events on a new session and then makes it the
// current one, which releases waiting actions.
func (c *Conn) install(s *session) error {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	for event := range c.subs {
		if err := c.write(s, protocol.ToServer{Subscription: &protocol.SubscriptionRequest{EventName: event, Subscribe: true}}); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrConnClosed
	}
	c.sess = s
	c.actorID = s.actorID
	close(c.ready)
	return nil
}

// write sends one message on s.
func (c *Conn) write(s *session, m protocol.ToServer) error {
	frame, err := protocol.EncodeToServer(c.c.enc, m)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	typ := websocket.MessageText
	if s.isBinary {
		typ = websocket.MessageBinary
	}
	ctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
	defer cancel()
	return s.ws.Write(ctx, typ, frame)
}

// run is the network goroutine: it reads from the current session and
// reconnects when the session ends, until Close or giving up.
func (c *Conn) run(s *session) {
	defer c.wg.Done()
	for {
		cause := c.readLoop(s)
		closing := c.isClosed()
		c.endSession(s, cause, closing)
		if closing {
			s.ws.CloseNow()
			return
		}
		c.enqueue(dispatchItem{kind: itemClose, err: cause})
		var ae *ActorError
		if errors.As(cause, &ae) {
			c.enqueue(dispatchItem{kind: itemError, err: ae})
		}
		if s = c.reconnect(); s == nil {
			return
		}
	}
}

func (c *Conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// readLoop handles messages of s until it fails, and returns the cause.
func (c *Conn) readLoop(s *session) error {
	for {
		_, data, err := s.ws.Read(c.ctx)
		if err != nil {
			return closeCause(err)
		}
		msg, err := protocol.DecodeToClient(c.c.enc, data)
		if err != nil {
			// The stream can no longer be trusted: start over.
			s.ws.Close(websocket.StatusUnsupportedData, "malformed message")
			return fmt.Errorf("malformed message from server: %w", err)
		}
		switch {
		case msg.ActionResponse != nil:
			c.complete(s, msg.ActionResponse.ID, actionResult{output: msg.ActionResponse.Output})
		case msg.Error != nil && msg.Error.ActionID != nil:
			c.complete(s, *msg.Error.ActionID, actionResult{err: messageError(msg.Error)})
		case msg.Error != nil:
			// A connection-level error fails every call in flight.
			ae := messageError(msg.Error)
			c.failPending(s, ae)
			c.enqueue(dispatchItem{kind: itemError, err: ae})
		case msg.Event != nil:
			c.enqueue(dispatchItem{kind: itemEvent, event: msg.Event.Name, args: msg.Event.Args})
		case msg.Init != nil:
			c.mu.Lock()
			s.actorID, s.connID = msg.Init.ActorID, msg.Init.ConnectionID
			if c.sess == s {
				c.actorID = s.actorID
			}
			c.mu.Unlock()
		}
	}
}

// complete delivers the result of call id, if it is still waiting.
func (c *Conn) complete(s *session, id uint64, r actionResult) {
	c.mu.Lock()
	ch, ok := s.pending[id]
	delete(s.pending, id)
	c.mu.Unlock()
	if ok {
		ch <- r
	}
}

// failPending fails every call in flight on s with err.
func (c *Conn) failPending(s *session, err error) {
	c.mu.Lock()
	pending := s.pending
	s.pending = map[uint64]chan actionResult{}
	c.mu.Unlock()
	for _, ch := range pending {
		ch <- actionResult{err: err}
	}
}

// endSession detaches s and fails its calls in flight.
func (c *Conn) endSession(s *session, cause error, closing bool) {
	c.mu.Lock()
	if c.sess == s {
		c.sess = nil
		c.ready = make(chan struct{})
	}
	pending := s.pending
	s.pending = nil
	closeErr := c.closeErr
	c.mu.Unlock()
	err := fmt.Errorf("%w: %w", ErrConnectionLost, cause)
	if closing {
		err = closeErr
	}
	for _, ch := range pending {
		ch <- actionResult{err: err}
	}
}

// reconnect re-establishes the connection with backoff. It returns nil when
// the Conn was closed or gave up.
func (c *Conn) reconnect() *session {
	var lastErr error
	for attempt := 0; ; attempt++ {
		if c.opts.maxReconnects > 0 && attempt >= c.opts.maxReconnects {
			c.terminate(fmt.Errorf("reconnect failed after %d attempts: %w", attempt, lastErr))
			return nil
		}
		t := time.NewTimer(c.backoff(attempt))
		select {
		case <-c.ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(c.ctx, attemptTimeout)
		s, err := c.dial(ctx)
		cancel()
		if err == nil {
			if err = c.install(s); err == nil {
				c.enqueue(dispatchItem{kind: itemOpen})
				return s
			}
			s.ws.CloseNow()
		}
		if c.ctx.Err() != nil {
			return nil
		}
		if !c.reconnectable(err) {
			c.terminate(fmt.Errorf("reconnect: %w", err))
			return nil
		}
		lastErr = err
	}
}

// reconnectable reports whether a failed reconnection attempt may be
// repeated: transport failures and gateway errors saying the actor is not
// ready are; errors such as an unknown actor or a refused token are not.
func (c *Conn) reconnectable(err error) bool {
	var ae *ActorError
	if errors.As(err, &ae) {
		return retryableError(c.h.kind, err, true)
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.StatusCode >= 500 || he.StatusCode == 429 || he.StatusCode == 408
	}
	return true
}

// backoff returns the jittered delay before reconnection attempt n.
func (c *Conn) backoff(n int) time.Duration {
	d := c.opts.maxDelay
	if n < 30 {
		if e := c.opts.minDelay << n; e > 0 && e < d {
			d = e
		}
	}
	half := d / 2
	return half + rand.N(half+1)
}

// enqueue hands an item to the dispatch goroutine. Events beyond the queue
// size are dropped and counted. Error reports get some extra room, and
// open/close notifications (at most one pair per reconnection) are never
// dropped.
func (c *Conn) enqueue(it dispatchItem) {
	c.qmu.Lock()
	if it.kind == itemEvent && len(c.queue) >= c.opts.queueSize {
		c.dropped++
		c.qmu.Unlock()
		return
	}
	if it.kind == itemError && len(c.queue) >= 2*c.opts.queueSize {
		c.qmu.Unlock()
		return
	}
	c.queue = append(c.queue, it)
	c.qmu.Unlock()
	c.signal()
}

func (c *Conn) signal() {
	select {
	case c.qsignal <- struct{}{}:
	default:
	}
}

// pop takes the next item, and the number of events dropped so far.
func (c *Conn) pop() (dispatchItem, bool, int) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	dropped := c.dropped
	c.dropped = 0
	if len(c.queue) == 0 {
		return dispatchItem{}, false, dropped
	}
	it := c.queue[0]
	c.queue[0] = dispatchItem{}
	c.queue = c.queue[1:]
	return it, true, dropped
}

// dispatch is the goroutine that runs listeners and callbacks in order. It
// exits on Close, or once the Conn gave up and the queue is drained.
func (c *Conn) dispatch() {
	for {
		if c.userClosed.Load() {
			return
		}
		it, ok, dropped := c.pop()
		if dropped > 0 && c.opts.onError != nil {
			c.opts.onError(fmt.Errorf("%w: %d event(s)", ErrEventsDropped, dropped))
			if c.userClosed.Load() {
				return
			}
		}
		if !ok {
			select {
			case <-c.qsignal:
				continue
			case <-c.done:
				// Drain what the Conn queued before it gave up.
				if c.queueLen() == 0 {
					return
				}
				continue
			}
		}
		c.run1(it)
	}
}

func (c *Conn) queueLen() int {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return len(c.queue) + c.dropped
}

// run1 runs the callbacks of one item.
func (c *Conn) run1(it dispatchItem) {
	switch it.kind {
	case itemOpen:
		if c.opts.onOpen != nil {
			c.opts.onOpen()
		}
	case itemClose:
		if c.opts.onClose != nil {
			c.opts.onClose(it.err)
		}
	case itemError:
		if c.opts.onError != nil {
			c.opts.onError(it.err)
		}
	case itemEvent:
		c.subMu.Lock()
		ls := append([]*listener(nil), c.subs[it.event]...)
		c.subMu.Unlock()
		if len(ls) == 0 {
			return
		}
		args, err := newRawArgs(it.args)
		if err != nil {
			if c.opts.onError != nil {
				c.opts.onError(fmt.Errorf("client: event %q: %w", it.event, err))
			}
			return
		}
		for _, l := range ls {
			if c.userClosed.Load() {
				return
			}
			if l.active.Load() {
				l.fn(args)
			}
		}
	}
}
