package pgstore

import (
	"context"
	"strings"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
)

// Concurrent GetOrCreateActor calls are grouped: while one creation
// statement runs, the calls that arrive wait and then go together in one
// statement (one transaction, one WAL flush), as the committer groups
// state writes. A lone call runs at once, with no added delay.

// maxCreateBatch caps the specs of one grouped statement.
const maxCreateBatch = 256

// createCall is one GetOrCreateActor waiting for its group.
type createCall struct {
	spec    store.ActorSpec
	done    chan struct{}
	a       store.Actor
	created bool
	found   bool // the group's statement returned the key's row
}

// createGrouped runs spec's get-or-create in a group. found is false when
// the caller must run it alone: its group failed, or the key's row was not
// in the group's snapshot. The caller holds s.begin.
func (s *Store) createGrouped(ctx context.Context, spec store.ActorSpec) (a store.Actor, created, found bool, err error) {
	c := &createCall{spec: spec, done: make(chan struct{})}
	s.creates.add(c, s.createGroup)
	select {
	case <-c.done:
	case <-ctx.Done():
		return store.Actor{}, false, false, ctx.Err()
	}
	return c.a, c.created, c.found, nil
}

// groupKey identifies a live key within a group.
func groupKey(ns, name string, encKey []byte) string {
	return ns + "\x00" + name + "\x00" + string(encKey)
}

var qualifiedActorCols = func() string {
	parts := strings.Split(actorCols, ",")
	for i, p := range parts {
		parts[i] = "a." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}()

// createGroupSQL is getOrCreateSQL for many specs: $1..$8 are parallel
// arrays (ID, namespace, name, encoded key, pool, crash policy, input,
// runner). Rows are inserted in key order, so two groups inserting
// overlapping keys wait for each other in the same order (no deadlock).
var createGroupSQL = `WITH w AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::text[], $7::bytea[], $8::text[])
			AS t(id, namespace, name, key_serialized, pool, crash_policy, input, runner_id)),
	ins AS (
		INSERT INTO actors (id, namespace, name, key_serialized, pool, crash_policy, input, runner_id, generation, started_at)
		SELECT id, namespace, name, key_serialized, pool, crash_policy, input, runner_id,
			CASE WHEN runner_id = '' THEN 0 ELSE 1 END, CASE WHEN runner_id = '' THEN NULL ELSE now() END
		FROM w ORDER BY namespace, name, key_serialized
		ON CONFLICT (namespace, name, key_serialized) WHERE destroyed_at IS NULL DO NOTHING
		RETURNING ` + actorCols + `)
	SELECT *, true FROM ins
	UNION ALL
	SELECT ` + qualifiedActorCols + `, false FROM actors a
		JOIN w ON a.namespace = w.namespace AND a.name = w.name AND a.key_serialized = w.key_serialized
	WHERE a.destroyed_at IS NULL AND NOT EXISTS (SELECT 1 FROM ins
		WHERE ins.namespace = w.namespace AND ins.name = w.name AND ins.key_serialized = w.key_serialized)`

// createGroup runs one group's statement and resolves its calls. Calls of
// one key share the first call's spec: at most one of them creates.
func (s *Store) createGroup(group []*createCall) {
	defer func() {
		for _, c := range group {
			close(c.done)
		}
	}()
	// Not s.begin: the callers waiting for the group hold it (the pool
	// stays open while they wait), and a nested read lock could deadlock
	// with a waiting Close.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(group) == 1 {
		// Alone: the one-spec statement. Calls arriving meanwhile queue for
		// the next group.
		c := group[0]
		a, err := scanActorExtra(s.pool.QueryRow(ctx, getOrCreateSQL, insertArgs(c.spec)...), &c.created)
		c.a, c.found = a, err == nil
		return
	}
	byKey := map[string][]*createCall{}
	var ids, nss, names, pools, crashes, runners []string
	var keys, inputs [][]byte
	for _, c := range group {
		enc := store.EncodeKey(c.spec.Key)
		k := groupKey(c.spec.Namespace, c.spec.Name, enc)
		if _, ok := byKey[k]; !ok {
			ids, nss, names, keys = append(ids, c.spec.ID), append(nss, c.spec.Namespace), append(names, c.spec.Name), append(keys, enc)
			pools, crashes, inputs, runners = append(pools, c.spec.Pool), append(crashes, c.spec.CrashPolicy), append(inputs, c.spec.Input), append(runners, c.spec.RunnerID)
		}
		byKey[k] = append(byKey[k], c)
	}
	rows, err := s.pool.Query(ctx, createGroupSQL, ids, nss, names, keys, pools, crashes, inputs, runners)
	if err == nil {
		for rows.Next() {
			var created bool
			a, serr := scanActorExtra(rows, &created)
			if serr != nil {
				err = serr
				break
			}
			for i, c := range byKey[groupKey(a.Namespace, a.Name, store.EncodeKey(a.Key))] {
				c.a, c.found = a, true
				c.created = created && i == 0 && a.ID == c.spec.ID
			}
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		// An ID taken, a deadlock, a lost connection: every call runs alone,
		// which reports its own outcome.
		for _, c := range group {
			c.found = false
		}
	}
}
