// Package pgstore is the PostgreSQL implementation of store.Store, on
// jackc/pgx. It passes the conformance suite in internal/store/storetest.
//
// Schema (versioned SQL files embedded from migrations/, applied by Open
// unless disabled, recorded in schema_migrations):
//
//	actors       one row per actor; unique partial index on
//	             (namespace, name, key_serialized) WHERE destroyed_at IS NULL,
//	             list index on (namespace, name, created_at, id)
//	actor_state  actor_id → state
//	actor_kv     (actor_id, key bytea) → value, primary key (actor_id, key)
//	runners      runner registry; index on (pool, id); actors placed on a
//	             runner found by the partial index actors_runner_id on
//	             actors (runner_id, id COLLATE "C") WHERE runner_id <> ''
//	pool_configs pool → ready/draining version arrays, drain rate
//	leases       name → holder, expires_at
//
// Invariants:
//   - Migrations run under a session advisory lock, so gateways starting at
//     once migrate one after another; each migration and its
//     schema_migrations row commit in one transaction.
//   - Commit is one transaction per batch. It first locks the batch's actor
//     rows (FOR UPDATE, in ID order, so concurrent batches cannot deadlock)
//     and checks every write against the generation it read; only writes
//     that pass are applied, so a fenced, missing or invalid write never
//     fails its neighbours. The generations cannot change before the
//     transaction commits because the rows stay locked.
//   - Activate, Deactivate and DestroyActor are single conditional UPDATEs
//     (or one transaction), so concurrent activations elect one winner.
//   - Place is one conditional UPDATE (generation = expectGen and not
//     destroyed); its failure reason is read only after it matched nothing.
//   - Every coordination clock is the database's: heartbeat_at, the
//     SinceHeartbeat of reads and lease expiry use now(), never the
//     caller's clock. A lease is taken by one INSERT ... ON CONFLICT DO
//     UPDATE ... WHERE (free, expired or already the holder's), so
//     concurrent takers serialize on the row.
//   - RemoveRunner locks the runner's actors in ID order (as Commit does)
//     before clearing their placement, so it cannot deadlock with a batch.
//   - Durability is PostgreSQL's: Commit returns after the transaction
//     committed with synchronous_commit as configured on the server (on by
//     default).
package pgstore
