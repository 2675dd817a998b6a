package rivet

import "github.com/rivetkube/rivetkube/runner"

// The actor's SQL database (see runner.DB for the API and its guarantees).
type (
	// DB is the actor's own SQLite database, stored and committed with its
	// state; see Ctx.DB.
	DB = runner.DB
	// Rows is the result of DB.Query.
	Rows = runner.Rows
	// Row is the result of DB.QueryRow.
	Row = runner.Row
	// Result is what DB.Exec reports.
	Result = runner.Result
	// DBStats counts what the database read from the store.
	DBStats = runner.DBStats
)

// ErrNoRows is Row.Scan's error when the query returned no row.
var ErrNoRows = runner.ErrNoRows

// DB returns the actor's SQL database. Statements stop when the Ctx ends
// (the action timeout); what a task changes commits with its state.
func (c *Ctx[S]) DB() *DB { return c.in.DB(c.Context) }
