package rivet

import (
	"context"
	"log/slog"
	"slices"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/runner"
)

// Ctx is what hooks and actions receive. It is a context.Context (cancelled
// when an action times out or the instance stops) and gives access to the
// actor's state, vars, connections, events and KV. A Ctx is used on the
// goroutine that received it, during the call.
type Ctx[S any] struct {
	context.Context
	in   *runner.Instance
	st   *S
	conn *Conn
}

// State returns the actor's state. Changes are committed after the action
// returns, and replies and events wait for that commit.
func (c *Ctx[S]) State() *S { return c.st }

// Vars returns the ephemeral vars from CreateVars (nil without it).
func (c *Ctx[S]) Vars() any { return c.in.Vars() }

// SetVars replaces the ephemeral vars.
func (c *Ctx[S]) SetVars(v any) { c.in.SetVars(v) }

// ActorID returns the actor's id.
func (c *Ctx[S]) ActorID() string { return c.in.ID() }

// Name returns the actor's name.
func (c *Ctx[S]) Name() string { return c.in.Actor().Name }

// Key returns the actor's key (a copy).
func (c *Ctx[S]) Key() []string { return slices.Clone(c.in.Actor().Key) }

// Generation returns the activation generation of this instance.
func (c *Ctx[S]) Generation() uint64 { return c.in.Actor().Generation }

// Conn returns the connection the running action came from: the client's
// WebSocket, or the short-lived connection of an HTTP action. It is nil in
// hooks that have no connection.
func (c *Ctx[S]) Conn() *Conn { return c.conn }

// Conns returns the open WebSocket connections.
func (c *Ctx[S]) Conns() []*Conn { return c.in.Conns() }

// Broadcast sends an event to every connection subscribed to it.
func (c *Ctx[S]) Broadcast(event string, args ...any) error { return c.in.Broadcast(event, args) }

// KV returns the actor's key/value space.
func (c *Ctx[S]) KV() *KV { return c.in.KV(c.Context) }

// Sleep asks the engine to put the actor to sleep once it is idle.
func (c *Ctx[S]) Sleep() { c.in.RequestSleep() }

// Destroy destroys the actor after the running action: onDestroy runs,
// connections close, and its state and KV are deleted.
func (c *Ctx[S]) Destroy() { c.in.RequestDestroy() }

// Client returns a client of the engine this actor runs in, to get or
// create other actors by name and key and call their actions or send to
// their queues, with the same API as the Go client SDK. A call to the
// actor itself from its own action would wait for itself: use the action's
// code directly instead.
func (c *Ctx[S]) Client() *client.Client { return c.in.Client() }

// Schedule returns the actor's scheduler of durable calls.
func (c *Ctx[S]) Schedule() *Scheduler { return c.in.Scheduler() }

// Log returns a logger with the actor's id, name and generation.
func (c *Ctx[S]) Log() *slog.Logger { return c.in.Log() }
