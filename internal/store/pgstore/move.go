package pgstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/rivetkube/rivetkube/internal/store"
)

// movedCols is actorCols qualified by the alias a (the move statement
// joins tables that also have an id column).
var movedCols = func() string {
	cols := strings.Fields(strings.ReplaceAll(actorCols, ",", " "))
	for i, c := range cols {
		cols[i] = "a." + c
	}
	return strings.Join(cols, ", ")
}()

// moveSQL applies every move of $1..$4 (id, from, generation, to) whose
// actor is live, still at that generation and placed on from or nowhere,
// locking the rows in ID order first (as Commit, Deactivate's group and
// RemoveRunner do, so concurrent multi-row statements cannot deadlock). It
// returns the new rows and whether each actor was asleep before.
var moveSQL = `WITH d AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS t(id, from_runner, gen, to_runner)),
	l AS (
		SELECT a.id, a.runner_id AS old_runner FROM actors a JOIN d ON a.id = d.id AND a.generation = d.gen
		WHERE a.destroyed_at IS NULL AND (a.runner_id = '' OR a.runner_id = d.from_runner)
		ORDER BY a.id FOR UPDATE OF a)
	UPDATE actors a SET generation = a.generation + 1, runner_id = d.to_runner, started_at = now(), sleep_at = NULL
	FROM l JOIN d ON d.id = l.id
	WHERE a.id = l.id AND a.generation = d.gen AND a.destroyed_at IS NULL
	RETURNING ` + movedCols + `, l.old_runner = ''`

// MovePlacements applies the moves with one statement in its own implicit
// transaction (one commit for the batch). Moves that did not apply are
// explained by a second read.
func (s *Store) MovePlacements(ctx context.Context, moves []store.Move) ([]store.MoveResult, error) {
	verrs, err := store.ValidateMoves(moves)
	if err != nil {
		return nil, err
	}
	res := make([]store.MoveResult, len(moves))
	index := make(map[string]int, len(moves))
	var ids, froms, tos []string
	var gens []int64
	for i, m := range moves {
		res[i].Err = verrs[i]
		if verrs[i] != nil {
			continue
		}
		index[m.ID] = i
		ids, froms, gens, tos = append(ids, m.ID), append(froms, m.From), append(gens, int64(m.Gen)), append(tos, m.To)
	}
	if len(ids) == 0 {
		return res, nil
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	rows, err := s.pool.Query(ctx, moveSQL, ids, froms, gens, tos)
	if err != nil {
		return nil, fmt.Errorf("move placements: %w", err)
	}
	done := make(map[string]bool, len(ids))
	for rows.Next() {
		var wasAsleep bool
		a, err := scanActorExtra(rows, &wasAsleep)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("move placements: %w", err)
		}
		res[index[a.ID]] = store.MoveResult{Actor: a, WasAsleep: wasAsleep}
		done[a.ID] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("move placements: %w", err)
	}
	if len(done) == len(ids) {
		return res, nil
	}
	var missed []string
	for _, id := range ids {
		if !done[id] {
			missed = append(missed, id)
		}
	}
	if err := s.explainMoves(ctx, moves, index, missed, res); err != nil {
		return nil, err
	}
	return res, nil
}

// explainMoves sets the error of each move of missed (moves that did not
// apply) from the actors' current rows.
func (s *Store) explainMoves(ctx context.Context, moves []store.Move, index map[string]int, missed []string, res []store.MoveResult) error {
	rows, err := s.pool.Query(ctx, `SELECT id, generation, runner_id, destroyed_at IS NOT NULL FROM actors WHERE id = ANY($1)`, missed)
	if err != nil {
		return fmt.Errorf("move placements: %w", err)
	}
	var (
		id, runner string
		gen        int64
		destroyed  bool
	)
	found := make(map[string]bool, len(missed))
	_, err = pgx.ForEachRow(rows, []any{&id, &gen, &runner, &destroyed}, func() error {
		found[id] = true
		i := index[id]
		m := moves[i]
		if destroyed {
			res[i].Err = fmt.Errorf("move placement: actor %s: %w", id, store.ErrDestroyed)
		} else {
			res[i].Err = fmt.Errorf("move placement: actor %s: expected generation %d on %q, current %d on %q: %w",
				id, m.Gen, m.From, gen, runner, store.ErrFenced)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("move placements: %w", err)
	}
	for _, id := range missed {
		if !found[id] {
			res[index[id]].Err = fmt.Errorf("move placement: actor %s: %w", id, store.ErrNotFound)
		}
	}
	return nil
}
