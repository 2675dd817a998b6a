// Package boltstore is the embedded, pure-Go, on-disk implementation of
// store.Store, built on bbolt (a single-file copy-on-write B+tree). It backs
// data directories made before the Pebble store and tests that run without
// PostgreSQL, and passes the same conformance suite
// (internal/store/storetest) as the PostgreSQL store.
//
// The store's logic is written against Engine (engine.go): bbolt's model
// of nested buckets with serialized, durable write transactions. Open runs
// it on bbolt; internal/store/pebblestore runs the same logic, records and
// layout on Pebble, where buckets become key prefixes.
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
//	queues     id → nested bucket: big-endian seq      → name | body | enqueued
//	queue_seq  id                                  → last seq | count
//	schedules  id → nested bucket: schedule id     → at | action | args | created
//	idx_due    at | id | schedule id               → (empty)
//	workflows  id → nested bucket: run | step name → step record
//	db_pages   id → nested bucket: big-endian page no → SQL database page
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
//   - The writes on the request path (CreateActor, GetOrCreateActor's
//     insert, Activate, Deactivate, Commit) run as group transactions
//     (group.go): concurrent calls share one transaction and one commit,
//     and each call returns only after the transaction carrying it
//     committed; a call whose function fails runs again alone, so it never
//     takes the others down and its error is its own.
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
//   - An actor's queue bucket exists exactly while it holds messages (the
//     last ack or destroy drops it), so the keys of the queues bucket are
//     the actors with queued messages: DueActors walks them and idx_due up
//     to now instead of every actor. queue_seq keeps the last seq assigned
//     (never lowered, so seqs are not reused) and the message count that
//     QueueLen and Enqueue's max check read; Enqueue's check and append are
//     one write transaction, so they are atomic.
//   - idx_due holds exactly one entry per schedule, updated in the same
//     transaction as every schedule put, delete and destroy.
//   - Heartbeats, SinceHeartbeat, lease expiry, queue and schedule stamps
//     and DueActors' "now" use the store's clock (the now func, time.Now
//     outside tests).
//   - Generation only grows: Activate and DestroyActor add one.
package boltstore
