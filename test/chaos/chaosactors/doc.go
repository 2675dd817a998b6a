// Package chaosactors is the test registry of the chaos harness
// (test/chaos): a counter, a register and a queue-driven worker whose
// results let the harness check linearizability, durability and single
// activation.
//
// Invariants:
//   - Every write action takes the client's operation id and records, in the
//     activation log, which instance (actor, generation, runner) ran it; the
//     harness joins that log with the acknowledged operations. The log is a
//     test hook of this registry only: it is written when the variable
//     CHAOS_ACTIVATION_LOG names a file, and nothing in the product reads it.
//   - Each log line is one write(2) on a file opened with O_APPEND, so lines
//     from concurrent instances never interleave and a kill -9 loses none
//     that were written.
package chaosactors
