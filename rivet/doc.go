// Package rivet is the Go SDK for writing rivetkube actors.
//
// An actor is a long-lived object addressed by a name and a key, with
// durable state, actions clients call, events it broadcasts to connected
// clients, and lifecycle hooks. Define one with New, add actions with
// Action, register definitions with a Registry and call Registry.Run. With
// no RIVET_ENDPOINT set, Run starts the local engine (gateway + embedded
// store) in the same process.
//
// This package is the typed facade: it adapts an Actor[S] to the untyped
// contract of the actor runtime (package runner, runner.Behavior), which
// hosts instances, and aliases the runtime's value types (Conn, KV, Queue,
// ...). Registry.Run starts the local engine (runner/local) or runner mode
// (runner.Run); neither process is wired here.
//
// The guarantees actors get (single activation, durable by default, the
// output gate, one task at a time) are the runtime's: see package runner.
package rivet
