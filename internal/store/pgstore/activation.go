package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rivetkube/rivetkube/internal/store"
)

// maxLoadBatch caps the actors of one grouped activation read.
const maxLoadBatch = 256

// loadCall is one LoadActivation waiting for its group.
type loadCall struct {
	id    string
	limit int
	done  chan struct{}
	out   store.Activation
	err   error
}

// LoadActivation reads the actor row, the first queue page, the schedules
// and the state in one round trip and one snapshot. A lone call is one
// statement (loadActivationSQL). Concurrent calls are read together, as
// one group of statements with id = ANY(...) in a read-only REPEATABLE
// READ transaction, so a burst of activations costs the server a few
// statements instead of a few per actor.
func (s *Store) LoadActivation(ctx context.Context, id string, queueLimit int) (store.Activation, error) {
	if err := s.begin(ctx); err != nil {
		return store.Activation{}, err
	}
	defer s.end()
	c := &loadCall{id: id, limit: store.ListLimit(queueLimit), done: make(chan struct{})}
	s.loads.add(c, s.loadGroup)
	select {
	case <-c.done:
	case <-ctx.Done():
		return store.Activation{}, ctx.Err()
	}
	if c.err != nil {
		return store.Activation{}, fmt.Errorf("load activation: %w", c.err)
	}
	return c.out, nil
}

// loadGroup reads the activations of a group and resolves its calls.
func (s *Store) loadGroup(group []*loadCall) {
	// Not s.begin: the waiting callers hold it (see createGroup).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	byID := map[string][]*loadCall{}
	var ids []string
	limit := 0
	for _, c := range group {
		if _, ok := byID[c.id]; !ok {
			ids = append(ids, c.id)
		}
		byID[c.id] = append(byID[c.id], c)
		limit = max(limit, c.limit)
	}
	var (
		found map[string]store.Activation
		err   error
	)
	if len(ids) == 1 {
		found, err = s.readActivation(ctx, ids[0], limit)
	} else {
		found, err = s.readActivations(ctx, ids, limit)
	}
	for _, c := range group {
		switch a, ok := found[c.id]; {
		case err != nil:
			c.err = err
		case !ok:
			c.err = fmt.Errorf("actor %s: %w", c.id, store.ErrNotFound)
		default:
			c.out = a
			if len(a.Queue) > c.limit {
				c.out.Queue = a.Queue[:c.limit:c.limit]
			}
		}
		close(c.done)
	}
}

// readActivations reads the activations of ids, each queue up to limit.
func (s *Store) readActivations(ctx context.Context, ids []string, limit int) (map[string]store.Activation, error) {
	b := &pgx.Batch{}
	b.Queue(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`)
	b.Queue(`SELECT `+actorCols+` FROM actors WHERE id = ANY($1)`, ids)
	b.Queue(`SELECT i.id, q.seq, q.name, q.body, q.enqueued_at FROM unnest($1::text[]) AS i(id)
		CROSS JOIN LATERAL (SELECT seq, name, body, enqueued_at FROM actor_queue
			WHERE actor_id = i.id ORDER BY seq LIMIT $2) q`, ids, limit)
	b.Queue(`SELECT actor_id, id, due_at, action, args, created_at FROM actor_schedules
		WHERE actor_id = ANY($1) ORDER BY actor_id, due_at, id COLLATE "C"`, ids)
	b.Queue(`SELECT actor_id, state FROM actor_state WHERE actor_id = ANY($1)`, ids)
	b.Queue(`COMMIT`)
	br := s.pool.SendBatch(ctx, b)
	out, err := readActivations(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return out, err
}

func readActivations(br pgx.BatchResults) (map[string]store.Activation, error) {
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	out := map[string]store.Activation{}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	actors, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Actor, error) { return scanActor(row) })
	if err != nil {
		return nil, err
	}
	for _, a := range actors {
		out[a.ID] = store.Activation{Actor: a}
	}
	if rows, err = br.Query(); err != nil {
		return nil, err
	}
	msgs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.QueueMessage, error) {
		var (
			m   store.QueueMessage
			seq int64
		)
		err := row.Scan(&m.ActorID, &seq, &m.Name, &m.Body, &m.EnqueuedAt)
		m.Seq, m.Body = uint64(seq), nonNil(m.Body)
		return m, err
	})
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if a, ok := out[m.ActorID]; ok {
			a.Queue = append(a.Queue, m)
			out[m.ActorID] = a
		}
	}
	if rows, err = br.Query(); err != nil {
		return nil, err
	}
	scs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Schedule, error) {
		var sc store.Schedule
		err := row.Scan(&sc.ActorID, &sc.ID, &sc.At, &sc.Action, &sc.Args, &sc.CreatedAt)
		sc.Args = nonNil(sc.Args)
		return sc, err
	})
	if err != nil {
		return nil, err
	}
	for _, sc := range scs {
		if a, ok := out[sc.ActorID]; ok {
			a.Schedules = append(a.Schedules, sc)
			out[sc.ActorID] = a
		}
	}
	if rows, err = br.Query(); err != nil {
		return nil, err
	}
	for rows.Next() {
		var (
			id    string
			state []byte
		)
		if err := rows.Scan(&id, &state); err != nil {
			rows.Close()
			return nil, err
		}
		if a, ok := out[id]; ok {
			a.State = state
			out[id] = a
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	for id, a := range out {
		if a.Actor.Destroyed() {
			a.Queue, a.Schedules, a.State = nil, nil, nil
			out[id] = a
		}
	}
	return out, nil
}
