package runner

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/store"
)

// bufferedResponse collects what onRequest writes so the response can wait
// behind the commit of the request's changes (the output gate). Flush (the
// handler streams, e.g. server-sent events) is a wait point: what was
// written so far leaves after the commit covering the state as of the
// flush, and the handler goes on once the host has taken it (the client,
// or the link's acknowledgement: back-pressure). The buffer is bounded
// between flushes by limit.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
	limit  int
	over   bool

	// Streaming: set for a raw request; nil for the inspector.
	in      *Instance
	ctx     context.Context
	w       *guardedWriter // the host's writer
	started bool           // status and headers went out
	err     error          // a failed flush: the client is gone
}

// guardedWriter is the host's ResponseWriter as a streaming handler's
// flushes use it: from the task's goroutine, until the request's caller
// returns (after which the writer must not be touched).
type guardedWriter struct {
	mu     sync.Mutex
	w      http.ResponseWriter
	closed bool
}

var errResponseDone = errors.New("runner: the response is finished")

// chunk writes the status and headers (first), then data, and flushes it
// to the client.
func (g *guardedWriter) chunk(first bool, hdr http.Header, status int, data []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return errResponseDone
	}
	if first {
		dst := g.w.Header()
		for k, v := range hdr {
			dst[k] = v
		}
		g.w.WriteHeader(status)
	}
	if len(data) > 0 {
		if _, err := g.w.Write(data); err != nil {
			return err
		}
	}
	return http.NewResponseController(g.w).Flush()
}

// close ends the writer's use by flushes.
func (g *guardedWriter) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// Flush implements http.Flusher.
func (b *bufferedResponse) Flush() {
	if b.in == nil || b.err != nil || b.over {
		return
	}
	status := b.status
	if status == 0 {
		status = http.StatusOK
		b.status = status
	}
	chunk := bytes.Clone(b.body.Bytes())
	b.body.Reset()
	first := !b.started
	b.started = true
	var hdr http.Header
	if first {
		hdr = b.header.Clone()
	}
	w := b.w
	err := b.in.await(b.ctx, func(ctx context.Context, gate *store.Pending) error {
		if gate != nil {
			if err := waitPending(ctx, gate); err != nil {
				return err
			}
		}
		return w.chunk(first, hdr, status, chunk)
	})
	if err != nil {
		b.err = err
	}
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if b.body.Len()+len(p) > b.limit {
		b.over = true
		return 0, errs.OutgoingTooLong(int64(b.limit))
	}
	return b.body.Write(p)
}

// request serves raw HTTP through onRequest.
func (in *Instance) request(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	type result struct {
		resp *bufferedResponse
		err  error
	}
	res := make(chan result, 1)
	gw := &guardedWriter{w: w}
	defer gw.close()
	var streamed atomic.Bool
	err := in.enqueue(task{
		wait: true,
		run: func() {
			h := in.cur
			tctx, cancel := in.taskContext(context.Background(), in.actionTimeout())
			defer cancel()
			// A client that goes away cancels the handler.
			defer context.AfterFunc(ctx, cancel)()
			resp := &bufferedResponse{header: http.Header{}, limit: in.rt.limits.MaxRawBody, in: in, ctx: tctx, w: gw}
			var handled bool
			err := in.hook(func() error {
				handled = in.beh.Request(tctx, resp, r.WithContext(tctx))
				return nil
			})
			streamed.Store(resp.started)
			if !h.holding() {
				res <- result{nil, errs.Stopping()}
				return
			}
			if err == nil && !handled {
				err = errs.RequestHandlerNotFound()
			}
			if err == nil && resp.over {
				err = errs.OutgoingTooLong(int64(resp.limit))
			}
			_, ferr := in.flush()
			if err == nil && ferr != nil {
				err = ferr
			}
			in.pump.push(in.gate, []delivery{{fn: func(gerr error) {
				if gerr != nil {
					res <- result{nil, errs.FromStore(gerr)}
					return
				}
				res <- result{resp, err}
			}}})
		},
		abort: func(e error) { res <- result{nil, e} },
	})
	if err != nil {
		return err
	}
	select {
	case r := <-res:
		if r.err != nil {
			if streamed.Load() {
				return nil // the status is out; the stream just ends
			}
			return r.err
		}
		gw.close()
		if r.resp.started {
			// Streamed: status and headers are out; the rest follows.
			if r.resp.err == nil && r.resp.body.Len() > 0 {
				_, _ = w.Write(r.resp.body.Bytes())
			}
			return nil
		}
		for k, v := range r.resp.header {
			w.Header()[k] = v
		}
		if r.resp.status == 0 {
			r.resp.status = http.StatusOK
		}
		w.WriteHeader(r.resp.status)
		_, _ = w.Write(r.resp.body.Bytes())
		return nil
	case <-ctx.Done():
		return errs.ActionTimedOut()
	}
}

