package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
)

// NotePoolDemand sets the pool's demand_at to the database's now().
func (s *Store) NotePoolDemand(ctx context.Context, pool string) error {
	if err := store.ValidatePoolName("note pool demand", pool); err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	_, err := s.pool.Exec(ctx, `INSERT INTO pool_activity (pool, demand_at) VALUES ($1, now())
		ON CONFLICT (pool) DO UPDATE SET demand_at = excluded.demand_at`, pool)
	if err != nil {
		return fmt.Errorf("note pool demand %s: %w", pool, err)
	}
	return nil
}

// SetPoolNames replaces the pool's remembered actor names.
func (s *Store) SetPoolNames(ctx context.Context, pool string, names []string) error {
	names, err := store.NormalizePoolNames(pool, names)
	if err != nil {
		return err
	}
	if names == nil {
		names = []string{}
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	_, err = s.pool.Exec(ctx, `INSERT INTO pool_activity (pool, names) VALUES ($1, $2)
		ON CONFLICT (pool) DO UPDATE SET names = excluded.names`, pool, names)
	if err != nil {
		return fmt.Errorf("set pool names %s: %w", pool, err)
	}
	return nil
}

// ListPoolActivity lists every pool_activity row, SinceDemand measured by
// the database's clock.
func (s *Store) ListPoolActivity(ctx context.Context) ([]store.PoolActivity, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	rows, err := s.pool.Query(ctx, `SELECT pool, names, demand_at,
			COALESCE((extract(epoch FROM now() - demand_at) * 1000000)::bigint, 0)
		FROM pool_activity ORDER BY pool COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list pool activity: %w", err)
	}
	defer rows.Close()
	var out []store.PoolActivity
	for rows.Next() {
		var a store.PoolActivity
		var demandAt *time.Time
		var sinceUs int64
		if err := rows.Scan(&a.Pool, &a.Names, &demandAt, &sinceUs); err != nil {
			return nil, fmt.Errorf("list pool activity: %w", err)
		}
		if len(a.Names) == 0 {
			a.Names = nil
		}
		if demandAt != nil {
			a.DemandAt = *demandAt
			a.SinceDemand = time.Duration(max(sinceUs, 0)) * time.Microsecond
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list pool activity: %w", err)
	}
	return out, nil
}
