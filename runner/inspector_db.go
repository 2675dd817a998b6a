package runner

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/rivetkube/rivetkube/internal/errs"
)

// Inspector endpoints of the actor's SQL database: GET db/schema and POST
// db/query (read-only statements, at most maxInspectorRows rows).

const (
	defInspectorRows = 100
	maxInspectorRows = 1000
)

func (in *Instance) inspectDB(ctx context.Context, method, path string, body []byte) (int, any, error) {
	switch {
	case method == http.MethodGet && path == "db/schema":
		return in.inspectDBSchema(ctx)
	case method == http.MethodPost && path == "db/query":
		var b struct {
			SQL   string            `json:"sql"`
			Args  []json.RawMessage `json:"args"`
			Limit int               `json:"limit"`
		}
		if err := json.Unmarshal(body, &b); err != nil || b.SQL == "" {
			return 0, nil, errs.Malformed(`POST db/query wants {"sql": "...", "args": [...], "limit": n}`)
		}
		args := make([]any, len(b.Args))
		for i, a := range b.Args {
			if err := json.Unmarshal(a, &args[i]); err != nil {
				return 0, nil, errs.Malformed("args[%d]: %v", i, err)
			}
			if f, ok := args[i].(float64); ok && f == float64(int64(f)) {
				args[i] = int64(f)
			}
		}
		limit := b.Limit
		if limit <= 0 {
			limit = defInspectorRows
		}
		return in.inspectDBQuery(ctx, b.SQL, args, min(limit, maxInspectorRows))
	}
	return 0, nil, errs.InspectorNotFound(method, path)
}

func (in *Instance) inspectDBSchema(ctx context.Context) (int, any, error) {
	d := &DB{in: in, ctx: ctx}
	rows, err := d.Query(`SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema
		WHERE name NOT LIKE 'sqlite_%' ORDER BY type DESC, name`)
	if err != nil {
		return 0, nil, inspectorSQLErr(err)
	}
	type object struct {
		Type  string `json:"type"`
		Name  string `json:"name"`
		Table string `json:"table"`
		SQL   string `json:"sql"`
	}
	objects := []object{}
	for rows.Next() {
		var o object
		if err := rows.Scan(&o.Type, &o.Name, &o.Table, &o.SQL); err != nil {
			rows.Close()
			return 0, nil, inspectorSQLErr(err)
		}
		objects = append(objects, o)
	}
	if err := rows.Err(); err != nil {
		return 0, nil, inspectorSQLErr(err)
	}
	var pages, pageSize, version int64
	for q, dst := range map[string]*int64{"PRAGMA page_count": &pages, "PRAGMA page_size": &pageSize, "PRAGMA user_version": &version} {
		if err := d.QueryRow(q).Scan(dst); err != nil {
			return 0, nil, inspectorSQLErr(err)
		}
	}
	st := in.dbs.db.Stats()
	return http.StatusOK, map[string]any{
		"objects": objects, "sizeBytes": pages * pageSize, "pageSize": pageSize, "migration": version,
		"cache": map[string]any{"cachedPages": st.Cached, "pagesRead": st.PagesRead, "fetches": st.Fetches},
	}, nil
}

func (in *Instance) inspectDBQuery(ctx context.Context, sql string, args []any, limit int) (int, any, error) {
	db, err := in.sqlDB(ctx)
	if err != nil {
		return 0, nil, inspectorSQLErr(err)
	}
	st, err := prepare(db, sql, args)
	if err != nil {
		return 0, nil, inspectorSQLErr(err)
	}
	defer st.Close()
	if !st.ReadOnly() {
		return 0, nil, errs.InvalidRequest("the inspector runs read-only statements only")
	}
	r := &Rows{db: db, st: st}
	cols := r.Columns()
	out := [][]any{}
	truncated := false
	for r.Next() {
		if len(out) == limit {
			truncated = true
			break
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			return 0, nil, inspectorSQLErr(err)
		}
		out = append(out, vals)
	}
	if err := r.Err(); err != nil {
		return 0, nil, inspectorSQLErr(err)
	}
	return http.StatusOK, map[string]any{"columns": cols, "rows": out, "truncated": truncated}, nil
}

// inspectorSQLErr shows SQL errors to the inspector's (trusted) caller.
func inspectorSQLErr(err error) error {
	var pe *errs.Error
	if errors.As(err, &pe) {
		return pe
	}
	return errs.InvalidRequest("%v", err)
}
