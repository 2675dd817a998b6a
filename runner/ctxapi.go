package runner

import (
	"context"
	"log/slog"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/protocol"
	"github.com/rivetkube/rivetkube/internal/store"
)

// What the typed SDK's Ctx reaches through an *Instance. Every method is
// called on the goroutine that holds the actor (a mailbox task or the Run
// loop while it holds the actor), like the rest of the mailbox-owned state.

// ID returns the actor's id.
func (in *Instance) ID() string { return in.id }

// Actor returns the actor's id, name, key and generation (the rest of its
// directory row is not kept while it is awake). Its slices must not be
// modified.
func (in *Instance) Actor() store.Actor {
	return store.Actor{ID: in.id, Name: in.def.Name(), Key: in.key, Generation: in.gen}
}

// Vars returns the ephemeral vars.
func (in *Instance) Vars() any { return in.vars }

// SetVars replaces the ephemeral vars.
func (in *Instance) SetVars(v any) { in.vars = v }

// Conns returns the open WebSocket connections.
func (in *Instance) Conns() []*Conn {
	out := make([]*Conn, 0, len(in.conns))
	for _, cn := range in.conns {
		out = append(out, cn)
	}
	return out
}

// Broadcast sends an event to every connection subscribed to it; like
// every output it leaves after the commit covering the running task.
func (in *Instance) Broadcast(event string, args []any) error {
	b, err := encodeArgs(args)
	if err != nil {
		return err
	}
	for _, cn := range in.conns {
		if _, ok := cn.subs[event]; ok && !cn.closed {
			in.emit(delivery{conn: cn, msg: protocol.ToClient{Event: &protocol.Event{Name: event, Args: b}}})
		}
	}
	return nil
}

// KV returns the actor's key/value space for calls under ctx.
func (in *Instance) KV(ctx context.Context) *KV { return &KV{in: in, ctx: ctx} }

// RequestSleep asks for the actor to sleep once it is idle.
func (in *Instance) RequestSleep() { in.sleepWanted = true }

// RequestDestroy destroys the actor after the running task.
func (in *Instance) RequestDestroy() { in.destroyWanted = true }

// Client returns the engine client actors use to call each other.
func (in *Instance) Client() *client.Client { return in.rt.client() }

// Scheduler returns the actor's scheduler of durable calls.
func (in *Instance) Scheduler() *Scheduler { return &Scheduler{in: in} }

// Log returns the actor's logger (with its id).
func (in *Instance) Log() *slog.Logger { return in.logger() }

// InvalidArgument is the error of an action argument that does not decode
// into its declared type: actor/invalid_argument, HTTP 400.
func InvalidArgument(message string) error {
	return errs.InvalidArgument(message)
}

// RequestInfo returns the client request that opened the connection (nil
// when unknown).
func (c *Conn) RequestInfo() *hostapi.RequestInfo { return c.req }
