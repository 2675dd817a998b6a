package runner

import (
	"bytes"
	"context"
	"net/http"
	"sync"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
)

// bufferedResponse collects what onRequest writes so the response can wait
// behind the commit of the request's changes (the output gate).
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
	limit  int
	over   bool
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
	err := in.enqueue(task{
		wait: true,
		run: func() {
			h := in.cur
			tctx, cancel := context.WithTimeout(in.lifetime, in.actionTimeout())
			defer cancel()
			resp := &bufferedResponse{header: http.Header{}, limit: in.rt.limits.MaxRawBody}
			var handled bool
			err := in.hook(func() error {
				handled = in.beh.Request(tctx, resp, r.WithContext(tctx))
				return nil
			})
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
			return r.err
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
				handled = in.beh.WebSocket(in.lifetime, ws)
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
	go ws.writeLoop(in.lifetime)
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
