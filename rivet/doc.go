// Package rivet is the Go SDK for writing rivetkube actors.
//
// An actor is a long-lived object addressed by a name and a key, with
// durable state, actions clients call, events it broadcasts to connected
// clients, and lifecycle hooks. Define one with New, add actions with
// Action, register definitions with a Registry and call Registry.Run. With
// no RIVET_ENDPOINT set, Run starts the local engine (gateway + embedded
// store) in the same process.
//
// # Invariants
//
//   - One live instance per actor; it runs one action or hook at a time
//     (its mailbox). Each activation has a generation; every write the
//     instance makes is fenced by it, and a fenced instance stops.
//   - Durable by default: after each action or hook the state is encoded
//     and, if it changed, written with the task's KV changes in one atomic
//     write through the group committer. The instance may run its next task
//     at once, but no reply, event or raw response produced by a task leaves
//     before the commit covering it is durable (the output gate). Outputs
//     leave in the order they were produced.
//   - A Ctx, Conn, KV or WebSocket method is called from the hook or action
//     it was handed to (the mailbox); the engine itself never calls user
//     code concurrently for one actor.
//   - Actions cannot be preempted: when one exceeds its timeout the caller
//     gets actor/action_timed_out and the action's context is cancelled;
//     the mailbox moves on when the action returns.
package rivet
