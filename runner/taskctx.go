package runner

import (
	"context"
	"slices"
	"time"
)

// Task contexts without a child of the lifetime context.
//
// A task's context (an action's, a raw request's, a scheduled call's) is
// bounded by a timeout and must end when the actor stops. Derived from the
// lifetime context, each one would make the lifetime allocate a children
// map and a done channel that it then keeps for as long as the actor is
// awake (about 0.4 KiB per awake actor that ever ran an action). Instead
// the task context hangs off its own parent and is registered here; the
// stop sequence cancels what is registered when it cancels the lifetime.
// The registry is nil whenever no task runs.

type taskCancel struct {
	id     uint64
	cancel context.CancelFunc
}

// taskContext returns a context for a task: parent bounded by d, and
// cancelled when the instance stops. cancel must be called when the task
// ends.
func (in *Instance) taskContext(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(parent, d)
	in.mu.Lock()
	if in.state == stateStopped || in.lifetime().Err() != nil {
		in.mu.Unlock()
		cancel()
		return ctx, cancel
	}
	in.taskSeq++
	id := in.taskSeq
	in.tasksCtx = append(in.tasksCtx, taskCancel{id: id, cancel: cancel})
	in.mu.Unlock()
	return ctx, func() {
		cancel()
		in.mu.Lock()
		if i := slices.IndexFunc(in.tasksCtx, func(t taskCancel) bool { return t.id == id }); i >= 0 {
			in.tasksCtx = slices.Delete(in.tasksCtx, i, i+1)
			if len(in.tasksCtx) == 0 {
				in.tasksCtx = nil
			}
		}
		in.mu.Unlock()
	}
}

// cancelLifetime cancels the lifetime context and every task context.
func (in *Instance) cancelLifetime() {
	in.mu.Lock()
	in.endLifetime()
	ts := in.tasksCtx
	in.tasksCtx = nil
	in.mu.Unlock()
	for _, t := range ts {
		t.cancel()
	}
}
