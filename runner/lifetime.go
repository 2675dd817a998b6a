package runner

import (
	"context"
	"time"
)

// The lifetime context of an instance, made on first use.
//
// A context.WithCancel per instance costs its cancelCtx and its cancel
// closure (about 0.1 KiB) for as long as the actor is awake, and most
// awake actors never wait on their lifetime nor derive a context from it.
// The lifetime handed out is instead the instance itself seen as a context
// (lifetimeCtx): the first Done makes the real cancelable context it then
// delegates to, so contexts derived from it (directly or through
// context.WithValue) register with that one as with any cancelCtx, and
// ending the lifetime cancels it.

// lifetimeCtx is an Instance as its lifetime context (see lifetime).
type lifetimeCtx Instance

// lifeCtx is the real lifetime context of an instance.
type lifeCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// lifeEnded is what Instance.life holds once the lifetime ended (made
// before then or not).
var lifeEnded = func() *lifeCtx {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return &lifeCtx{ctx: ctx, cancel: cancel}
}()

// lifetime returns the context that ends when the instance stops.
func (in *Instance) lifetime() context.Context { return (*lifetimeCtx)(in) }

// real returns the real lifetime context, made now if needed.
func (c *lifetimeCtx) real() *lifeCtx {
	if l := c.life.Load(); l != nil {
		return l
	}
	ctx, cancel := context.WithCancel(context.Background())
	if c.life.CompareAndSwap(nil, &lifeCtx{ctx: ctx, cancel: cancel}) {
		return c.life.Load()
	}
	cancel()
	return c.life.Load() // made or ended meanwhile
}

func (c *lifetimeCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

func (c *lifetimeCtx) Done() <-chan struct{} { return c.real().ctx.Done() }

func (c *lifetimeCtx) Err() error {
	if l := c.life.Load(); l != nil {
		return l.ctx.Err()
	}
	return nil
}

// Value delegates to the real context once made: context.WithCancel finds
// the cancelCtx under it (after calling Done) and registers with it.
func (c *lifetimeCtx) Value(key any) any {
	if l := c.life.Load(); l != nil {
		return l.ctx.Value(key)
	}
	return nil
}

func (c *lifetimeCtx) String() string { return "runner.lifetime(" + c.id + ")" }

// endLifetime ends the lifetime context.
func (in *Instance) endLifetime() {
	if old := in.life.Swap(lifeEnded); old != nil && old != lifeEnded {
		old.cancel()
	}
}
