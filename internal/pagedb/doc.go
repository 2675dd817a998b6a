// Package pagedb runs an SQLite database (github.com/ncruces/go-sqlite3,
// pure Go, no cgo) whose file is a set of fixed-size pages kept by the
// caller, not a file on disk. An actor's c.DB() is one of these: its pages
// live in the actor's storage through the store, and the pages a task's
// SQL transactions dirtied join the task's fenced store write.
//
// The database file is split into PageSize blocks numbered from 1 (block
// n holds bytes [(n-1)*PageSize, n*PageSize)). A Source reads stored
// blocks on demand; the VFS keeps them in a bounded LRU cache, reads a
// miss together with the blocks after it when SQLite reads sequentially,
// and never loads the whole database.
//
// Invariants:
//   - Nothing reaches the Source's storage except through Take: writes
//     land in an in-memory dirty set, so a process that dies before the
//     caller durably stores a taken Changes leaves the stored database as
//     of the last stored Changes (all or nothing per Take).
//   - Take is refused while an SQL transaction is open, so every Changes
//     holds whole SQLite transactions. The journal is in memory
//     (journal_mode=MEMORY) and the file reports SQLITE_IOCAP_BATCH_ATOMIC,
//     so a commit's page writes arrive as one batch that is kept or
//     dropped as a whole.
//   - Reads see, in order: the open batch, the dirty set, taken pages not
//     yet confirmed by Committed, the clean cache, then the Source. Taken
//     pages stay pinned in memory until Committed, so a page is never read
//     back from the Source before the write that holds it is durable.
//   - Applying a Changes means: delete stored pages numbered above
//     TruncateTo (when Truncate is set), then put Pages. The stored
//     database size is its highest stored page number.
//   - The database is at most Options.MaxSize bytes and one Changes holds
//     at most Options.MaxDirtyPages pages; past either limit the SQL
//     statement fails (and its transaction rolls back) with an error
//     matching ErrTooLarge or ErrTooManyDirty.
//   - A DB is used by one goroutine at a time (the actor's task); only
//     Committed and Stats may be called concurrently with it.
package pagedb
