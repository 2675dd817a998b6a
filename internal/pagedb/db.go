package pagedb

import (
	"context"
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"
)

// PageSize is the size of the blocks the database file is stored in. It
// is also the SQLite page size of every database this package creates.
const PageSize = 4096

// Errors. Statement errors caused by a limit match ErrTooLarge or
// ErrTooManyDirty; ErrTxOpen is Take's refusal.
var (
	ErrTooLarge     = errors.New("database size limit reached")
	ErrTooManyDirty = errors.New("too many pages changed in one commit")
	ErrTxOpen       = errors.New("an SQL transaction is still open")
	ErrCorrupt      = errors.New("stored page is malformed")
	ErrClosed       = errors.New("database is closed")
)

// Page is one stored block of the database file.
type Page struct {
	No   uint32 // from 1
	Data []byte // PageSize bytes
}

// Source reads the stored pages of one database.
type Source interface {
	// ReadPages returns the stored pages numbered in [from, to) in
	// order (absent pages are left out) and the number of the highest
	// stored page (0 for an empty database). from == to reads only that.
	ReadPages(ctx context.Context, from, to uint32) (pages []Page, count uint32, err error)
}

// Changes is what Take hands out: the pages to store, as one unit.
// Applying it means: when Truncate, delete stored pages numbered above
// TruncateTo; then put Pages.
type Changes struct {
	Seq        uint64 // pass to Committed once stored
	Pages      []Page // ascending by No
	Truncate   bool
	TruncateTo uint32
}

// Empty reports whether there is nothing to store.
func (c Changes) Empty() bool { return len(c.Pages) == 0 && !c.Truncate }

// Options bound a database. Zero fields take the defaults.
type Options struct {
	MaxSize       int64 // bytes; default 1 GiB
	MaxDirtyPages int   // pages per Changes; default 16384 (64 MiB)
	CachePages    int   // clean pages kept in memory; default 4096 (16 MiB)
	ReadAhead     int   // most pages one sequential fetch reads; default 32
}

// sqliteCacheKiB bounds SQLite's own page cache (parsed pages, above the
// VFS): small, since the VFS cache holds the database's hot pages.
const sqliteCacheKiB = 1024

// Defaults.
const (
	DefaultMaxSize       = 1 << 30
	DefaultMaxDirtyPages = 16384
	DefaultCachePages    = 4096
	DefaultReadAhead     = 32
)

func (o Options) withDefaults() (Options, error) {
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.MaxDirtyPages == 0 {
		o.MaxDirtyPages = DefaultMaxDirtyPages
	}
	if o.CachePages == 0 {
		o.CachePages = DefaultCachePages
	}
	if o.ReadAhead == 0 {
		o.ReadAhead = DefaultReadAhead
	}
	switch {
	case o.MaxSize < 2*PageSize:
		return o, fmt.Errorf("max size %d is below 2 pages", o.MaxSize)
	case o.MaxDirtyPages < 2:
		return o, fmt.Errorf("max dirty pages %d is below 2", o.MaxDirtyPages)
	case o.ReadAhead < 1 || o.CachePages < o.ReadAhead:
		return o, fmt.Errorf("read-ahead %d must be within 1..cache pages (%d)", o.ReadAhead, o.CachePages)
	}
	return o, nil
}

// Stats counts what a database read from its Source and holds in memory.
type Stats struct {
	Fetches   int64 // ReadPages calls
	PagesRead int64 // pages they returned
	Cached    int   // clean pages in the cache
	Dirty     int   // pages changed since the last Take
	Pinned    int   // taken pages not yet Committed
	Batches   int64 // commits SQLite wrote as one atomic batch
}

// DB is an open database.
type DB struct {
	f    *file
	name string
	conn *sqlite3.Conn
}

