package rivet

import (
	"context"
	"time"

	"github.com/rivetkube/rivetkube/runner"
)

// Await is a wait point: it commits the state and KV changes the running
// action made so far, lets go of the actor (its other actions, events and
// hooks run meanwhile), runs fn outside the actor, then takes the actor
// back and returns fn's result. The state may have changed across the
// wait: read it again after Await. Use it for anything slow that does not
// touch the actor: a model call, an HTTP request, a file.
//
// fn must not use c (state, KV, connections): it runs while other tasks
// hold the actor. Await is allowed in actions, OnRequest, Run, workflow
// steps and KeepAwake tasks; elsewhere (lifecycle and connection hooks) it
// fails. When the actor stops during the wait, Await returns
// actor/stopping and the action must return: its reply never leaves, and
// what it committed before the wait stays.
func Await[T, S any](c *Ctx[S], fn func(ctx context.Context) (T, error)) (T, error) {
	var out T
	err := c.in.Await(c.Context, func(ctx context.Context) error {
		var err error
		out, err = fn(ctx)
		return err
	})
	return out, err
}

// Wait is a timer wait point: the actor is free for d (or until the task's
// context ends), then the task goes on holding it again.
func (c *Ctx[S]) Wait(d time.Duration) error { return c.in.Wait(c.Context, d) }

// KeepAwake runs fn as a task of its own, after the running one, under the
// rules of an action (it holds the actor while it runs Go code and may use
// wait points), and keeps the actor awake until fn returns. fn's context
// ends when the actor stops (sleep is postponed while fn runs; a drain or
// shutdown cancels it).
func (c *Ctx[S]) KeepAwake(fn func(c *Ctx[S]) error) error {
	st := c.st
	in := c.in
	return in.KeepAwake(func(ctx context.Context) error {
		return fn(&Ctx[S]{Context: ctx, in: in, st: st})
	})
}

// Value answers the runtime's instance key with the actor instance, so
// that the actor's engine client (Client) turns its calls into wait points
// when given this Ctx as its context; other keys go to the task's context.
func (c *Ctx[S]) Value(key any) any {
	if key == runner.InstanceKey {
		return c.in
	}
	return c.Context.Value(key)
}
