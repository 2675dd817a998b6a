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
//	actor_queue  (actor_id, seq) → name, body, enqueued_at; index
//	             (actor_id, name, seq) for name filters. actors.queue_seq
//	             is the last seq handed out, actors.queue_len the number
//	             queued; the partial index actors_queue_wake covers the
//	             sleeping live actors with queue_len > 0
//	actor_schedules (actor_id, id) → due_at, action, args, created_at;
//	             index (due_at, actor_id) for DueActors
//	workflow_steps (actor_id, workflow, name) → seq, status, result, error,
//	             attempts, started_at, finished_at; index
//	             (actor_id, workflow, seq)
//	actor_db_pages (actor_id, page_no) → data: the pages of the actor's
//	             SQL database (c.DB()); its size is the highest page_no
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
//     The transaction takes two round trips: BEGIN with the locking read,
//     then the changes with COMMIT, each pipelined; a failed statement
//     makes the server skip the rest of its pipeline, COMMIT included. A
//     batch of writes that only set state (and Initialized) takes one: its
//     statements follow the locking read in the same pipeline and each
//     repeats its write's fence check in its WHERE clause, which reads the
//     rows the locking read holds.
//   - Activate, Deactivate and DestroyActor are single conditional UPDATEs
//     (or one transaction), so concurrent activations elect one winner.
//   - Place is one conditional UPDATE (generation = expectGen and not
//     destroyed); its failure reason is read only after it matched nothing.
//   - Every coordination clock is the database's: heartbeat_at, the
//     SinceHeartbeat of reads and lease expiry use now(), never the
//     caller's clock. A lease is taken by one INSERT ... ON CONFLICT DO
//     UPDATE ... WHERE (free, expired or already the holder's), so
//     concurrent takers serialize on the row.
//   - Enqueue is one statement: an UPDATE of the actor row that checks
//     queue_len against max and increments queue_seq and queue_len, feeding
//     the INSERT of the message. Concurrent senders serialize on the row
//     lock and each re-checks the newest queue_len, so no more than max
//     succeed and seqs never repeat. Acks delete messages and lower
//     queue_len in one statement inside the Commit transaction, which holds
//     the row lock.
//   - DueActors is one query: a range scan of actor_schedules_due up to
//     now() UNION ALL the actors_queue_wake partial index (each actor due at
//     its oldest message, a primary-key lookup of actor_queue).
//   - RemoveRunner locks the runner's actors in ID order (as Commit does)
//     before clearing their placement, so it cannot deadlock with a batch.
//   - Durability is PostgreSQL's: Commit returns after the transaction
//     committed with synchronous_commit as configured on the server (on by
//     default).
package pgstore
