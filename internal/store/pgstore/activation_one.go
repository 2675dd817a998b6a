package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rivetkube/rivetkube/internal/store"
)

// loadActivationSQL reads the activation of actor $1, its queue up to $2
// messages, in one statement: one round trip and one snapshot (a
// statement sees one snapshot even under READ COMMITTED), with no
// transaction of its own to begin and end. The actor is one row: its
// columns, its state, and its queue head and schedules as parallel arrays
// (NULL when empty), ordered as ListQueue and ListSchedules order them:
// each array_agg reads an ordered subquery with nothing between, so it
// aggregates in that order (array_agg(x ORDER BY ...) would sort once per
// array, and cost more than the rest of the statement).
var loadActivationSQL = `SELECT ` + qualifiedActorCols + `, st.state,
		q.seqs, q.names, q.bodies, q.ats,
		sc.ids, sc.dues, sc.actions, sc.args, sc.createds
	FROM actors a
	LEFT JOIN actor_state st ON st.actor_id = a.id AND a.destroyed_at IS NULL
	LEFT JOIN LATERAL (
		SELECT array_agg(seq) AS seqs, array_agg(name) AS names, array_agg(body) AS bodies, array_agg(enqueued_at) AS ats
		FROM (SELECT seq, name, body, enqueued_at FROM actor_queue
			WHERE actor_id = a.id AND a.destroyed_at IS NULL ORDER BY seq LIMIT $2) x) q ON true
	LEFT JOIN LATERAL (
		SELECT array_agg(id) AS ids, array_agg(due_at) AS dues, array_agg(action) AS actions,
			array_agg(args) AS args, array_agg(created_at) AS createds
		FROM (SELECT id, due_at, action, args, created_at FROM actor_schedules
			WHERE actor_id = a.id AND a.destroyed_at IS NULL ORDER BY due_at, id COLLATE "C") x) sc ON true
	WHERE a.id = $1`

// readActivation reads the activation of one actor, its queue up to
// limit, with loadActivationSQL. (For a group, the lateral joins per actor
// cost the server more than readActivations' four statements.)
func (s *Store) readActivation(ctx context.Context, id string, limit int) (map[string]store.Activation, error) {
	rows, err := s.pool.Query(ctx, loadActivationSQL, id, limit)
	if err != nil {
		return nil, err
	}
	return collectActivation(rows)
}

// PlaceActivation is Place followed by LoadActivation in one round trip:
// placeSQL and loadActivationSQL sent together (a pgx batch: one implicit
// transaction, committed after both). The read is a statement of its own
// so that its snapshot is taken once the placement holds the row lock: it
// sees every commit that held the row before (a statement's snapshot
// predates the lock wait, so one statement with the UPDATE in a CTE could
// miss the state of a commit it waited for). Commits fence on that row
// lock, so none can change what was read before this transaction commits.
func (s *Store) PlaceActivation(ctx context.Context, id, runnerID string, expectGen uint64, queueLimit int) (store.Activation, error) {
	if err := store.ValidatePlace(id, runnerID); err != nil {
		return store.Activation{}, err
	}
	if err := s.begin(ctx); err != nil {
		return store.Activation{}, err
	}
	defer s.end()
	b := &pgx.Batch{}
	b.Queue(placeSQL, id, runnerID, int64(expectGen), s.placeLease.Microseconds())
	b.Queue(loadActivationSQL, id, store.ListLimit(queueLimit))
	br := s.pool.SendBatch(ctx, b)
	placed, placeErr := scanActor(br.QueryRow())
	var (
		found   map[string]store.Activation
		readErr error
	)
	if rows, err := br.Query(); err != nil {
		readErr = err
	} else {
		found, readErr = collectActivation(rows)
	}
	// Close ends the batch: its commit, the placement's durability.
	closeErr := br.Close()
	switch {
	case placeErr != nil:
		return store.Activation{}, s.placeFailed(ctx, id, expectGen, placeErr)
	case readErr != nil:
		return store.Activation{}, fmt.Errorf("place activation: %w", readErr)
	case closeErr != nil:
		return store.Activation{}, fmt.Errorf("place activation: %w", closeErr)
	}
	act, ok := found[id]
	if !ok || act.Actor.Generation != placed.Generation || act.Actor.RunnerID != runnerID {
		return store.Activation{}, fmt.Errorf("place activation: actor %s: the read does not see the placement", id)
	}
	return act, nil
}

// collectActivation scans the rows of loadActivationSQL.
func collectActivation(rows pgx.Rows) (map[string]store.Activation, error) {
	defer rows.Close()
	out := make(map[string]store.Activation, 1)
	for rows.Next() {
		var (
			act                     store.Activation
			seqs                    []int64
			names, scIDs, scActions []string
			bodies, scArgs          [][]byte
			ats, scDues, scCreateds []time.Time
		)
		a, err := scanActorExtra(rows, &act.State,
			&seqs, &names, &bodies, &ats,
			&scIDs, &scDues, &scActions, &scArgs, &scCreateds)
		if err != nil {
			return nil, err
		}
		act.Actor = a
		if len(names) != len(seqs) || len(bodies) != len(seqs) || len(ats) != len(seqs) ||
			len(scDues) != len(scIDs) || len(scActions) != len(scIDs) || len(scArgs) != len(scIDs) || len(scCreateds) != len(scIDs) {
			return nil, fmt.Errorf("actor %s: activation arrays of unequal lengths", a.ID)
		}
		if len(seqs) > 0 {
			act.Queue = make([]store.QueueMessage, len(seqs))
			for i := range seqs {
				act.Queue[i] = store.QueueMessage{ActorID: a.ID, Seq: uint64(seqs[i]), Name: names[i], Body: nonNil(bodies[i]), EnqueuedAt: ats[i]}
			}
		}
		if len(scIDs) > 0 {
			act.Schedules = make([]store.Schedule, len(scIDs))
			for i := range scIDs {
				act.Schedules[i] = store.Schedule{ActorID: a.ID, ID: scIDs[i], At: scDues[i], Action: scActions[i], Args: nonNil(scArgs[i]), CreatedAt: scCreateds[i]}
			}
		}
		out[a.ID] = act
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
