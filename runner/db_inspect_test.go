package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/runner"
)

func inspectJSON(t *testing.T, e *env, id, method, path, body string, out any) error {
	t.Helper()
	req := httptest.NewRequest(method, "/"+path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	if err := e.rt.Inspect(context.Background(), hostapi.Target{ActorID: id}, rec, req); err != nil {
		return err
	}
	if rec.Code != http.StatusOK {
		t.Fatalf("%s %s: status %d: %s", method, path, rec.Code, rec.Body)
	}
	return json.Unmarshal(rec.Body.Bytes(), out)
}

func TestDBInspector(t *testing.T) {
	t.Parallel()
	e := newDBEnv(t, t.TempDir(), runner.Limits{})
	id := e.create(t, "sql", nil, nil)
	for _, n := range []string{"a", "b", "c"} {
		if _, err := call[int64](t, e, id, "put", item{Name: n, Qty: 2, Price: 0.5}); err != nil {
			t.Fatal(err)
		}
	}
	var schema struct {
		Objects   []struct{ Type, Name, SQL string }
		Migration int
		SizeBytes int64
	}
	if err := inspectJSON(t, e, id, http.MethodGet, "db/schema", "", &schema); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range schema.Objects {
		names = append(names, o.Type+":"+o.Name)
	}
	if strings.Join(names, ",") != "table:items,table:wakes" || schema.Migration != 2 || schema.SizeBytes <= 0 {
		t.Fatalf("schema = %+v", schema)
	}

	var res struct {
		Columns   []string
		Rows      [][]any
		Truncated bool
	}
	if err := inspectJSON(t, e, id, http.MethodPost, "db/query", `{"sql": "SELECT name, qty FROM items WHERE qty = ? ORDER BY name", "args": [2], "limit": 2}`, &res); err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Columns, ",") != "name,qty" || len(res.Rows) != 2 || res.Rows[1][0] != "b" || res.Rows[1][1] != 2.0 || !res.Truncated {
		t.Fatalf("query = %+v", res)
	}
	for _, bad := range []string{
		`{"sql": "DELETE FROM items"}`,
		`{"sql": "PRAGMA user_version = 7"}`,
		`{"sql": "SELECT * FROM nowhere"}`,
		`{"sql": ""}`,
	} {
		err := inspectJSON(t, e, id, http.MethodPost, "db/query", bad, &res)
		var pe *errs.Error
		if !errors.As(err, &pe) || pe.Status != http.StatusBadRequest {
			t.Fatalf("%s: %v, want a 400", bad, err)
		}
	}
	if n, err := call[int](t, e, id, "count", "items"); err != nil || n != 3 {
		t.Fatalf("items after the refused statements = %d, %v", n, err)
	}
}

// TestDBWakeReadsOnlyWhatItNeeds fills a database of about 32 MB, restarts
// the runtime (the actor sleeps and wakes) and checks a point query loads
// a handful of pages, not the database.
func TestDBWakeReadsOnlyWhatItNeeds(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("fills 32 MB")
	}
	dir := t.TempDir()
	e := newDBEnv(t, dir, runner.Limits{})
	id := e.create(t, "sql", nil, nil)
	const batches, rows = 8, 4000 // 8 × 4000 × ~1 KB
	for b := 0; b < batches; b++ {
		if err := func() error { _, err := call[any](t, e, id, "grow", rows); return err }(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := call[int64](t, e, id, "put", item{Name: "needle", Qty: 42}); err != nil {
		t.Fatal(err)
	}
	e.close()

	e2 := newDBEnv(t, dir, runner.Limits{})
	got, err := call[*item](t, e2, id, "get", "needle")
	if err != nil || got == nil || got.Qty != 42 {
		t.Fatalf("get needle after wake = %+v, %v", got, err)
	}
	_, count, err := e2.st.ReadDBPages(context.Background(), id, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	stats, ok := e2.rt.DBStatsForTest(id)
	if !ok {
		t.Fatal("the actor is not awake")
	}
	st := struct{ read int64 }{stats.PagesRead}
	if count < 7000 || st.read > 64 {
		t.Fatalf("woke a %d-page database and read %d pages for a point query", count, st.read)
	}
	t.Logf("database of %d pages (%d MB): the wake and a point query read %d pages", count, count*4096>>20, st.read)
}
