package runner

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/pagedb"
)

// DB is the actor's own SQL database: SQLite, stored with the actor's
// state (never on a runner's disk). What an action changes in it commits
// atomically with the action's state and KV changes, before the reply
// leaves; a failed action's SQL changes still commit, like its state,
// unless the action rolls them back with Tx. Statements stop when the
// action's context ends.
//
// Arguments bind positionally to ? placeholders: nil, bool, integers,
// floats, string, []byte, time.Time (stored as RFC 3339 text) and
// driver.Valuer. Scan destinations are pointers to those types (and to
// any), or sql.Scanner implementations such as sql.NullString.
//
// Errors are ordinary Go errors: an action that returns one reaches the
// client masked as an internal error unless wrapped in a UserError. The
// limits give errors that reach the client as they are:
// actor/db_too_large and actor/db_commit_too_large.
//
// PRAGMA user_version records Options.Migrate; do not set it yourself.
// Use Tx for transactions rather than BEGIN/COMMIT statements.
type DB struct {
	in  *Instance
	ctx context.Context
}

// DB returns the actor's SQL database for statements under ctx (they stop
// when it ends).
func (in *Instance) DB(ctx context.Context) *DB { return &DB{in: in, ctx: ctx} }

// Result is what Exec reports.
type Result struct {
	RowsAffected int64
	LastInsertID int64
}

// ErrNoRows is Row.Scan's error when the query returned no row.
var ErrNoRows = sql.ErrNoRows

// Exec runs one or more statements that return no rows. With args, query
// must be a single statement.
func (d *DB) Exec(query string, args ...any) (Result, error) {
	db, err := d.in.sqlDB(d.ctx)
	if err != nil {
		return Result{}, dbErr(err)
	}
	conn := db.Conn()
	if len(args) == 0 {
		if err := conn.Exec(query); err != nil {
			return Result{}, dbErr(db.Check(err))
		}
		return Result{RowsAffected: conn.Changes(), LastInsertID: conn.LastInsertRowID()}, nil
	}
	st, err := prepare(db, query, args)
	if err != nil {
		return Result{}, err
	}
	defer st.Close()
	if err := st.Exec(); err != nil {
		return Result{}, dbErr(db.Check(err))
	}
	return Result{RowsAffected: conn.Changes(), LastInsertID: conn.LastInsertRowID()}, nil
}

// Query runs a statement that returns rows. Close the Rows (or read them
// to the end) before the next statement.
func (d *DB) Query(query string, args ...any) (*Rows, error) {
	db, err := d.in.sqlDB(d.ctx)
	if err != nil {
		return nil, dbErr(err)
	}
	st, err := prepare(db, query, args)
	if err != nil {
		return nil, err
	}
	return &Rows{db: db, st: st}, nil
}

// QueryRow runs a query expected to return at most one row; its error is
// returned by Row.Scan.
func (d *DB) QueryRow(query string, args ...any) *Row {
	rows, err := d.Query(query, args...)
	return &Row{rows: rows, err: err}
}

// Tx runs fn in a transaction (an SQLite savepoint, so Tx nests): if fn
// returns an error or panics, what it changed in the database is rolled
// back and the error returned. fn may not reach a wait point (Wait, Await,
// a call to another actor): those commit, and are refused inside Tx.
func (d *DB) Tx(fn func(tx *DB) error) (err error) {
	if _, err := d.Exec("SAVEPOINT tx"); err != nil {
		return err
	}
	d.in.dbs.txDepth++
	defer func() { d.in.dbs.txDepth-- }()
	done := false
	defer func() {
		if done {
			return
		}
		// fn failed or panicked: undo its changes, keep the outer ones.
		if _, rerr := d.Exec("ROLLBACK TO tx; RELEASE tx"); rerr != nil && err != nil {
			err = errors.Join(err, rerr)
		}
	}()
	if err = fn(d); err != nil {
		return err
	}
	if _, err = d.Exec("RELEASE tx"); err != nil {
		return err
	}
	done = true
	return nil
}

