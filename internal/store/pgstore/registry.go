package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rivetkube/rivetkube/internal/store"
)

// UpsertRunner registers the runner or refreshes its row; heartbeat_at is
// the database's now(), started_at is kept on refresh and draining is
// sticky (see store.Store).
func (s *Store) UpsertRunner(ctx context.Context, r store.Runner) error {
	if err := store.ValidateRunner(r); err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	names := r.Names
	if names == nil {
		names = []string{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO runners (id, pool, version, address, names, draining, started_at, heartbeat_at)
		VALUES ($1, $2, $3, $4, $5, $6, now(), now())
		ON CONFLICT (id) DO UPDATE SET pool = excluded.pool, version = excluded.version,
			address = excluded.address, names = excluded.names,
			draining = runners.draining OR excluded.draining, heartbeat_at = now()`,
		r.ID, r.Pool, int64(r.Version), r.Address, names, r.Draining)
	if err != nil {
		return fmt.Errorf("upsert runner %s: %w", r.ID, err)
	}
	return nil
}

// updateRunner runs an UPDATE of one runner row and maps "no row" to
// store.RunnerNotFound.
func (s *Store) updateRunner(ctx context.Context, what, id, sql string, args ...any) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	tag, err := s.pool.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", what, store.RunnerNotFound(id))
	}
	return nil
}

// HeartbeatRunner sets the runner's heartbeat_at to the database's now().
func (s *Store) HeartbeatRunner(ctx context.Context, id string) error {
	return s.updateRunner(ctx, "heartbeat runner", id,
		`UPDATE runners SET heartbeat_at = now() WHERE id = $1`, id)
}

// SetRunnerDraining sets the runner's draining flag.
func (s *Store) SetRunnerDraining(ctx context.Context, id string, draining bool) error {
	return s.updateRunner(ctx, "set runner draining", id,
		`UPDATE runners SET draining = $2 WHERE id = $1`, id, draining)
}

// RemoveRunner deletes the runner row and, in the same transaction, clears
// the placement of the actors placed on it (generation untouched).
func (s *Store) RemoveRunner(ctx context.Context, id string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM runners WHERE id = $1`, id); err != nil {
			return err
		}
		// Lock the rows in ID order first, as Commit does, so this
		// multi-row update cannot deadlock with a concurrent batch.
		_, err := tx.Exec(ctx, `WITH locked AS (
				SELECT id FROM actors WHERE runner_id = $1 AND runner_id <> '' ORDER BY id FOR UPDATE)
			UPDATE actors a SET runner_id = '', sleep_at = now()
			FROM locked WHERE a.id = locked.id AND a.runner_id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove runner %s: %w", id, err)
	}
	return nil
}

// runnerCols selects a runners row r plus SinceHeartbeat in microseconds
// (the database's clock, never negative).
const runnerCols = `r.id, r.pool, r.version, r.address, r.names, r.draining, r.started_at, r.heartbeat_at,
	(extract(epoch FROM greatest(now() - r.heartbeat_at, interval '0')) * 1000000)::bigint`

func scanRunner(row pgx.Row) (store.Runner, error) {
	var (
		r         store.Runner
		version   int64
		sinceUS   int64
		actorsCnt int64
	)
	if err := row.Scan(&r.ID, &r.Pool, &version, &r.Address, &r.Names, &r.Draining, &r.StartedAt, &r.HeartbeatAt,
		&sinceUS, &actorsCnt); err != nil {
		return store.Runner{}, err
	}
	r.Version = uint64(version)
	if len(r.Names) == 0 {
		r.Names = nil
	}
	r.SinceHeartbeat = time.Duration(sinceUS) * time.Microsecond
	r.Actors = int(actorsCnt)
	return r, nil
}

// GetRunner returns a runner with its SinceHeartbeat and actor count.
func (s *Store) GetRunner(ctx context.Context, id string) (store.Runner, error) {
	if err := s.begin(ctx); err != nil {
		return store.Runner{}, err
	}
	defer s.end()
	r, err := scanRunner(s.pool.QueryRow(ctx, `SELECT `+runnerCols+`,
		(SELECT count(*) FROM actors a WHERE a.runner_id = r.id AND a.runner_id <> '')
		FROM runners r WHERE r.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.RunnerNotFound(id)
	}
	if err != nil {
		return store.Runner{}, fmt.Errorf("get runner: %w", err)
	}
	return r, nil
}

// The ListRunners queries: all runners, or those of pool $1 (two texts, so
// each gets a plan of its own that can use runners_pool).
const (
	listAllRunnersSQL  = `WITH rs AS (SELECT * FROM runners)` + listRunnersSQL
	listPoolRunnersSQL = `WITH rs AS (SELECT * FROM runners WHERE pool = $1)` + listRunnersSQL
)

// listRunnersSQL lists the runners of rs (a CTE over runners r) with their
// actor counts from one GROUP BY over the actors_runner_id index.
const listRunnersSQL = `, c AS (
		SELECT a.runner_id, count(*) AS n FROM actors a
		WHERE a.runner_id <> '' AND a.runner_id IN (SELECT id FROM rs)
		GROUP BY a.runner_id)
	SELECT ` + runnerCols + `, coalesce(c.n, 0)
	FROM rs r LEFT JOIN c ON c.runner_id = r.id
	ORDER BY r.id COLLATE "C"`

// ListRunners lists the runners of pool ("" = all) in bytewise ID order.
func (s *Store) ListRunners(ctx context.Context, pool string) ([]store.Runner, error) {
	return s.listRunners(ctx, "list runners", pool, listAllRunnersSQL, listPoolRunnersSQL)
}

// listRunners runs allSQL (pool "") or poolSQL (with pool as $1), whose
// rows are runnerCols and a count, and collects the runners.
func (s *Store) listRunners(ctx context.Context, what, pool, allSQL, poolSQL string) ([]store.Runner, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	var (
		rows pgx.Rows
		err  error
	)
	if pool == "" {
		rows, err = s.pool.Query(ctx, allSQL)
	} else {
		rows, err = s.pool.Query(ctx, poolSQL, pool)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Runner, error) { return scanRunner(row) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Place is one conditional UPDATE (a compare-and-set on generation):
// concurrent callers with the same expectGen serialize on the row lock and
// only the first still matches. With Options.PlaceLease it also requires
// the actor's current runner (if another) to be past that lease or gone.
// The reason of a failure is read only then.
func (s *Store) Place(ctx context.Context, id, runnerID string, expectGen uint64) (store.Actor, error) {
	if err := store.ValidatePlace(id, runnerID); err != nil {
		return store.Actor{}, err
	}
	if err := s.begin(ctx); err != nil {
		return store.Actor{}, err
	}
	defer s.end()
	a, err := scanActor(s.pool.QueryRow(ctx, placeSQL, id, runnerID, int64(expectGen), s.placeLease.Microseconds()))
	if err == nil {
		return a, nil
	}
	return store.Actor{}, s.placeFailed(ctx, id, expectGen, err)
}

// placeSQL is Place's compare-and-set: $1 actor, $2 runner, $3 expected
// generation, $4 the placement lease in microseconds (<= 0: none). It
// returns actorCols of the placed row, or no row.
const placeSQL = `UPDATE actors
		SET generation = generation + 1, runner_id = $2, started_at = now(), sleep_at = NULL
		WHERE id = $1 AND generation = $3 AND destroyed_at IS NULL
			AND ($4::bigint <= 0 OR runner_id = '' OR runner_id = $2 OR NOT EXISTS (
				SELECT 1 FROM runners r WHERE r.id = actors.runner_id
					AND r.heartbeat_at > now() - $4::bigint * interval '1 microsecond'))
		RETURNING ` + actorCols

// placeFailed turns err, placeSQL's failure, into Place's error: when the
// statement matched no row, the reason is read from the row.
func (s *Store) placeFailed(ctx context.Context, id string, expectGen uint64, err error) error {
	if !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("place: %w", err)
	}
	f, err := s.loadFence(ctx, s.pool, id)
	switch {
	case err != nil:
		return fmt.Errorf("place: %w", err)
	case f.destroyed:
		return fmt.Errorf("place: actor %s: %w", id, store.ErrDestroyed)
	case f.gen == expectGen:
		return fmt.Errorf("place: actor %s: its runner still holds its lease: %w", id, store.ErrFenced)
	default:
		return fmt.Errorf("place: actor %s: expected generation %d, current %d: %w", id, expectGen, f.gen, store.ErrFenced)
	}
}

// actorsOnRunnerSQL matches the predicate and collation of the
// actors_runner_id index, so it is a range scan in index order (no sort).
const actorsOnRunnerSQL = `SELECT ` + actorCols + ` FROM actors
	WHERE runner_id = $1 AND runner_id <> '' ORDER BY id COLLATE "C" LIMIT $2`

// ActorsOnRunner lists actors placed on runnerID in bytewise ID order, a
// range scan of the actors_runner_id index.
func (s *Store) ActorsOnRunner(ctx context.Context, runnerID string, limit int) ([]store.Actor, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	if runnerID == "" {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, actorsOnRunnerSQL, runnerID, store.ListLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("actors on runner %s: %w", runnerID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Actor, error) { return scanActor(row) })
	if err != nil {
		return nil, fmt.Errorf("actors on runner %s: %w", runnerID, err)
	}
	return out, nil
}

func toInt64s(vs []uint64) []int64 {
	out := make([]int64, len(vs))
	for i, v := range vs {
		out[i] = int64(v)
	}
	return out
}

func toUint64s(vs []int64) []uint64 {
	if len(vs) == 0 {
		return nil
	}
	out := make([]uint64, len(vs))
	for i, v := range vs {
		out[i] = uint64(v)
	}
	return out
}

// SetPoolConfig stores the pool's routing; updated_at is the database's
// now().
func (s *Store) SetPoolConfig(ctx context.Context, c store.PoolConfig) error {
	if err := store.ValidatePoolConfig(c); err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	var rampVersion *int64
	var rampNew, rampMove int32
	if r := c.Ramp; r != nil {
		v := int64(r.Version)
		rampVersion, rampNew, rampMove = &v, r.NewPercent, r.MovePercent
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO pool_configs (pool, ready, draining, drain_rate, updated_at,
			ramp_version, ramp_new_percent, ramp_move_percent)
		VALUES ($1, $2, $3, $4, now(), $5, $6, $7)
		ON CONFLICT (pool) DO UPDATE SET ready = excluded.ready, draining = excluded.draining,
			drain_rate = excluded.drain_rate, updated_at = excluded.updated_at, ramp_version = excluded.ramp_version,
			ramp_new_percent = excluded.ramp_new_percent, ramp_move_percent = excluded.ramp_move_percent`,
		c.Pool, toInt64s(c.Ready), toInt64s(c.Draining), c.DrainRate, rampVersion, rampNew, rampMove)
	if err != nil {
		return fmt.Errorf("set pool config %s: %w", c.Pool, err)
	}
	return nil
}

// GetPoolConfig returns the pool's routing, or a zero one with Pool set.
func (s *Store) GetPoolConfig(ctx context.Context, pool string) (store.PoolConfig, error) {
	if err := s.begin(ctx); err != nil {
		return store.PoolConfig{}, err
	}
	defer s.end()
	var ready, draining []int64
	var rampVersion *int64
	var rampNew, rampMove int32
	c := store.PoolConfig{Pool: pool}
	err := s.pool.QueryRow(ctx, `SELECT ready, draining, drain_rate, updated_at, ramp_version, ramp_new_percent, ramp_move_percent
		FROM pool_configs WHERE pool = $1`, pool).
		Scan(&ready, &draining, &c.DrainRate, &c.UpdatedAt, &rampVersion, &rampNew, &rampMove)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return c, nil
	case err != nil:
		return store.PoolConfig{}, fmt.Errorf("get pool config %s: %w", pool, err)
	}
	c.Ready, c.Draining = toUint64s(ready), toUint64s(draining)
	if rampVersion != nil {
		c.Ramp = &store.Ramp{Version: uint64(*rampVersion), NewPercent: rampNew, MovePercent: rampMove}
	}
	return c, nil
}

// TryLease takes the lease when it is free, expired (by the database's
// clock) or already the holder's, in one INSERT ... ON CONFLICT DO UPDATE
// ... WHERE: concurrent takers serialize on the row and at most one wins.
func (s *Store) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if err := store.ValidateLease(name, holder); err != nil {
		return false, err
	}
	if err := store.ValidateLeaseTTL(name, ttl); err != nil {
		return false, err
	}
	if err := s.begin(ctx); err != nil {
		return false, err
	}
	defer s.end()
	us := max(ttl.Microseconds(), 1)
	var got string
	err := s.pool.QueryRow(ctx, `INSERT INTO leases (name, holder, expires_at)
		VALUES ($1, $2, now() + $3::bigint * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= now()
		RETURNING holder`, name, holder, us).Scan(&got)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("try lease %s: %w", name, err)
	}
	return true, nil
}

// ReleaseLease deletes the lease if holder holds it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if err := store.ValidateLease(name, holder); err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	if _, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}
