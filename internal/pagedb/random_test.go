package pagedb

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

// TestRandomCrashes runs random transactions (committed or rolled back),
// stores the changes at random points, and "crashes" at random points
// (closes without storing, reopens from the source). A take is stored at
// once or only at the next take, its pages pinned in between. After every reopen
// the table must equal the model as of the last stored take, whole. Tiny
// caches force evictions and store reads throughout.
func TestRandomCrashes(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, seed*7))
			src := newMemSource()
			opts := Options{CachePages: 8, ReadAhead: 4}
			d := open(t, src, opts)
			// SQLite's own cache as small as ours: every read reaches the VFS.
			exec(t, d, "PRAGMA cache_size=8")
			exec(t, d, "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
			commit(t, d, src)
			live := map[int64]int{} // k → value length, as SQLite sees it now
			stored := map[int64]int{}
			var pending *Changes // taken, not stored yet
			var pendingModel map[int64]int
			for step := 0; step < 300; step++ {
				switch r := rng.IntN(100); {
				case r < 70: // a transaction
					next := maps.Clone(live)
					exec(t, d, "BEGIN")
					for range 1 + rng.IntN(20) {
						k := int64(rng.IntN(400))
						switch rng.IntN(3) {
						case 0, 1:
							n := 1 + rng.IntN(3000)
							exec(t, d, fmt.Sprintf("INSERT INTO t VALUES (%d, zeroblob(%d)) ON CONFLICT (k) DO UPDATE SET v = excluded.v", k, n))
							next[k] = n
						case 2:
							exec(t, d, fmt.Sprintf("DELETE FROM t WHERE k = %d", k))
							delete(next, k)
						}
					}
					if rng.IntN(4) == 0 {
						exec(t, d, "ROLLBACK")
					} else {
						exec(t, d, "COMMIT")
						live = next
					}
				case r < 85: // take; store now, or later (pinned meanwhile)
					if pending != nil {
						src.Apply(*pending)
						d.Committed(pending.Seq)
						stored, pending = pendingModel, nil
					}
					c, err := d.Take()
					if err != nil {
						t.Fatal(err)
					}
					if rng.IntN(2) == 0 {
						src.Apply(c)
						d.Committed(c.Seq)
						stored = maps.Clone(live)
					} else {
						pending, pendingModel = &c, maps.Clone(live)
					}
				case r < 90:
					exec(t, d, "VACUUM")
				default: // crash: what was not stored is gone
					if rng.IntN(2) == 0 {
						exec(t, d, "BEGIN; DELETE FROM t") // even mid-transaction
					}
					d.Close()
					pending = nil // taken but never stored: lost with the process
					d = open(t, src, opts)
					exec(t, d, "PRAGMA cache_size=8")
					live = maps.Clone(stored)
					check(t, d, live)
				}
			}
			if pending != nil {
				src.Apply(*pending)
				d.Committed(pending.Seq)
			}
			commit(t, d, src)
			d.Close()
			d = open(t, src, opts)
			check(t, d, live)
		})
	}
}

// check compares the table with the model and runs an integrity check.
func check(t *testing.T, d *DB, want map[int64]int) {
	t.Helper()
	st, _, err := d.Conn().Prepare("SELECT k, length(v) FROM t")
	if err != nil {
		t.Fatal(d.Check(err))
	}
	got := map[int64]int{}
	for st.Step() {
		got[st.ColumnInt64(0)] = st.ColumnInt(1)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("table has %d rows, model %d (or values differ)", len(got), len(want))
	}
	integrity(t, d)
}
