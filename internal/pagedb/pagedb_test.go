package pagedb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// memSource is a Source over a map, with Apply as the store's commit.
type memSource struct {
	mu    sync.Mutex
	pages map[uint32][]byte
}

func newMemSource() *memSource { return &memSource{pages: map[uint32][]byte{}} }

func (m *memSource) ReadPages(_ context.Context, from, to uint32) ([]Page, uint32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Page
	var count uint32
	for no, d := range m.pages {
		count = max(count, no)
		if no >= from && no < to {
			out = append(out, Page{No: no, Data: slices.Clone(d)})
		}
	}
	slices.SortFunc(out, func(a, b Page) int { return int(a.No) - int(b.No) })
	return out, count, nil
}

func (m *memSource) Apply(c Changes) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.Truncate {
		for no := range m.pages {
			if no > c.TruncateTo {
				delete(m.pages, no)
			}
		}
	}
	for _, p := range c.Pages {
		m.pages[p.No] = slices.Clone(p.Data)
	}
}

func open(t *testing.T, src Source, opts Options) *DB {
	t.Helper()
	d, err := Open(context.Background(), src, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func exec(t *testing.T, d *DB, sql string) {
	t.Helper()
	if err := d.Check(d.Conn().Exec(sql)); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

// commit takes the changes, stores them and confirms them.
func commit(t *testing.T, d *DB, src *memSource) Changes {
	t.Helper()
	c, err := d.Take()
	if err != nil {
		t.Fatalf("take: %v", err)
	}
	src.Apply(c)
	d.Committed(c.Seq)
	return c
}

func queryInt(t *testing.T, d *DB, sql string) int64 {
	t.Helper()
	st, _, err := d.Conn().Prepare(sql)
	if err != nil {
		t.Fatalf("prepare %q: %v", sql, d.Check(err))
	}
	defer st.Close()
	if !st.Step() {
		t.Fatalf("%q: no row: %v", sql, d.Check(st.Err()))
	}
	return st.ColumnInt64(0)
}

func integrity(t *testing.T, d *DB) {
	t.Helper()
	st, _, err := d.Conn().Prepare("PRAGMA integrity_check")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !st.Step() || st.ColumnText(0) != "ok" {
		t.Fatalf("integrity check: %q %v", st.ColumnText(0), st.Err())
	}
}

func TestCommitAndReopen(t *testing.T) {
	t.Parallel()
	src := newMemSource()
	d := open(t, src, Options{})
	exec(t, d, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
	exec(t, d, "INSERT INTO t(v) VALUES ('a'), ('b')")
	c := commit(t, d, src)
	if len(c.Pages) == 0 {
		t.Fatal("a commit that created a table took no pages")
	}
	if s := d.Stats(); s.Batches < 2 {
		t.Fatalf("%d atomic batches for 2 commits: SQLite did not use batch atomic writes", s.Batches)
	}
	if c2, _ := d.Take(); !c2.Empty() {
		t.Fatalf("a second take with no statements in between is not empty: %d pages", len(c2.Pages))
	}
	d.Close()

	d2 := open(t, src, Options{})
	if n := queryInt(t, d2, "SELECT count(*) FROM t"); n != 2 {
		t.Fatalf("rows after reopen = %d, want 2", n)
	}
	integrity(t, d2)
}

func TestRollbackKeepsNothing(t *testing.T) {
	t.Parallel()
	src := newMemSource()
	d := open(t, src, Options{})
	exec(t, d, "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)")
	commit(t, d, src)
	exec(t, d, "BEGIN; INSERT INTO t(v) SELECT randomblob(3000) FROM generate_series(1, 50); ROLLBACK")
	if n := queryInt(t, d, "SELECT count(*) FROM t"); n != 0 {
		t.Fatalf("rows after rollback = %d", n)
	}
	commit(t, d, src)
	d.Close()
	d2 := open(t, src, Options{})
	if n := queryInt(t, d2, "SELECT count(*) FROM t"); n != 0 {
		t.Fatalf("rows after reopen = %d", n)
	}
	integrity(t, d2)
}

func TestCrashKeepsLastTakenSet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		after string // statements run after the last stored take, never stored
	}{
		{"between transactions", "INSERT INTO t(v) VALUES ('lost'); INSERT INTO t(v) VALUES ('lost too')"},
		{"mid transaction", "BEGIN; INSERT INTO t(v) SELECT 'lost' FROM generate_series(1, 500)"},
		{"taken but not stored", "INSERT INTO t(v) VALUES ('lost'); -- taken below, never applied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := newMemSource()
			d := open(t, src, Options{})
			exec(t, d, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES ('kept')")
			commit(t, d, src)
			exec(t, d, tc.after)
			if _, err := d.Take(); strings.HasPrefix(tc.name, "mid") && !errors.Is(err, ErrTxOpen) {
				t.Fatalf("take inside a transaction: %v, want ErrTxOpen", err)
			}
			d.Close() // the crash: nothing more reaches src

			d2 := open(t, src, Options{})
			if n := queryInt(t, d2, "SELECT count(*) FROM t"); n != 1 {
				t.Fatalf("rows = %d, want the 1 stored", n)
			}
			integrity(t, d2)
		})
	}
}

// fill inserts rows of ~1 KiB in transactions of 100, storing each.
func fill(t *testing.T, d *DB, src *memSource, rows int) {
	t.Helper()
	exec(t, d, "CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v BLOB)")
	for i := 0; i < rows; i += 100 {
		exec(t, d, fmt.Sprintf("INSERT INTO t(v) SELECT randomblob(1000) FROM generate_series(1, %d)", min(100, rows-i)))
		commit(t, d, src)
	}
}

func TestCacheBoundAndLazyReads(t *testing.T) {
	t.Parallel()
	src := newMemSource()
	opts := Options{CachePages: 64, ReadAhead: 16}
	d := open(t, src, opts)
	fill(t, d, src, 4000) // ~1000 pages
	if s := d.Stats(); s.Cached > 64 || s.Pinned != 0 || s.Dirty != 0 {
		t.Fatalf("stats after fill = %+v, want at most 64 cached, nothing pinned or dirty", s)
	}
	d.Close()
	_, count, _ := src.ReadPages(context.Background(), 1, 1)
	if count < 900 {
		t.Fatalf("stored %d pages, want ~1000", count)
	}

	d2 := open(t, src, opts)
	if got := queryInt(t, d2, "SELECT length(v) FROM t WHERE k = 2345"); got != 1000 {
		t.Fatalf("point query read a value of %d bytes", got)
	}
	if s := d2.Stats(); s.PagesRead > 10 {
		t.Fatalf("a point query on a %d-page database read %d pages, want a handful", count, s.PagesRead)
	}
	if n := queryInt(t, d2, "SELECT count(*) FROM t WHERE length(v) = 1000"); n != 4000 {
		t.Fatalf("full scan counted %d rows", n)
	}
	s := d2.Stats()
	if s.Cached > 64 {
		t.Fatalf("cache holds %d pages, bound is 64", s.Cached)
	}
	if s.Fetches*2 > s.PagesRead {
		t.Fatalf("a full scan made %d fetches for %d pages: no read-ahead", s.Fetches, s.PagesRead)
	}
	integrity(t, d2)
}

func TestTakenPagesStayPinnedUntilCommitted(t *testing.T) {
	t.Parallel()
	src := newMemSource()
	d := open(t, src, Options{CachePages: 16, ReadAhead: 4})
	fill(t, d, src, 200)
	exec(t, d, "UPDATE t SET v = zeroblob(1000)")
	c, err := d.Take()
	if err != nil {
		t.Fatal(err)
	}
	// Not yet stored: every read must still see the update.
	if n := queryInt(t, d, "SELECT count(*) FROM t WHERE v = zeroblob(1000)"); n != 200 {
		t.Fatalf("before the commit, %d rows show the update, want 200", n)
	}
	src.Apply(c)
	d.Committed(c.Seq)
	if s := d.Stats(); s.Pinned != 0 || s.Cached > 16 {
		t.Fatalf("after committed: %+v", s)
	}
	if n := queryInt(t, d, "SELECT count(*) FROM t WHERE v = zeroblob(1000)"); n != 200 {
		t.Fatalf("after the commit, %d rows show the update", n)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts Options
		want error
	}{
		{"size", Options{MaxSize: 64 * PageSize}, ErrTooLarge},
		{"dirty pages", Options{MaxDirtyPages: 16}, ErrTooManyDirty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := newMemSource()
			d := open(t, src, tc.opts)
			exec(t, d, "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB); INSERT INTO t(v) VALUES (x'01')")
			commit(t, d, src)
			err := d.Check(d.Conn().Exec("INSERT INTO t(v) SELECT randomblob(1000) FROM generate_series(1, 400)"))
			if !errors.Is(err, tc.want) {
				t.Fatalf("oversized insert: %v, want %v", err, tc.want)
			}
			// The statement rolled back; the database keeps serving.
			if n := queryInt(t, d, "SELECT count(*) FROM t"); n != 1 {
				t.Fatalf("rows after the failed insert = %d, want 1", n)
			}
			exec(t, d, "INSERT INTO t(v) VALUES (x'02')")
			commit(t, d, src)
			d.Close()
			d2 := open(t, src, tc.opts)
			if n := queryInt(t, d2, "SELECT count(*) FROM t"); n != 2 {
				t.Fatalf("rows after reopen = %d, want 2", n)
			}
			integrity(t, d2)
		})
	}
}

func TestShrinkDeletesPages(t *testing.T) {
	t.Parallel()
	src := newMemSource()
	d := open(t, src, Options{})
	fill(t, d, src, 1000)
	exec(t, d, "DELETE FROM t; VACUUM")
	c := commit(t, d, src)
	if !c.Truncate {
		t.Fatal("VACUUM of an emptied table did not truncate")
	}
	_, count, _ := src.ReadPages(context.Background(), 1, 1)
	if count > 4 {
		t.Fatalf("after VACUUM %d pages are stored", count)
	}
	d.Close()
	d2 := open(t, src, Options{})
	integrity(t, d2)
	if n := queryInt(t, d2, "SELECT count(*) FROM t"); n != 0 {
		t.Fatalf("rows = %d", n)
	}
}
