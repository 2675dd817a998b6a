package runner_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/rivet"
	"github.com/rivetkube/rivetkube/runner"
)

type dbTestState struct {
	Calls int `cbor:"calls"`
}

type item struct {
	Name  string  `cbor:"name"`
	Qty   int     `cbor:"qty"`
	Price float64 `cbor:"price"`
	Note  *string `cbor:"note"`
}

func dbActor() *rivet.Actor[dbTestState] {
	return rivet.New("sql", rivet.Options[dbTestState]{
		Migrate: []string{
			`CREATE TABLE items(name TEXT PRIMARY KEY, qty INTEGER NOT NULL, price REAL NOT NULL, note TEXT)`,
			`CREATE TABLE wakes(n INTEGER); INSERT INTO wakes VALUES (1)`,
		},
	}).
		Action("put", func(c *rivet.Ctx[dbTestState], it item) (int64, error) {
			c.State().Calls++
			r, err := c.DB().Exec(`INSERT INTO items VALUES (?, ?, ?, ?)
				ON CONFLICT(name) DO UPDATE SET qty = excluded.qty, price = excluded.price, note = excluded.note`,
				it.Name, it.Qty, it.Price, it.Note)
			return r.RowsAffected, err
		}).
		Action("get", func(c *rivet.Ctx[dbTestState], name string) (*item, error) {
			var it item
			err := c.DB().QueryRow(`SELECT name, qty, price, note FROM items WHERE name = ?`, name).Scan(&it.Name, &it.Qty, &it.Price, &it.Note)
			if errors.Is(err, rivet.ErrNoRows) {
				return nil, nil
			}
			return &it, err
		}).
		Action("list", func(c *rivet.Ctx[dbTestState]) ([]string, error) {
			rows, err := c.DB().Query(`SELECT name FROM items ORDER BY name`)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var n sql.NullString
				if err := rows.Scan(&n); err != nil {
					return nil, err
				}
				out = append(out, n.String)
			}
			return out, rows.Err()
		}).
		Action("count", func(c *rivet.Ctx[dbTestState], table string) (n int, err error) {
			err = c.DB().QueryRow(`SELECT count(*) FROM ` + table).Scan(&n)
			return n, err
		}).
		Action("txFail", func(c *rivet.Ctx[dbTestState], name string) error {
			// The outer insert stays; the failed transaction's does not.
			if _, err := c.DB().Exec(`INSERT INTO items VALUES (?, 1, 1, NULL)`, name+"-outer"); err != nil {
				return err
			}
			err := c.DB().Tx(func(tx *rivet.DB) error {
				if _, err := tx.Exec(`INSERT INTO items VALUES (?, 1, 1, NULL)`, name+"-inner"); err != nil {
					return err
				}
				return errors.New("changed my mind")
			})
			if err == nil || err.Error() != "changed my mind" {
				return errors.New("Tx did not return fn's error")
			}
			return nil
		}).
		Action("badSQL", func(c *rivet.Ctx[dbTestState]) (string, error) {
			_, err := c.DB().Exec(`INSERT INTO nowhere VALUES (1)`)
			if err == nil {
				return "", errors.New("bad SQL succeeded")
			}
			return err.Error(), nil
		}).
		Action("grow", func(c *rivet.Ctx[dbTestState], rows int) error {
			if _, err := c.DB().Exec(`CREATE TABLE IF NOT EXISTS big(v BLOB)`); err != nil {
				return err
			}
			_, err := c.DB().Exec(`INSERT INTO big SELECT randomblob(1000) FROM generate_series(1, ?)`, rows)
			return err
		}).
		Action("growNoCheck", func(c *rivet.Ctx[dbTestState], rows int) error {
			_, _ = c.DB().Exec(`CREATE TABLE IF NOT EXISTS big(v BLOB)`)
			_, err := c.DB().Exec(`INSERT INTO big SELECT randomblob(1000) FROM generate_series(1, ?)`, rows)
			_ = err // ignored on purpose: the commit must still refuse
			return nil
		}).
		Action("leakRows", func(c *rivet.Ctx[dbTestState], name string) error {
			// Inserts, then leaves a query open: the task must still commit.
			if _, err := c.DB().Exec(`INSERT INTO items VALUES (?, 1, 1, NULL)`, name); err != nil {
				return err
			}
			rows, err := c.DB().Query(`SELECT name FROM items`)
			if err != nil {
				return err
			}
			if !rows.Next() {
				return errors.New("no row")
			}
			return nil
		}).
		Action("waitBetween", func(c *rivet.Ctx[dbTestState], a, b string) error {
			if _, err := c.DB().Exec(`INSERT INTO items VALUES (?, 1, 1, NULL)`, a); err != nil {
				return err
			}
			if err := c.Wait(time.Millisecond); err != nil { // commits the first insert
				return err
			}
			_, err := c.DB().Exec(`INSERT INTO items VALUES (?, 1, 1, NULL)`, b)
			return err
		}).
		Action("waitInTx", func(c *rivet.Ctx[dbTestState], a string) (string, error) {
			err := c.DB().Tx(func(tx *rivet.DB) error {
				if _, err := tx.Exec(`INSERT INTO items VALUES (?, 1, 1, NULL)`, a); err != nil {
					return err
				}
				return c.Wait(time.Millisecond)
			})
			if err == nil {
				return "", errors.New("a wait point inside Tx was allowed")
			}
			return err.Error(), nil
		}).
		Action("shrink", func(c *rivet.Ctx[dbTestState]) error {
			_, err := c.DB().Exec(`DELETE FROM big; PRAGMA incremental_vacuum`)
			return err
		}).
		Action("spin", func(c *rivet.Ctx[dbTestState]) (int64, error) {
			var n int64
			err := c.DB().QueryRow(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c`).Scan(&n)
			return n, err
		}).
		Action("destroy", func(c *rivet.Ctx[dbTestState]) error { c.Destroy(); return nil })
}

// newDBEnv is newEnv with limits and the SQL test actor.
func newDBEnv(t *testing.T, dir string, limits runner.Limits) *env {
	t.Helper()
	return newEnvLimits(t, dir, limits, dbActor())
}

func TestDBActionsAndRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newDBEnv(t, dir, runner.Limits{})
	id := e.create(t, "sql", nil, nil)
	note := "fresh"
	if n, err := call[int64](t, e, id, "put", item{Name: "apple", Qty: 3, Price: 1.5, Note: &note}); err != nil || n != 1 {
		t.Fatalf("put = %d, %v", n, err)
	}
	if _, err := call[int64](t, e, id, "put", item{Name: "pear", Qty: 7, Price: 2}); err != nil {
		t.Fatal(err)
	}
	// The commit that answered put holds the pages.
	if _, count, err := e.st.ReadDBPages(context.Background(), id, 1, 1); err != nil || count < 2 {
		t.Fatalf("stored pages: %d, %v", count, err)
	}
	check := func(e *env) {
		t.Helper()
		got, err := call[*item](t, e, id, "get", "apple")
		if err != nil || got == nil || got.Qty != 3 || got.Price != 1.5 || got.Note == nil || *got.Note != "fresh" {
			t.Fatalf("get apple = %+v, %v", got, err)
		}
		got, err = call[*item](t, e, id, "get", "pear")
		if err != nil || got == nil || got.Note != nil {
			t.Fatalf("get pear = %+v, %v", got, err)
		}
		if got, err := call[*item](t, e, id, "get", "none"); err != nil || got != nil {
			t.Fatalf("get none = %+v, %v", got, err)
		}
		if names, err := call[[]string](t, e, id, "list"); err != nil || strings.Join(names, ",") != "apple,pear" {
			t.Fatalf("list = %v, %v", names, err)
		}
		// Migrations ran once, however often the actor woke.
		if n, err := call[int](t, e, id, "count", "wakes"); err != nil || n != 1 {
			t.Fatalf("wakes rows = %d, %v: a migration ran more than once", n, err)
		}
	}
	check(e)
	e.close()
	e2 := newDBEnv(t, dir, runner.Limits{})
	check(e2)
}

func TestDBTxAndBadSQL(t *testing.T) {
	t.Parallel()
	e := newDBEnv(t, t.TempDir(), runner.Limits{})
	id := e.create(t, "sql", nil, nil)
	if _, err := call[any](t, e, id, "txFail", "x"); err != nil {
		t.Fatal(err)
	}
	if names, err := call[[]string](t, e, id, "list"); err != nil || strings.Join(names, ",") != "x-outer" {
		t.Fatalf("after a failed Tx: %v, %v", names, err)
	}
	if _, err := call[any](t, e, id, "leakRows", "leaked"); err != nil {
		t.Fatalf("an action leaving rows open: %v", err)
	}
	if got, err := call[*item](t, e, id, "get", "leaked"); err != nil || got == nil {
		t.Fatalf("the insert of the action that left rows open: %+v, %v", got, err)
	}
	msg, err := call[string](t, e, id, "badSQL")
	if err != nil || !strings.Contains(msg, "no such table: nowhere") {
		t.Fatalf("bad SQL error = %q, %v", msg, err)
	}
	// The actor keeps serving.
	if _, err := call[int64](t, e, id, "put", item{Name: "y", Qty: 1}); err != nil {
		t.Fatal(err)
	}
}

func TestDBLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		limits runner.Limits
		action string
		code   string
	}{
		{"size", runner.Limits{MaxDBSize: 256 << 10}, "grow", "db_too_large"},
		{"dirty pages in the statement", runner.Limits{MaxDBDirtyPages: 40}, "grow", "db_commit_too_large"},
		{"dirty pages at the commit", runner.Limits{MaxDBDirtyPages: 40}, "growNoCheck", "db_commit_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newDBEnv(t, t.TempDir(), tc.limits)
			id := e.create(t, "sql", nil, nil)
			if _, err := call[int64](t, e, id, "put", item{Name: "kept", Qty: 1}); err != nil {
				t.Fatal(err)
			}
			_, err := call[any](t, e, id, tc.action, 400)
			var pe *errs.Error
			if !errors.As(err, &pe) || pe.Code != tc.code || pe.Status != 413 {
				t.Fatalf("%s of 400 KB: %v, want %s", tc.action, err, tc.code)
			}
			if n, err := call[int](t, e, id, "count", "items"); err != nil || n != 1 {
				t.Fatalf("items after the refused action = %d, %v", n, err)
			}
			if _, err := call[int64](t, e, id, "put", item{Name: "after", Qty: 1}); err != nil {
				t.Fatalf("the actor stopped serving: %v", err)
			}
		})
	}
}

func TestDBDestroyDeletesPages(t *testing.T) {
	t.Parallel()
	e := newDBEnv(t, t.TempDir(), runner.Limits{})
	id := e.create(t, "sql", nil, nil)
	if _, err := call[int64](t, e, id, "put", item{Name: "a", Qty: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := call[any](t, e, id, "destroy"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, count, err := e.st.ReadDBPages(context.Background(), id, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if count == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pages remain after destroy", count)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDBStatementStopsAtActionTimeout(t *testing.T) {
	t.Parallel()
	e := newDBEnv(t, t.TempDir(), runner.Limits{ActionTimeout: 300 * time.Millisecond})
	id := e.create(t, "sql", nil, nil)
	_, err := call[int64](t, e, id, "spin")
	var pe *errs.Error
	if !errors.As(err, &pe) || pe.Code != "action_timed_out" {
		t.Fatalf("an endless query: %v, want actor/action_timed_out", err)
	}
	// The interrupted statement leaves the actor serving.
	if _, err := call[int64](t, e, id, "put", item{Name: "after", Qty: 1}); err != nil {
		t.Fatalf("after the interrupted statement: %v", err)
	}
}

func TestDBWaitPoints(t *testing.T) {
	t.Parallel()
	e := newDBEnv(t, t.TempDir(), runner.Limits{})
	id := e.create(t, "sql", nil, nil)
	if _, err := call[any](t, e, id, "waitBetween", "before", "after"); err != nil {
		t.Fatal(err)
	}
	msg, err := call[string](t, e, id, "waitInTx", "inTx")
	if err != nil || !strings.Contains(msg, "inside DB.Tx") {
		t.Fatalf("a wait inside Tx: %q, %v", msg, err)
	}
	if names, err := call[[]string](t, e, id, "list"); err != nil || strings.Join(names, ",") != "after,before" {
		t.Fatalf("rows = %v, %v; want after,before (the refused Tx rolled back)", names, err)
	}
}

func TestDBIncrementalVacuumShrinksTheStore(t *testing.T) {
	t.Parallel()
	e := newDBEnv(t, t.TempDir(), runner.Limits{})
	id := e.create(t, "sql", nil, nil)
	if _, err := call[any](t, e, id, "grow", 2000); err != nil {
		t.Fatal(err)
	}
	_, before, err := e.st.ReadDBPages(context.Background(), id, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call[any](t, e, id, "shrink"); err != nil {
		t.Fatal(err)
	}
	_, after, err := e.st.ReadDBPages(context.Background(), id, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if before < 400 || after > 20 {
		t.Fatalf("stored pages: %d after 2 MB of rows, %d after deleting them and PRAGMA incremental_vacuum", before, after)
	}
}
