package runner

// The runtime side of c.DB(): the instance's SQL database, opened on first
// use (or at activation when the actor has migrations), whose changed
// pages join the task's store.Write in flush. Each task's SQL runs inside
// one SQLite savepoint ("task") that flush releases, so a task's SQL
// changes between two commits (the task's end, or a wait point) are one
// SQLite transaction and go with the task's state and KV changes, or not
// at all. A wait point inside DB.Tx is refused.

import (
	"context"
	"errors"
	"fmt"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/pagedb"
	"github.com/rivetkube/rivetkube/internal/store"
)

// dbState is the instance's SQL database (mailbox-owned).
type dbState struct {
	db      *pagedb.DB // nil until first use
	txDepth int32      // DB.Tx calls under way
	inTask  bool       // the task savepoint is open
}

// errDBTxWait refuses a wait point inside DB.Tx: the wait point commits
// the task's SQL so far, which would end the transaction half way.
var errDBTxWait = errors.New("runner: a wait point inside DB.Tx; end the transaction first")

// pageSource reads an actor's pages from the store.
type pageSource struct {
	st store.DBPageReader
	id string
}

func (s pageSource) ReadPages(ctx context.Context, from, to uint32) ([]pagedb.Page, uint32, error) {
	ps, count, err := s.st.ReadDBPages(ctx, s.id, from, to)
	out := make([]pagedb.Page, len(ps))
	for i, p := range ps {
		out[i] = pagedb.Page{No: p.No, Data: p.Data}
	}
	return out, count, err
}

// sqlDB returns the database ready for a statement of the running task:
// open, bound to ctx (statements stop when it ends), inside the task's
// savepoint.
func (in *Instance) sqlDB(ctx context.Context) (*pagedb.DB, error) {
	if in.dbs.db == nil {
		octx, cancel := context.WithTimeout(in.lifetime(), in.rt.limits.StartTimeout)
		db, err := pagedb.Open(octx, pageSource{st: in.rt.store, id: in.id}, pagedb.Options{
			MaxSize:       in.rt.limits.MaxDBSize,
			MaxDirtyPages: in.rt.limits.MaxDBDirtyPages,
			CachePages:    in.rt.limits.DBCachePages,
		})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("open actor database: %w", err)
		}
		in.dbs.db = db
	}
	db := in.dbs.db
	db.Use(ctx)
	if !in.dbs.inTask {
		if err := db.Conn().Exec("SAVEPOINT task"); err != nil {
			return nil, db.Check(err)
		}
		in.dbs.inTask = true
	}
	return db, nil
}

// dbTake ends the task's SQL transaction and returns the pages it changed
// (nil when none) and the sequence number to confirm once they commit. On
// an error the task's SQL changes are rolled back.
func (in *Instance) dbTake() (*store.DBWrite, uint64, error) {
	db := in.dbs.db
	if db == nil {
		return nil, 0, nil
	}
	db.Use(in.lifetime())
	// Rows the task left open would block the release and hold memory.
	db.CloseStatements()
	if in.dbs.inTask {
		in.dbs.inTask = false
		if !db.Conn().GetAutocommit() {
			if err := db.Check(db.Conn().Exec("RELEASE task")); err != nil {
				if rerr := db.Rollback(); rerr != nil {
					in.logger().Error("roll back the task's SQL transaction", "err", rerr)
				}
				return nil, 0, dbPublicErr(err)
			}
		}
	}
	ch, err := db.Take()
	if errors.Is(err, pagedb.ErrTxOpen) {
		// The task left a transaction of its own open (BEGIN without COMMIT).
		_ = db.Rollback()
		return nil, 0, errs.DBTransactionOpen()
	}
	if err != nil || ch.Empty() {
		return nil, 0, err
	}
	w := &store.DBWrite{Truncate: ch.Truncate, TruncateTo: ch.TruncateTo, Pages: make([]store.DBPage, len(ch.Pages))}
	for i, p := range ch.Pages {
		w.Pages[i] = store.DBPage{No: p.No, Data: p.Data}
	}
	return w, ch.Seq, nil
}

// dbDiscard rolls back the running task's SQL changes.
func (in *Instance) dbDiscard() {
	if in.dbs.db == nil || !in.dbs.inTask {
		return
	}
	in.dbs.inTask = false
	if err := in.dbs.db.Rollback(); err != nil {
		in.logger().Error("roll back the task's SQL transaction", "err", err)
	}
}

// dbCommitted unpins the pages of take seq once p commits.
func (in *Instance) dbCommitted(p *store.Pending, seq uint64) {
	db := in.dbs.db
	p.OnDone(func() {
		if p.Err() == nil {
			db.Committed(seq)
		}
	})
}

// closeDB closes the database; changes not taken are dropped.
func (in *Instance) closeDB() {
	if in.dbs.db != nil {
		if err := in.dbs.db.Close(); err != nil {
			in.logger().Warn("close actor database", "err", err)
		}
		in.dbs = dbState{}
	}
}

// migrateDB runs the actor's migrations the database has not run yet, in
// order, each with the bump of PRAGMA user_version that records it.
func (in *Instance) migrateDB(migs []string) error {
	if len(migs) == 0 {
		return nil
	}
	db, err := in.sqlDB(in.lifetime())
	if err != nil {
		return err
	}
	conn := db.Conn()
	st, _, err := conn.Prepare("PRAGMA user_version")
	if err != nil {
		return db.Check(err)
	}
	var version int
	if st.Step() {
		version = st.ColumnInt(0)
	}
	if err := errors.Join(st.Err(), st.Close()); err != nil {
		return db.Check(err)
	}
	if version > len(migs) {
		return fmt.Errorf("actor database is at migration %d, but the actor defines only %d", version, len(migs))
	}
	for i := version; i < len(migs); i++ {
		script := fmt.Sprintf("SAVEPOINT migrate; %s;\nPRAGMA user_version = %d; RELEASE migrate", migs[i], i+1)
		if err := conn.Exec(script); err != nil {
			err = db.Check(err)
			_ = conn.Exec("ROLLBACK TO migrate; RELEASE migrate")
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		in.logger().Info("actor database migrated", "migration", i+1)
	}
	return nil
}

// dbPublicErr is the client-facing error of a failed SQL commit.
func dbPublicErr(err error) error {
	switch {
	case errors.Is(err, pagedb.ErrTooLarge):
		return errs.DBTooLarge()
	case errors.Is(err, pagedb.ErrTooManyDirty):
		return errs.DBCommitTooLarge()
	}
	return errs.Internal()
}