// Rows is the result of Query.
type Rows struct {
	db   *pagedb.DB
	st   *sqlite3.Stmt
	err  error
	done bool
}

// Next advances to the next row; false at the end or on an error (see Err).
func (r *Rows) Next() bool {
	if r.done {
		return false
	}
	if r.st.Step() {
		return true
	}
	r.err = dbErr(r.db.Check(r.st.Err()))
	r.Close()
	return false
}

// Columns returns the column names.
func (r *Rows) Columns() []string {
	if r.st == nil {
		return nil
	}
	out := make([]string, r.st.ColumnCount())
	for i := range out {
		out[i] = r.st.ColumnName(i)
	}
	return out
}

// Scan copies the current row's columns into dest, one pointer per column.
func (r *Rows) Scan(dest ...any) error {
	if r.done {
		return errors.New("rivet: Scan after the last row")
	}
	if n := r.st.ColumnCount(); n != len(dest) {
		return fmt.Errorf("rivet: Scan got %d destinations for %d columns", len(dest), n)
	}
	vals := make([]any, len(dest))
	if err := r.st.Columns(vals...); err != nil {
		return dbErr(r.db.Check(err))
	}
	for i, v := range vals {
		if err := assign(dest[i], v); err != nil {
			return fmt.Errorf("rivet: scan column %d (%s): %w", i, r.st.ColumnName(i), err)
		}
	}
	return nil
}

// Err is the error that ended Next, if any.
func (r *Rows) Err() error { return r.err }

// Close releases the statement; safe to call more than once.
func (r *Rows) Close() error {
	if r.done {
		return nil
	}
	r.done = true
	return r.st.Close()
}

// Row is the result of QueryRow.
type Row struct {
	rows *Rows
	err  error
}

// Scan copies the row's columns into dest, or returns ErrNoRows.
func (r *Row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return ErrNoRows
	}
	return r.rows.Scan(dest...)
}

func prepare(db *pagedb.DB, query string, args []any) (*sqlite3.Stmt, error) {
	st, tail, err := db.Conn().Prepare(query)
	if err != nil {
		return nil, dbErr(db.Check(err))
	}
	if st == nil {
		return nil, errors.New("rivet: empty SQL statement")
	}
	if tail != "" && !blank(tail) {
		st.Close()
		return nil, errors.New("rivet: more than one SQL statement with arguments")
	}
	if n := st.BindCount(); n != len(args) {
		st.Close()
		return nil, fmt.Errorf("rivet: statement has %d parameters, got %d arguments", n, len(args))
	}
	for i, a := range args {
		if err := bind(st, i+1, a); err != nil {
			st.Close()
			return nil, fmt.Errorf("rivet: argument %d: %w", i+1, err)
		}
	}
	return st, nil
}

func blank(s string) bool {
	for _, c := range s {
		switch c {
		case ' ', '\t', '\n', '\r', ';':
		default:
			return false
		}
	}
	return true
}

func bind(st *sqlite3.Stmt, i int, a any) error {
	if v, ok := a.(driver.Valuer); ok {
		dv, err := v.Value()
		if err != nil {
			return err
		}
		a = dv
	}
	switch v := a.(type) {
	case nil:
		return st.BindNull(i)
	case bool:
		return st.BindBool(i, v)
	case string:
		return st.BindText(i, v)
	case []byte:
		if v == nil {
			return st.BindNull(i)
		}
		return st.BindBlob(i, v)
	case time.Time:
		return st.BindText(i, v.Format(time.RFC3339Nano))
	case float32:
		return st.BindFloat(i, float64(v))
	case float64:
		return st.BindFloat(i, v)
	}
	rv := reflect.ValueOf(a)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return st.BindInt64(i, rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return fmt.Errorf("%d overflows an SQL integer", u)
		}
		return st.BindInt64(i, int64(u))
	case reflect.String:
		return st.BindText(i, rv.String())
	case reflect.Pointer:
		if rv.IsNil() {
			return st.BindNull(i)
		}
		return bind(st, i, rv.Elem().Interface())
	}
	return fmt.Errorf("cannot bind a %T", a)
}