// WebSocket is a raw WebSocket opened at the actor's /websocket/... path.
type WebSocket struct {
	in        *Instance
	mc        hostapi.MessageConn
	req       *http.Request
	onMessage func(binary bool, data []byte)
	onClose   func()

	mu     sync.Mutex
	out    chan wsFrame
	closed bool
}

type wsFrame struct {
	binary bool
	data   []byte
}

const wsOutbox = 256

// Request returns the HTTP request that opened the socket (path after
// /websocket, query and headers).
func (ws *WebSocket) Request() *http.Request { return ws.req }

// OnMessage sets the handler for incoming messages; it runs on the mailbox.
func (ws *WebSocket) OnMessage(fn func(binary bool, data []byte)) { ws.onMessage = fn }

// OnClose sets the handler run (on the mailbox) when the socket closes.
func (ws *WebSocket) OnClose(fn func()) { ws.onClose = fn }

// Send sends a message. It leaves after the commit of the running task.
func (ws *WebSocket) Send(binary bool, data []byte) {
	ws.in.emit(delivery{ws: ws, binary: binary, data: bytes.Clone(data)})
}

// Close closes the socket.
func (ws *WebSocket) Close(code int, reason string) {
	_ = ws.mc.Close(code, reason)
}

// enqueueWrite hands a frame to the socket's writer; a client that does not
// keep up is disconnected rather than buffered without bound.
func (ws *WebSocket) enqueueWrite(binary bool, data []byte) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.closed {
		return
	}
	select {
	case ws.out <- wsFrame{binary, data}:
	default:
		_ = ws.mc.Close(1008, "message.outbox_full")
	}
}

func (ws *WebSocket) writeLoop(ctx context.Context) {
	for f := range ws.out {
		if err := ws.mc.Write(ctx, f.binary, f.data); err != nil {
			_ = ws.mc.Close(1011, "write failed")
		}
	}
}

func (in *Instance) openWebSocket(ctx context.Context, r *http.Request, mc hostapi.MessageConn) (*WebSocket, error) {
	ws := &WebSocket{in: in, mc: mc, req: r, out: make(chan wsFrame, wsOutbox)}
	res := make(chan error, 1)
	err := in.enqueue(task{
		run: func() {
			var handled bool
			err := in.hook(func() error {
				handled = in.beh.WebSocket(in.lifetime(), ws)
				return nil
			})
			if err == nil && !handled {
				err = errs.WebSocketHandlerNotFound()
			}
			if err == nil {
				in.mu.Lock()
				in.holds++
				in.mu.Unlock()
			}
			_, _ = in.flush()
			res <- err
		},
		abort: func(e error) { res <- e },
	})
	if err != nil {
		return nil, err
	}
	select {
	case err := <-res:
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, errs.Starting()
	}
	go ws.writeLoop(in.lifetime())
	return ws, nil
}

// readLoop feeds incoming messages to the mailbox until the socket closes.
func (ws *WebSocket) readLoop(ctx context.Context) {
	in := ws.in
	defer func() {
		ws.mu.Lock()
		ws.closed = true
		close(ws.out)
		ws.mu.Unlock()
		release := func() {
			in.mu.Lock()
			in.holds--
			in.mu.Unlock()
		}
		err := in.enqueue(task{
			run: func() {
				release()
				if ws.onClose != nil {
					_ = in.hook(func() error { ws.onClose(); return nil })
				}
				_, _ = in.flush()
			},
			abort: func(error) { release() },
		})
		if err != nil {
			release()
		}
	}()
	for {
		binary, data, err := ws.mc.Read(ctx)
		if err != nil {
			return
		}
		err = in.enqueue(task{
			run: func() {
				if ws.onMessage != nil {
					_ = in.hook(func() error { ws.onMessage(binary, data); return nil })
				}
				_, _ = in.flush()
			},
			abort: func(error) {},
		})
		if err != nil {
			_ = ws.mc.Close(1012, "actor.stopping")
			return
		}
	}
}