// Open opens the database whose pages src holds (creating an empty one
// when it holds none). Only the size is read now; pages are read as
// statements need them.
func Open(ctx context.Context, src Source, opts Options) (*DB, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	_, count, err := src.ReadPages(ctx, 1, 1)
	if err != nil {
		return nil, fmt.Errorf("open database: read size: %w", err)
	}
	f := newFile(src, opts, count)
	f.ctx = ctx
	d := &DB{f: f, name: register(f)}
	d.conn, err = sqlite3.OpenContext(ctx, "file:"+d.name+"?vfs="+vfsName)
	if err != nil {
		unregister(d.name)
		return nil, fmt.Errorf("open database: %w", err)
	}
	pragmas := fmt.Sprintf(`PRAGMA page_size=%d; PRAGMA journal_mode=MEMORY; PRAGMA locking_mode=EXCLUSIVE;
		PRAGMA temp_store=MEMORY; PRAGMA cache_size=-%d; PRAGMA max_page_count=%d`,
		PageSize, sqliteCacheKiB, opts.MaxSize/PageSize)
	if count == 0 {
		// A new database: free pages can go back to the store with PRAGMA
		// incremental_vacuum, which (unlike VACUUM) runs inside the
		// transaction every statement of an actor runs in.
		pragmas += "; PRAGMA auto_vacuum=INCREMENTAL"
	}
	if err := d.conn.Exec(pragmas); err != nil {
		d.Close()
		return nil, fmt.Errorf("open database: %w", d.Check(err))
	}
	f.ctx = context.Background()
	return d, nil
}

// Conn is the SQLite connection. Run statements on it from one goroutine.
func (d *DB) Conn() *sqlite3.Conn { return d.conn }

// Use sets the context of what runs next: it interrupts a statement when
// done and bounds the reads of missing pages. Use(nil) clears it.
func (d *DB) Use(ctx context.Context) {
	if ctx == nil {
		ctx = context.Background()
	}
	d.f.mu.Lock()
	d.f.ctx = ctx
	d.f.mu.Unlock()
	d.conn.SetInterrupt(ctx)
}

// Take hands out the pages changed since the last Take and pins them in
// memory until Committed. It fails with ErrTxOpen inside a transaction.
func (d *DB) Take() (Changes, error) {
	if d.conn == nil {
		return Changes{}, ErrClosed
	}
	if !d.conn.GetAutocommit() {
		return Changes{}, ErrTxOpen
	}
	return d.f.take(), nil
}

// Rollback ends an open transaction, if any, dropping its changes.
func (d *DB) Rollback() error {
	if d.conn == nil || d.conn.GetAutocommit() {
		return nil
	}
	return d.Check(d.conn.Exec("ROLLBACK"))
}

// Committed reports that the Changes of seq (and every earlier one) are
// durably stored: their pages become ordinary cache entries. Safe to call
// from any goroutine.
func (d *DB) Committed(seq uint64) { d.f.committed(seq) }

// Check turns an error of a statement into one that says why: a limit
// (ErrTooLarge, ErrTooManyDirty) or a failed read of the Source.
func (d *DB) Check(err error) error {
	if err == nil {
		return nil
	}
	f := d.f
	f.mu.Lock()
	limitErr, readErr := f.limitErr, f.readErr
	f.limitErr, f.readErr = nil, nil
	f.mu.Unlock()
	switch {
	case errors.Is(err, sqlite3.FULL) && limitErr != nil:
		return fmt.Errorf("%w (%w)", limitErr, err)
	case errors.Is(err, sqlite3.FULL):
		return fmt.Errorf("database would grow past %d bytes: %w (%w)", f.opts.MaxSize, ErrTooLarge, err)
	case errors.Is(err, sqlite3.IOERR) && readErr != nil:
		return fmt.Errorf("%w (%w)", readErr, err)
	}
	return err
}

// Stats returns the read counters and memory use.
func (d *DB) Stats() Stats {
	f := d.f
	f.mu.Lock()
	defer f.mu.Unlock()
	return Stats{Fetches: f.fetches, PagesRead: f.pagesRead, Cached: f.cache.len(), Dirty: len(f.dirty), Pinned: len(f.inflight), Batches: f.batches}
}

// CloseStatements finalizes every prepared statement still open (a
// caller's forgotten rows).
func (d *DB) CloseStatements() {
	if d.conn == nil {
		return
	}
	var open []*sqlite3.Stmt
	for st := range d.conn.Stmts() {
		open = append(open, st)
	}
	for _, st := range open {
		_ = st.Close()
	}
}

// Close closes the connection (and any statement still open); changes
// not taken are lost.
func (d *DB) Close() error {
	if d.conn == nil {
		return nil
	}
	d.CloseStatements()
	err := d.conn.Close()
	d.conn = nil
	unregister(d.name)
	return err
}
