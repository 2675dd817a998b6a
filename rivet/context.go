package rivet

import (
	"context"
	"log/slog"
	"slices"

	"github.com/rivetkube/rivetkube/client"

	"github.com/rivetkube/rivetkube/internal/protocol"
)

// Ctx is what hooks and actions receive. It is a context.Context (cancelled
// when an action times out or the instance stops) and gives access to the
// actor's state, vars, connections, events and KV. A Ctx is used on the
// goroutine that received it, during the call.
type Ctx[S any] struct {
	context.Context
	in   *instance
	st   *S
	conn *Conn
}

// State returns the actor's state. Changes are committed after the action
// returns, and replies and events wait for that commit.
func (c *Ctx[S]) State() *S { return c.st }

// Vars returns the ephemeral vars from CreateVars (nil without it).
func (c *Ctx[S]) Vars() any { return c.in.vars }

// SetVars replaces the ephemeral vars.
func (c *Ctx[S]) SetVars(v any) { c.in.vars = v }

// ActorID returns the actor's id.
func (c *Ctx[S]) ActorID() string { return c.in.id }

// Name returns the actor's name.
func (c *Ctx[S]) Name() string { return c.in.actor.Name }

// Key returns the actor's key (a copy).
func (c *Ctx[S]) Key() []string { return slices.Clone(c.in.actor.Key) }

// Generation returns the activation generation of this instance.
func (c *Ctx[S]) Generation() uint64 { return c.in.actor.Generation }

// Conn returns the connection the running action came from: the client's
// WebSocket, or the short-lived connection of an HTTP action. It is nil in
// hooks that have no connection.
func (c *Ctx[S]) Conn() *Conn { return c.conn }

// Conns returns the open WebSocket connections.
func (c *Ctx[S]) Conns() []*Conn {
	out := make([]*Conn, 0, len(c.in.conns))
	for _, cn := range c.in.conns {
		out = append(out, cn)
	}
	return out
}

// Broadcast sends an event to every connection subscribed to it.
func (c *Ctx[S]) Broadcast(event string, args ...any) error {
	b, err := encodeArgs(args)
	if err != nil {
		return err
	}
	for _, cn := range c.in.conns {
		if _, ok := cn.subs[event]; ok && !cn.closed {
			c.in.emit(delivery{conn: cn, msg: protocol.ToClient{Event: &protocol.Event{Name: event, Args: b}}})
		}
	}
	return nil
}

// KV returns the actor's key/value space.
func (c *Ctx[S]) KV() *KV { return &KV{in: c.in, ctx: c.Context} }

// Sleep asks the engine to put the actor to sleep once it is idle.
func (c *Ctx[S]) Sleep() { c.in.sleepWanted = true }

// Destroy destroys the actor after the running action: onDestroy runs,
// connections close, and its state and KV are deleted.
func (c *Ctx[S]) Destroy() { c.in.destroyWanted = true }

// Client returns a client of the engine this actor runs in, to get or
// create other actors by name and key and call their actions or send to
// their queues, with the same API as the Go client SDK. A call to the
// actor itself from its own action would wait for itself: use the action's
// code directly instead.
func (c *Ctx[S]) Client() *client.Client { return c.in.rt.client() }

// Schedule returns the actor's scheduler of durable calls.
func (c *Ctx[S]) Schedule() *Scheduler { return &Scheduler{in: c.in} }

// Log returns a logger with the actor's id, name and generation.
func (c *Ctx[S]) Log() *slog.Logger { return c.in.log }
