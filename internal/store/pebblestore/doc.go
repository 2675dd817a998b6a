// Package pebblestore is the embedded on-disk store.Store on Pebble (an
// LSM key/value store with a write-ahead log). It is the local engine's
// default store for a new data directory; it runs the same store logic as
// the bbolt store (boltstore.Store, written against boltstore.Engine) and
// passes the same conformance suite (internal/store/storetest).
//
// Why Pebble: a bbolt commit syncs twice (the dirty pages, then the meta
// page that points at them: bbolt's crash-consistency order), so a durable
// write on bbolt cannot come within one fsync of the disk. A Pebble commit
// is one append to the WAL and one sync of it; the sorted tables are
// written later, from the memtable, after the acknowledgement, and a crash
// replays the WAL. Pebble is a maintained, crash-tested library made for
// this, so the store does not carry a log and recovery of its own.
//
// Layout: boltstore's buckets (see boltstore's package doc) become key
// prefixes. A stored key is the path of bucket names, then the key, each
// one a component: its bytes with 0x00 escaped as 0x00 0xff, then the
// terminator 0x00 0x01 (keys.go). So
//
//	actors|id                      → actor record (boltstore's encoding)
//	kv|id|'k'+user key             → value
//	queues|id|big-endian seq       → message
//
// and so on for every bucket. The escaping keeps byte order inside a
// bucket and makes no component a prefix of another, so a bucket's entries
// are exactly the keys under its prefix and a nested bucket's contents
// sort right after the nested bucket's own key. Every value starts with a
// tag byte: 0 and the value, or 1 for a key that names a nested bucket (its
// marker, which bbolt's Bucket/CreateBucket semantics need: an empty
// nested bucket exists). A cursor yields a nested bucket once, with a nil
// value, and steps over its contents. Dropping a nested bucket (destroy,
// DeleteAll, the last queue ack) is one DeleteRange over its prefix,
// marker included.
//
// Invariants (the store's own are boltstore's; these are the engine's):
//   - Every write transaction is one indexed batch committed with
//     pebble.Sync: it returns only after the WAL holding it is synced, so
//     anything acknowledged survives kill -9. A transaction whose function
//     fails is dropped unwritten.
//   - One write transaction at a time (engine.wmu), as bbolt: the store
//     reads, checks and writes in one transaction (generation fences, the
//     key index, queue counters and their max check, the runner index) and
//     relies on no other write landing in between. The indexed batch gives
//     the transaction its own writes back (Get and new cursors see them).
//     Concurrent request-path writes still share one batch and one sync:
//     boltstore's group writer runs them as one transaction, and a write
//     that fails its checks in a Commit batch is skipped while the rest
//     commits, as on bbolt.
//   - A read transaction reads one Pebble snapshot: a consistent view.
//   - Generations only grow, the key and runner indexes are exact, queue
//     sequence numbers are never reused: the logic that keeps these is
//     boltstore's, unchanged, on the same records.
//   - A read error (I/O, corruption) inside a transaction panics, since the
//     logic written for bbolt's memory-mapped reads has no error to return
//     (on bbolt such a fault stops the process too); nothing of the
//     transaction is written.
//   - Open takes the directory's lock (waiting up to Options.Timeout), so
//     one process at a time holds a data directory.
package pebblestore
