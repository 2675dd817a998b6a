// Package storetest is the conformance suite of the store.Store contract.
// Every implementation (boltstore, pgstore) runs the same suite:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... })
//	}
//
// The suite pins these invariants, beyond the doc comments of store.go:
//   - (namespace, name, key) is unique among live actors, and the key
//     compares part by part: ["a","b"], ["a/b"], ["a,b"], [""] and [] are
//     five different keys; a nil key equals an empty one.
//   - Exactly one of many concurrent GetOrCreateActor calls creates.
//   - Destroy frees the key, wipes state and KV, and bumps the generation;
//     later writes of the old generation match ErrFenced (and ErrDestroyed).
//   - Activate bumps the generation by one; concurrent Activates with the
//     same expectGen elect exactly one winner.
//   - Commit reports per-write outcomes: one bad write never stops a good
//     one of the same batch, and a write lands all or nothing.
//   - KV keys are raw bytes compared bytewise (0x00 and 0xff included); a
//     present empty value is distinguishable from a missing one.
//   - Runners list by ID with actor counts that follow every placement
//     change; SinceHeartbeat grows with the store's clock; a removed runner
//     cannot heartbeat, and its actors lose their placement but keep their
//     generation until the next Place fences it.
//   - Place is a compare-and-set on the generation (0 included): of many
//     concurrent Places with one expectGen exactly one wins.
//   - A lease has at most one holder; it passes to another holder only
//     after its ttl lapses unrenewed, or at once when released.
//   - Queue seqs increase strictly per actor and are never reused, even
//     once the queue emptied; of concurrent senders exactly max succeed.
//   - Queue acks, schedule changes and workflow steps apply with their
//     write or not at all (fenced or invalid writes change nothing).
//   - Schedules list by (At, ID); DueActors lists due schedules (asleep or
//     awake) and sleeping actors with messages, earliest due first, never
//     destroyed ones. Workflow steps upsert by (run, name) and list by Seq.
//   - Destroy wipes queue, schedules and workflow steps.
//   - Limits of names, IDs and payloads are enforced with ErrInvalid at the
//     exact byte.
//   - After Close every method fails with ErrClosed.
//
// Each subtest works in a namespace of its own with fresh actor IDs, so
// newStore may hand out stores that share one backing database. DueActors
// is store-wide: its subtests only look at their own actors in its answer
// (and schedule nothing as early as store.MinTime elsewhere). The suite
// closes a store only in the Close subtest; newStore registers any other
// cleanup itself.
package storetest
