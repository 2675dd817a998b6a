package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/rivetkube/rivetkube/internal/pagedb"
	"github.com/rivetkube/rivetkube/internal/store"
)

// storeSource reads an actor's pages for pagedb, as the runtime does.
type storeSource struct {
	s  store.Store
	id string
}

func (src storeSource) ReadPages(ctx context.Context, from, to uint32) ([]pagedb.Page, uint32, error) {
	ps, count, err := src.s.ReadDBPages(ctx, src.id, from, to)
	out := make([]pagedb.Page, len(ps))
	for i, p := range ps {
		out[i] = pagedb.Page{No: p.No, Data: p.Data}
	}
	return out, count, err
}

// sqlCommit takes d's changes and commits them in one write with state.
func sqlCommit(t *testing.T, s store.Store, a store.Actor, d *pagedb.DB, state string) error {
	t.Helper()
	c, err := d.Take()
	if err != nil {
		t.Fatal(err)
	}
	w := store.Write{ActorID: a.ID, Generation: a.Generation, State: []byte(state),
		DB: &store.DBWrite{Truncate: c.Truncate, TruncateTo: c.TruncateTo}}
	for _, p := range c.Pages {
		w.DB.Pages = append(w.DB.Pages, store.DBPage{No: p.No, Data: p.Data})
	}
	errs, err := s.Commit(context.Background(), []store.Write{w})
	if err == nil {
		err = errs[0]
	}
	if err == nil {
		d.Committed(c.Seq)
	}
	return err
}

func sqlCount(t *testing.T, d *pagedb.DB) int64 {
	t.Helper()
	st, _, err := d.Conn().Prepare("SELECT count(*), sum(length(v)) FROM t")
	if err != nil {
		t.Fatal(d.Check(err))
	}
	defer st.Close()
	if !st.Step() {
		t.Fatal(d.Check(st.Err()))
	}
	return st.ColumnInt64(0)
}

// testDBPagesSQLite runs an SQLite database (internal/pagedb) over the
// store's pages: commits with state, a reopen that reads lazily, VACUUM's
// truncation, a stale generation's commit refused, and destroy.
func testDBPagesSQLite(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "sql")).ID)
	opts := pagedb.Options{CachePages: 16, ReadAhead: 8}
	d, err := pagedb.Open(ctx, storeSource{s, a.ID}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { d.Close() }()
	run := func(sql string) {
		t.Helper()
		if err := d.Check(d.Conn().Exec(sql)); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	run("CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)")
	for i := 0; i < 5; i++ {
		run(fmt.Sprintf("INSERT INTO t(v) SELECT randomblob(500) FROM generate_series(1, %d)", 200))
		if err := sqlCommit(t, s, a, d, fmt.Sprint("s", i)); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := s.LoadState(ctx, a.ID, a.Generation); err != nil || string(st) != "s4" {
		t.Fatalf("state = %q, %v", st, err)
	}
	d.Close()

	// A new activation reads the database lazily from the store.
	a2, err := s.Activate(ctx, a.ID, "runner-2", 0)
	if err != nil {
		t.Fatal(err)
	}
	if d, err = pagedb.Open(ctx, storeSource{s, a.ID}, opts); err != nil {
		t.Fatal(err)
	}
	if n := sqlCount(t, d); n != 1000 {
		t.Fatalf("rows after reopen = %d, want 1000", n)
	}
	if st := d.Stats(); st.Cached > 16 || st.PagesRead == 0 {
		t.Fatalf("stats after a full scan: %+v", st)
	}
	// The old generation's commit is refused and changes nothing.
	run("DELETE FROM t WHERE k <= 500")
	if err := sqlCommit(t, s, a, d, "stale"); err == nil {
		t.Fatal("a stale generation's page write was accepted")
	}
	d.Close()
	if d, err = pagedb.Open(ctx, storeSource{s, a.ID}, opts); err != nil {
		t.Fatal(err)
	}
	if n := sqlCount(t, d); n != 1000 {
		t.Fatalf("rows after the fenced commit = %d, want 1000", n)
	}
	// VACUUM shrinks the file: the store drops the pages past its end.
	run("DELETE FROM t WHERE k > 10; VACUUM")
	if err := sqlCommit(t, s, a2, d, "vacuumed"); err != nil {
		t.Fatal(err)
	}
	_, count, err := s.ReadDBPages(ctx, a.ID, 1, 1)
	if err != nil || count > 10 {
		t.Fatalf("after VACUUM the store holds %d pages (%v)", count, err)
	}
	d.Close()
	if d, err = pagedb.Open(ctx, storeSource{s, a.ID}, opts); err != nil {
		t.Fatal(err)
	}
	if n := sqlCount(t, d); n != 10 {
		t.Fatalf("rows after VACUUM and reopen = %d, want 10", n)
	}
}
