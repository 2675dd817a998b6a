// Command chaos runs the rivetkube chaos harness: real gateway and runner
// processes on loopback with a throwaway PostgreSQL, client workers driving
// counters, registers, queues and event subscriptions, and faults from a
// seeded schedule (kill -9 of runners and gateways, SIGSTOP past the lease,
// an immediate PostgreSQL restart, a version drain, delay and drop on a
// gateway-runner link). At the end it checks the recorded history:
//
//   - linearizability of every counter and register with porcupine
//     (operations whose outcome is unknown may or may not have happened);
//   - nothing acknowledged lost (the final reads cover every acknowledged
//     write);
//   - no double activation (the activation log of the test registry, see
//     test/chaos/chaosactors, shows no stale instance committing a write
//     after a newer one started);
//   - events per connection in commit order, without duplicates.
//
// The last line of the report is always
//
//	chaos: ops=N ok=N faults=N lost=N violations=N double_activations=N
//
// and the exit status is non-zero when lost, violations or
// double_activations is. -selftest puts a lying proxy in front of one
// gateway and passes only when the checks catch it; -local kills the local
// engine instead. docs/reliability.md describes the checks and the runs.
//
// Invariants: the fault schedule depends only on -seed (the same seed gives
// the same faults in the same order with the same pauses); every goroutine
// stops when the run's context ends; every child process is stopped before
// exit.
package main
