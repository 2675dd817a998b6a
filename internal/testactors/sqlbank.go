package testactors

import (
	"time"

	"github.com/rivetkube/rivetkube/rivet"
)

// BatchCount is how many rows of a batch SQLBank holds.
type BatchCount struct {
	Batch int64 `cbor:"batch"`
	Rows  int64 `cbor:"rows"`
}

// SQLBank writes batches of rows to its SQL database, each batch in one
// action, for the all-or-nothing tests: after any crash a batch has all
// its rows or none. fill's optional holdMs (at most 10 s) keeps the action
// running after its inserts, so a test can freeze the runner while the
// batch is written but not committed.
var SQLBank = rivet.New("sqlBank", rivet.Options[struct{}]{
	Migrate: []string{`CREATE TABLE rows (batch INTEGER NOT NULL, i INTEGER NOT NULL, pad BLOB NOT NULL, PRIMARY KEY (batch, i))`},
}).
	Action("fill", func(c *rivet.Ctx[struct{}], batch, n, holdMs int64) (int64, error) {
		if n < 1 || n > 100_000 || holdMs < 0 || holdMs > 10_000 {
			return 0, rivet.NewUserError("invalid_count", "n must be 1 to 100000 and holdMs 0 to 10000", nil)
		}
		r, err := c.DB().Exec(`INSERT INTO rows (batch, i, pad) SELECT ?, value, randomblob(100) FROM generate_series(1, ?)`, batch, n)
		if err == nil && holdMs > 0 {
			select {
			case <-time.After(time.Duration(holdMs) * time.Millisecond):
			case <-c.Done():
			}
		}
		return r.RowsAffected, err
	}).
	Action("batches", func(c *rivet.Ctx[struct{}]) ([]BatchCount, error) {
		rows, err := c.DB().Query(`SELECT batch, count(*) FROM rows GROUP BY batch ORDER BY batch`)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := []BatchCount{}
		for rows.Next() {
			var b BatchCount
			if err := rows.Scan(&b.Batch, &b.Rows); err != nil {
				return nil, err
			}
			out = append(out, b)
		}
		return out, rows.Err()
	}).
	Action("row", func(c *rivet.Ctx[struct{}], batch, i int64) (int64, error) {
		var n int64
		err := c.DB().QueryRow(`SELECT length(pad) FROM rows WHERE batch = ? AND i = ?`, batch, i).Scan(&n)
		return n, err
	}).
	Action("pagesRead", func(c *rivet.Ctx[struct{}]) (int64, error) {
		return c.DB().Stats().PagesRead, nil
	}).
	Action("integrity", func(c *rivet.Ctx[struct{}]) (string, error) {
		var s string
		err := c.DB().QueryRow(`PRAGMA integrity_check`).Scan(&s)
		return s, err
	})
