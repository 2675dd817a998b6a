package runner

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/protocol"
)

// Conn is a client connection to an actor: a WebSocket opened with
// connect(), or the short-lived connection of an HTTP action that carried
// connection params.
type Conn struct {
	id     string
	in     *Instance
	params Raw
	state  any
	sink   hostapi.Sink // nil for the connection of an HTTP action
	subs   map[string]struct{}
	closed bool
	gone   atomic.Bool
	req    *hostapi.RequestInfo // the client request that opened it; nil when unknown
}

// ID returns the connection id.
func (c *Conn) ID() string { return c.id }

// Params returns the connection params the client sent (nil if none).
func (c *Conn) Params() Raw { return c.params }

// State returns the per-connection state from CreateConnState.
func (c *Conn) State() any { return c.state }

// SetState replaces the per-connection state.
func (c *Conn) SetState(v any) { c.state = v }

// Send sends an event to this connection only. It leaves after the commit
// of the running action, like every output.
func (c *Conn) Send(event string, args ...any) error {
	if c.sink == nil || c.closed {
		return nil
	}
	b, err := encodeArgs(args)
	if err != nil {
		return err
	}
	c.in.emit(delivery{conn: c, msg: protocol.ToClient{Event: &protocol.Event{Name: event, Args: b}}})
	return nil
}

// Disconnect closes the connection from the actor side.
func (c *Conn) Disconnect(reason string) {
	if c.closed {
		return
	}
	var err error
	if reason != "" {
		err = errs.Disconnected(reason)
	}
	c.in.closeConn(c, err, true)
}

// closeConn removes c from the actor (mailbox only) and runs onDisconnect.
func (in *Instance) closeConn(c *Conn, reason error, runHook bool) {
	if c.closed {
		return
	}
	c.closed = true
	delete(in.conns, c.id)
	if c.sink != nil {
		in.mu.Lock()
		in.holds--
		in.mu.Unlock()
		in.emit(delivery{conn: c, closing: true, closeConn: reason})
	}
	if runHook {
		_ = in.hook(func() error { in.beh.Disconnected(in.lifetime(), c); return nil })
	}
}

// openConn runs onBeforeConnect and createConnState and registers the
// connection (mailbox only).
func (in *Instance) openConn(ctx context.Context, params []byte, sink hostapi.Sink) (*Conn, error) {
	if sink != nil && len(in.conns) >= in.rt.limits.MaxConns {
		return nil, errs.Overloaded("too many connections")
	}
	c := &Conn{id: uuid.NewString(), in: in, params: Raw(params), sink: sink, subs: map[string]struct{}{}, req: hostapi.RequestFrom(ctx)}
	if err := in.hook(func() error { return in.beh.BeforeConnect(ctx, c.params) }); err != nil {
		return nil, toPublic(err)
	}
	var st any
	if err := in.hook(func() error {
		var err error
		st, err = in.beh.CreateConnState(ctx, c.params)
		return err
	}); err != nil {
		return nil, toPublic(err)
	}
	c.state = st
	if sink != nil {
		if in.conns == nil {
			in.conns = map[string]*Conn{}
		}
		in.conns[c.id] = c
		in.mu.Lock()
		in.holds++
		in.mu.Unlock()
		// Init is the first frame the client sees.
		in.emit(delivery{conn: c, msg: protocol.ToClient{Init: &protocol.Init{ActorID: in.id, ConnectionID: c.id}}})
	}
	_ = in.hook(func() error { in.beh.Connected(ctx, c); return nil })
	return c, nil
}

// connect opens a WebSocket connection on the mailbox.
func (in *Instance) connect(ctx context.Context, params []byte, info *hostapi.RequestInfo, sink hostapi.Sink) (hostapi.Conn, error) {
	type result struct {
		c   *Conn
		err error
	}
	res := make(chan result, 1)
	err := in.enqueue(task{
		run: func() {
			c, err := in.openConn(hostapi.WithRequest(in.lifetime(), info), params, sink)
			_, ferr := in.flush()
			if err == nil && ferr != nil {
				err = ferr
			}
			res <- result{c, err}
		},
		abort: func(e error) { res <- result{nil, e} },
	})
	if err != nil {
		return nil, err
	}
	select {
	case r := <-res:
		if r.err != nil {
			return nil, r.err
		}
		return &connHandle{c: r.c}, nil
	case <-ctx.Done():
		return nil, errs.Starting()
	}
}

// connHandle is the gateway's side of a Conn.
type connHandle struct{ c *Conn }

func (h *connHandle) ID() string { return h.c.id }

