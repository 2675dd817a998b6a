// Package runner is the actor runtime and the runner process.
//
// The runtime (Runtime, Instance) hosts actor instances behind the
// hostapi.Host boundary: the local engine's gateway calls it in-process
// (runner/local); in the distributed engine a runner process serves it to
// gateways over the link (Run). It works on an untyped contract
// (Definition, Behavior: names, canonical CBOR in and out) and knows
// nothing of a user's Go types; the typed SDK (package rivet) implements
// that contract.
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
//   - The SQL database (DB, dbhook.go) follows the same rule: the pages a
//     task's statements changed since the last commit (one SQLite
//     savepoint per task) go into that same write, so SQL, state and KV
//     commit together or not at all; pages not yet committed stay in
//     memory and are never read back from the store.
//   - A Ctx, Conn, KV or WebSocket method is called from the hook or action
//     it was handed to (the mailbox); the engine itself never calls user
//     code concurrently for one actor.
//   - Actions cannot be preempted: when one exceeds its timeout the caller
//     gets actor/action_timed_out and the action's context is cancelled;
//     the mailbox moves on when the action returns.
package runner
