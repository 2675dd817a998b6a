package pgstore

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/testutil/pgtest"
)

// explain returns the plan of sql with sequential scans discouraged, so a
// usable index shows up even in a tiny table.
func explain(t *testing.T, s *Store, sql string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	var plan []string
	err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+sql, args...)
		if err != nil {
			return err
		}
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatalf("EXPLAIN: %v", err)
	}
	return strings.Join(plan, "\n")
}

// TestRegistryIndexes checks that the registry queries match the indexes of
// migration 0002 (predicate and collation), so they stay index scans as the
// actors table grows.
func TestRegistryIndexes(t *testing.T) {
	t.Parallel()
	srv := pgtest.StartServer(t)
	s := open(t, srv.NewDatabase(t))
	ctx := context.Background()
	for i := range 3 {
		id := "idx-" + string(rune('a'+i))
		if _, err := s.CreateActor(ctx, store.ActorSpec{ID: id, Namespace: "ns", Name: "n", Key: []string{id}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Place(ctx, id, "r1", 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Pool().Exec(ctx, "ANALYZE actors"); err != nil {
		t.Fatal(err)
	}

	plan := explain(t, s, actorsOnRunnerSQL, "r1", 10)
	if !strings.Contains(plan, "actors_runner_id") || strings.Contains(plan, "Sort") {
		t.Fatalf("ActorsOnRunner is not an ordered scan of actors_runner_id:\n%s", plan)
	}
	for name, q := range map[string]string{"all": listAllRunnersSQL, "pool": listPoolRunnersSQL} {
		var args []any
		if name == "pool" {
			args = []any{"p"}
		}
		if plan := explain(t, s, q, args...); !strings.Contains(plan, "actors_runner_id") {
			t.Fatalf("ListRunners(%s) counts do not use actors_runner_id:\n%s", name, plan)
		}
	}
	// 0002 replaced 0001's narrower index.
	var n int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM pg_indexes WHERE indexname = 'actors_runner'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("actors_runner still exists (%d, %v)", n, err)
	}
	for _, table := range []string{"runners", "pool_configs", "leases"} {
		if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatalf("table %s: %v", table, err)
		}
	}
}
