package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/rivetkube/rivetkube/internal/store"
)

// The ListRunnerRows queries: the runners' rows with a count of 0 (the
// column scanRunner reads), without the GROUP BY over placed actors.
const (
	listAllRunnerRowsSQL  = `SELECT ` + runnerCols + `, 0::bigint FROM runners r ORDER BY r.id COLLATE "C"`
	listPoolRunnerRowsSQL = `SELECT ` + runnerCols + `, 0::bigint FROM runners r WHERE r.pool = $1 ORDER BY r.id COLLATE "C"`
)

// ListRunnerRows lists the runners of pool ("" = all) in bytewise ID
// order, without counting their actors.
func (s *Store) ListRunnerRows(ctx context.Context, pool string) ([]store.Runner, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	var (
		rows pgx.Rows
		err  error
	)
	if pool == "" {
		rows, err = s.pool.Query(ctx, listAllRunnerRowsSQL)
	} else {
		rows, err = s.pool.Query(ctx, listPoolRunnerRowsSQL, pool)
	}
	if err != nil {
		return nil, fmt.Errorf("list runner rows: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Runner, error) { return scanRunner(row) })
	if err != nil {
		return nil, fmt.Errorf("list runner rows: %w", err)
	}
	return out, nil
}
