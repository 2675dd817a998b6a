package pgstore

import (
	"context"

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
	return s.listRunners(ctx, "list runner rows", pool, listAllRunnerRowsSQL, listPoolRunnerRowsSQL)
}