// Receive implements hostapi.Conn.
func (h *connHandle) Receive(msg protocol.ToServer) {
	c := h.c
	in := c.in
	switch {
	case msg.Subscription != nil:
		sub := *msg.Subscription
		_ = in.enqueue(task{
			run: func() {
				if sub.Subscribe {
					c.subs[sub.EventName] = struct{}{}
				} else {
					delete(c.subs, sub.EventName)
				}
			},
			abort: func(error) {},
		})
	case msg.Action != nil:
		req := *msg.Action
		reply := func(out []byte, err error) {
			if err != nil {
				pe := toPublic(err)
				id := req.ID
				c.sink.Send(protocol.ToClient{Error: &protocol.ErrorMessage{
					Group: pe.Group, Code: pe.Code, Message: pe.Message, Metadata: pe.Metadata,
					ActionID: &id, Actor: in.specifier(),
				}})
				return
			}
			c.sink.Send(protocol.ToClient{ActionResponse: &protocol.ActionResponse{ID: req.ID, Output: out}})
		}
		var answered atomic.Bool
		once := func(out []byte, err error) {
			if answered.CompareAndSwap(false, true) {
				reply(out, err)
			}
		}
		err := in.enqueue(task{
			wait: true,
			run: func() {
				if c.closed {
					return
				}
				h := in.cur
				actx, cancel := in.taskContext(context.Background(), in.actionTimeout())
				defer cancel()
				stop := context.AfterFunc(actx, func() {
					if actx.Err() == context.DeadlineExceeded {
						once(nil, errs.ActionTimedOut())
					}
				})
				defer stop()
				out, aerr := in.runAction(actx, c, req.Name, req.Args)
				if !h.holding() {
					once(nil, errs.Stopping())
					return
				}
				if aerr != nil && actx.Err() == context.DeadlineExceeded {
					aerr = errs.ActionTimedOut()
				}
				_, ferr := in.flush()
				if aerr == nil && ferr != nil {
					aerr = ferr
				}
				// The reply is an output like any other: it waits for the commit.
				in.pump.push(in.gate, []delivery{{fn: func(gerr error) {
					if gerr != nil {
						once(nil, errs.FromStore(gerr))
						return
					}
					once(out, aerr)
				}}})
			},
			abort: func(e error) { once(nil, errs.Stopping()) },
		})
		if err != nil {
			if err == errStopping {
				err = errs.Stopping()
			}
			once(nil, err)
		}
	}
}

// Close implements hostapi.Conn: the client went away.
func (h *connHandle) Close() {
	c := h.c
	c.gone.Store(true)
	_ = c.in.enqueue(task{
		run:   func() { c.in.closeConn(c, nil, true) },
		abort: func(error) {},
	})
}

func (in *Instance) specifier() *protocol.ActorSpecifier {
	key := protocol.SerializeKey(in.key)
	return &protocol.ActorSpecifier{ActorID: in.id, Generation: in.gen, Key: &key}
}

// runAction decodes args, runs the action and onBeforeActionResponse, and
// encodes the output (mailbox only).
func (in *Instance) runAction(ctx context.Context, c *Conn, name string, rawArgs []byte) ([]byte, error) {
	if !in.beh.HasAction(name) {
		return nil, errs.ActionNotFound(name)
	}
	args, err := decodeArgs(rawArgs)
	if err != nil {
		return nil, errs.Malformed("action arguments must be an array: %v", err)
	}
	var out any
	start := time.Now()
	err = in.hook(func() error {
		var err error
		out, err = in.beh.Action(ctx, c, name, args)
		return err
	})
	sp := span{Name: name, Kind: "action", Start: start, End: time.Now()}
	if err != nil {
		sp.Err = toPublic(err).Code
	}
	in.traces.add(sp)
	in.rt.metrics.Action(actionOutcome(err), sp.End.Sub(start))
	if err != nil {
		if pe := toPublic(err); errors.Is(pe, errs.ErrInternal) && !errors.Is(err, errActorPanicked) {
			in.logger().Warn("action failed", "action", name, "err", err)
		}
		return nil, toPublic(err)
	}
	if in.beh.HasBeforeResponse() {
		err = in.hook(func() error {
			var err error
			out, err = in.beh.BeforeResponse(ctx, name, args, out)
			return err
		})
		if err != nil {
			return nil, toPublic(err)
		}
	}
	b, err := Marshal(out)
	if err != nil {
		in.logger().Error("encode action output", "action", name, "err", err)
		return nil, errs.Internal()
	}
	return b, nil
}

// httpAction runs one stateless HTTP action and waits for its commit.
func (in *Instance) httpAction(ctx context.Context, req hostapi.ActionRequest) (_ []byte, err error) {
	ctx, span := in.startActionSpan(ctx, req.Name)
	defer func() { endSpan(span, err) }()
	actx, cancel := context.WithTimeout(ctx, in.actionTimeout())
	defer cancel()
	type result struct {
		out []byte
		err error
	}
	res := make(chan result, 1)
	err = in.enqueue(task{
		wait: true,
		run: func() {
			h := in.cur
			tctx, tcancel := in.taskContext(hostapi.WithRequest(context.Background(), req.Request), in.actionTimeout())
			defer tcancel()
			// Like RivetKit, every HTTP action runs on a short-lived
			// connection: onBeforeConnect and createConnState see its params.
			c, err := in.openConn(tctx, req.ConnParams, nil)
			var out []byte
			if err == nil {
				out, err = in.runAction(tctx, c, req.Name, req.Args)
				if !h.holding() {
					// The actor stopped while the action waited: what it
					// committed before stays; its reply never leaves.
					res <- result{nil, errs.Stopping()}
					return
				}
				_ = in.hook(func() error { in.beh.Disconnected(tctx, c); return nil })
			}
			if err != nil && tctx.Err() == context.DeadlineExceeded {
				err = errs.ActionTimedOut()
			}
			_, commitSpan := startCommitSpan(ctx)
			_, ferr := in.flush()
			if err == nil && ferr != nil {
				err = ferr
			}
			in.pump.push(in.gate, []delivery{{fn: func(gerr error) {
				endSpan(commitSpan, gerr)
				if gerr != nil {
					res <- result{nil, errs.FromStore(gerr)}
					return
				}
				res <- result{out, err}
			}}})
		},
		abort: func(e error) { res <- result{nil, e} },
	})
	if err != nil {
		return nil, err
	}
	select {
	case r := <-res:
		if r.err != nil && actx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			return nil, errs.ActionTimedOut()
		}
		return r.out, r.err
	case <-actx.Done():
		if ctx.Err() != nil {
			return nil, fmt.Errorf("client went away: %w", ctx.Err())
		}
		return nil, errs.ActionTimedOut()
	}
}
