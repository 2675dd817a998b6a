package runner

import (
	"log/slog"

	"github.com/rivetkube/rivetkube/internal/store"
)

// Test hooks for the tests of package runner_test, which drive the runtime
// through the typed SDK (package rivet imports runner, so they cannot live
// in package runner). Compiled only into this package's tests.

func NewRuntimeForTest(st store.Store, cm *store.Committer, defs map[string]Definition, runnerID string, limits Limits, log *slog.Logger) *Runtime {
	return newRuntime(st, cm, defs, runnerID, limits, log)
}

func (rt *Runtime) SetStoreForTest(st store.Store, placed bool) { rt.store, rt.placed = st, placed }

func (rt *Runtime) SetMailboxSizeForTest(n int) { rt.limits.MailboxSize = n }

func (rt *Runtime) LogForTest() *slog.Logger { return rt.log }

func (rt *Runtime) AwakeForTest(id string) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	_, ok := rt.actors[id]
	return ok
}

// QueuedForTest returns the number of tasks waiting in id's mailbox (0 when
// it is not awake).
func (rt *Runtime) QueuedForTest(id string) int {
	rt.mu.Lock()
	in := rt.actors[id]
	rt.mu.Unlock()
	if in == nil {
		return 0
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.tasks.len()
}

// IsSocketForTest reports whether c is a WebSocket connection (not the
// short-lived connection of an HTTP action).
func IsSocketForTest(c *Conn) bool { return c.sink != nil }

// ParkedForTest reports whether id is awake with its mailbox parked: no
// goroutine runs its loop.
func (rt *Runtime) ParkedForTest(id string) bool {
	rt.mu.Lock()
	in := rt.actors[id]
	rt.mu.Unlock()
	if in == nil {
		return false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.state == stateRunning && !in.looping
}

// TaskContextsForTest returns the task contexts id has registered.
func (rt *Runtime) TaskContextsForTest(id string) int {
	rt.mu.Lock()
	in := rt.actors[id]
	rt.mu.Unlock()
	if in == nil {
		return 0
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.tasksCtx)
}

// SleepCountdownsForTest is how many instances the sleeper holds.
func (rt *Runtime) SleepCountdownsForTest() int {
	rt.sleeper.mu.Lock()
	defer rt.sleeper.mu.Unlock()
	return len(rt.sleeper.heap)
}
