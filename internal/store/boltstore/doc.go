// Package boltstore is the embedded, pure-Go, on-disk implementation of
// store.Store, built on bbolt (a single-file copy-on-write B+tree). It backs
// `rivetkube dev` and tests that run without PostgreSQL, and passes the same
// conformance suite (internal/store/storetest) as the PostgreSQL store.
//
// Layout: one top-level bucket per concern.
//
//	actors     id                                  → actor record
//	idx_key    ns | name | key          (live only) → id
//	idx_list   ns | name | created | id             → destroyed flag | key
//	state      id                                  → state bytes
//	kv         id → nested bucket: 'k'+user key    → value
//	runners    runner id                           → runner record
//	idx_runner runner id | actor id                → (empty)
//	pools      pool                                → pool config record
//	leases     name                                → holder | expiry
//
// ns, name and key are length-prefixed (key with store.EncodeKey), so index
// prefixes never collide; created is big-endian so idx_list iterates in
// (CreatedAt, ID) order. KV pairs live in one nested bucket per actor, so a
// prefix or range scan is a cursor walk over that actor's keys only, and
// destroy or DeleteAll drops the bucket in one step.
//
// Invariants:
//   - Every mutation is one bbolt read-write transaction, fsynced before it
//     returns (NoSync is never set), so anything CreateActor, Activate or
//     Commit acknowledged survives a crash (kill -9) of the process.
//   - Commit runs the whole batch in one transaction. Each write is checked
//     against the actor's current generation (and validated) before any of
//     its changes apply; a write that fails its check is skipped and the
//     rest of the batch still commits.
//   - idx_key holds exactly the live actors; destroy removes the entry.
//   - idx_runner holds exactly the placed actors (RunnerID != ""), under
//     their runner: every placement change (Activate, Place, Deactivate,
//     DestroyActor, RemoveRunner) updates it in the same transaction, so
//     ActorsOnRunner and the actor counts of the registry walk one runner's
//     entries instead of every actor. Opening a schema version 1 file
//     builds it once from the actors bucket.
//   - Heartbeats, SinceHeartbeat and lease expiry use the store's clock
//     (the now func, time.Now outside tests).
//   - Generation only grows: Activate and DestroyActor add one.
package boltstore