// assign stores a column value (int64, float64, string, []byte or nil)
// into dest.
func assign(dest, v any) error {
	if s, ok := dest.(sql.Scanner); ok {
		return s.Scan(v)
	}
	switch d := dest.(type) {
	case *any:
		*d = v
		return nil
	case *[]byte:
		switch v := v.(type) {
		case nil:
			*d = nil
		case []byte:
			*d = v
		case string:
			*d = []byte(v)
		default:
			return fmt.Errorf("cannot scan %T into *[]byte", v)
		}
		return nil
	case *time.Time:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("cannot scan %T into *time.Time", v)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return err
		}
		*d = t
		return nil
	}
	rv := reflect.ValueOf(dest)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("destination %T is not a non-nil pointer", dest)
	}
	e := rv.Elem()
	if v == nil {
		if e.Kind() == reflect.Pointer || e.Kind() == reflect.Interface {
			e.SetZero()
			return nil
		}
		return fmt.Errorf("cannot scan NULL into %T (use a pointer or sql.Null*)", dest)
	}
	if e.Kind() == reflect.Pointer {
		p := reflect.New(e.Type().Elem())
		if err := assign(p.Interface(), v); err != nil {
			return err
		}
		e.Set(p)
		return nil
	}
	switch e.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(int64)
		if !ok {
			return fmt.Errorf("cannot scan %T into %T", v, dest)
		}
		if e.OverflowInt(n) {
			return fmt.Errorf("%d overflows %s", n, e.Type())
		}
		e.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(int64)
		if !ok || n < 0 || e.OverflowUint(uint64(n)) {
			return fmt.Errorf("cannot scan %v into %T", v, dest)
		}
		e.SetUint(uint64(n))
	case reflect.Float32, reflect.Float64:
		switch n := v.(type) {
		case float64:
			e.SetFloat(n)
		case int64:
			e.SetFloat(float64(n))
		default:
			return fmt.Errorf("cannot scan %T into %T", v, dest)
		}
	case reflect.Bool:
		n, ok := v.(int64)
		if !ok {
			return fmt.Errorf("cannot scan %T into %T", v, dest)
		}
		e.SetBool(n != 0)
	case reflect.String:
		switch s := v.(type) {
		case string:
			e.SetString(s)
		case []byte:
			e.SetString(string(s))
		default:
			return fmt.Errorf("cannot scan %T into %T", v, dest)
		}
	default:
		return fmt.Errorf("cannot scan into %T", dest)
	}
	return nil
}

// dbErr gives limit errors a code the client sees (an action that returns
// one passes it on unmasked).
func dbErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pagedb.ErrTooLarge):
		return fmt.Errorf("%w (%w)", errs.DBTooLarge(), err)
	case errors.Is(err, pagedb.ErrTooManyDirty):
		return fmt.Errorf("%w (%w)", errs.DBCommitTooLarge(), err)
	}
	return err
}

// DBStats counts what the actor's database read from the store since the
// instance woke, and what it holds in memory.
type DBStats struct {
	PagesRead   int64 // pages read from the store
	Fetches     int64 // store reads (several pages each when reading ahead)
	CachedPages int   // clean pages in the bounded cache
}

// Stats returns the database's read counters (zero before first use).
func (d *DB) Stats() DBStats {
	if d.in.dbs.db == nil {
		return DBStats{}
	}
	s := d.in.dbs.db.Stats()
	return DBStats{PagesRead: s.PagesRead, Fetches: s.Fetches, CachedPages: s.Cached}
}
