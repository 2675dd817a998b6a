package runner

import (
	"context"
	"slices"
	"time"
)

// The lifetime context of an instance, without a context of its own.
//
// A context.WithCancel per instance costs its cancelCtx and its cancel
// closure (about 0.1 KiB) for as long as the actor is awake. The lifetime
// is instead the instance itself seen as a context (lifetimeCtx): its done
// channel is made on first use (most awake actors never wait on it), and
// contexts derived from it register through AfterFunc in the same
// registry as task contexts (taskctx.go), which cancelLifetime cancels.

// lifetimeCtx is an Instance as its lifetime context (see lifetime).
type lifetimeCtx Instance

// lifetime returns the context that ends when the instance stops.
func (in *Instance) lifetime() context.Context { return (*lifetimeCtx)(in) }

// lifeEnded is what Instance.lifeDone holds once the lifetime ended.
var lifeEnded = &closedChan

func (c *lifetimeCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

func (c *lifetimeCtx) Value(any) any { return nil }

func (c *lifetimeCtx) Done() <-chan struct{} {
	if p := c.lifeDone.Load(); p != nil {
		return *p
	}
	ch := make(chan struct{})
	if c.lifeDone.CompareAndSwap(nil, &ch) {
		return ch
	}
	return *c.lifeDone.Load() // ended meanwhile
}

func (c *lifetimeCtx) Err() error {
	if c.lifeDone.Load() == lifeEnded {
		return context.Canceled
	}
	return nil
}

func (c *lifetimeCtx) String() string { return "runner.lifetime(" + c.id + ")" }

// AfterFunc lets a context derived from the lifetime (context.WithCancel)
// be cancelled by cancelLifetime without a goroutine watching Done.
func (c *lifetimeCtx) AfterFunc(f func()) (stop func() bool) {
	in := (*Instance)(c)
	in.mu.Lock()
	if c.lifeDone.Load() == lifeEnded {
		in.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	in.taskSeq++
	id := in.taskSeq
	in.tasksCtx = append(in.tasksCtx, taskCancel{id: id, cancel: f})
	in.mu.Unlock()
	return func() bool { return in.unregisterTask(id) }
}

// endLifetime ends the lifetime context; in.mu is held.
func (in *Instance) endLifetimeLocked() {
	if old := in.lifeDone.Swap(lifeEnded); old != nil && old != lifeEnded {
		close(*old)
	}
}

// unregisterTask drops the registration id; it reports whether it was
// still registered (not cancelled yet).
func (in *Instance) unregisterTask(id uint64) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	i := slices.IndexFunc(in.tasksCtx, func(t taskCancel) bool { return t.id == id })
	if i < 0 {
		return false
	}
	in.tasksCtx = slices.Delete(in.tasksCtx, i, i+1)
	if len(in.tasksCtx) == 0 {
		in.tasksCtx = nil
	}
	return true
}
