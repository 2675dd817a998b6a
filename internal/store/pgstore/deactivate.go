package pgstore

import (
	"context"
	"time"
)

// deactCall is one Deactivate waiting for its group.
type deactCall struct {
	id   string
	gen  int64
	done chan struct{}
	ok   bool // the group cleared the placement
}

// deactivateGroupSQL clears the placement of every (id, generation) of $1,
// $2 that is still current, locking the rows in ID order first (as Commit
// and RemoveRunner do, so concurrent multi-row statements cannot
// deadlock), and returns the IDs it cleared.
const deactivateGroupSQL = `WITH d AS (
		SELECT * FROM unnest($1::text[], $2::bigint[]) AS t(id, gen)),
	l AS (
		SELECT a.id FROM actors a JOIN d ON a.id = d.id AND a.generation = d.gen
		WHERE a.destroyed_at IS NULL ORDER BY a.id FOR UPDATE OF a)
	UPDATE actors a SET runner_id = '', sleep_at = now()
	FROM l JOIN d ON d.id = l.id
	WHERE a.id = l.id AND a.generation = d.gen AND a.destroyed_at IS NULL
	RETURNING a.id`

// deactivateGrouped runs Deactivate in a group with concurrent calls (a
// burst of actors going to sleep, a runner draining): one statement and
// one commit for the group. done is false when the caller must run the
// single statement itself, which also tells why it failed: the group
// failed, or did not clear this actor (fenced, destroyed, unknown), or the
// call was alone.
func (s *Store) deactivateGrouped(ctx context.Context, id string, gen uint64) (bool, error) {
	c := &deactCall{id: id, gen: int64(gen), done: make(chan struct{})}
	s.deacts.add(c, s.deactivateGroup)
	select {
	case <-c.done:
		return c.ok, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (s *Store) deactivateGroup(group []*deactCall) {
	defer func() {
		for _, c := range group {
			close(c.done)
		}
	}()
	// Not s.begin: the waiting callers hold it (see createGroup).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(group) == 1 {
		c := group[0]
		tag, err := s.pool.Exec(ctx, `UPDATE actors SET runner_id = '', sleep_at = now()
			WHERE id = $1 AND generation = $2 AND destroyed_at IS NULL`, c.id, c.gen)
		c.ok = err == nil && tag.RowsAffected() == 1
		return
	}
	byID := make(map[string]*deactCall, len(group))
	ids := make([]string, 0, len(group))
	gens := make([]int64, 0, len(group))
	for _, c := range group {
		if _, dup := byID[c.id]; dup {
			continue // runs alone after the group
		}
		byID[c.id] = c
		ids, gens = append(ids, c.id), append(gens, c.gen)
	}
	rows, err := s.pool.Query(ctx, deactivateGroupSQL, ids, gens)
	if err != nil {
		return
	}
	var cleared []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return
		}
		cleared = append(cleared, id)
	}
	rows.Close()
	if rows.Err() != nil {
		return // not committed: every call runs alone
	}
	for _, id := range cleared {
		byID[id].ok = true
	}
}
