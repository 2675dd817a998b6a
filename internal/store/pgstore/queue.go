package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/rivetkube/rivetkube/internal/store"
)

// enqueueSQL appends a message in one statement: the UPDATE takes the
// actor's row lock, checks room (re-checked on the newest row version when
// it waited for a concurrent sender) and hands out the next seq; the INSERT
// only runs when the UPDATE matched.
const enqueueSQL = `WITH a AS (
		UPDATE actors SET queue_seq = queue_seq + 1, queue_len = queue_len + 1
		WHERE id = $1 AND destroyed_at IS NULL AND ($4::bigint <= 0 OR queue_len < $4::bigint)
		RETURNING id, queue_seq)
	INSERT INTO actor_queue (actor_id, seq, name, body)
	SELECT id, queue_seq, $2, $3 FROM a
	RETURNING seq, enqueued_at`

// Enqueue appends a message; see enqueueSQL for why the max check is
// race-free. When nothing was appended the reason is read afterwards.
func (s *Store) Enqueue(ctx context.Context, actorID, name string, body []byte, max int) (store.QueueMessage, error) {
	if err := store.ValidateEnqueue(actorID, name, body); err != nil {
		return store.QueueMessage{}, err
	}
	if err := s.begin(ctx); err != nil {
		return store.QueueMessage{}, err
	}
	defer s.end()
	m := store.QueueMessage{ActorID: actorID, Name: name, Body: nonNil(body)}
	for attempt := 0; ; attempt++ {
		var seq int64
		err := s.pool.QueryRow(ctx, enqueueSQL, actorID, name, m.Body, int64(max)).Scan(&seq, &m.EnqueuedAt)
		if err == nil {
			m.Seq = uint64(seq)
			return m, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.QueueMessage{}, fmt.Errorf("enqueue: %w", err)
		}
		var (
			destroyed bool
			n         int64
		)
		err = s.pool.QueryRow(ctx, `SELECT destroyed_at IS NOT NULL, queue_len FROM actors WHERE id = $1`, actorID).Scan(&destroyed, &n)
		switch {
		case err != nil:
			return store.QueueMessage{}, fmt.Errorf("enqueue: %w", notFound(err, "actor "+actorID))
		case destroyed:
			return store.QueueMessage{}, fmt.Errorf("enqueue: actor %s: %w", actorID, store.ErrDestroyed)
		case (max > 0 && n >= int64(max)) || attempt == 10:
			return store.QueueMessage{}, fmt.Errorf("enqueue: actor %s holds %d messages: %w", actorID, n, store.ErrQueueFull)
		}
		// Messages were acknowledged between the two statements: try again.
	}
}

// ListQueue returns messages with Seq > after in order, from the primary
// key (or the (actor_id, name, seq) index with a name filter).
func (s *Store) ListQueue(ctx context.Context, actorID string, after uint64, names []string, limit int) ([]store.QueueMessage, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	from := int64(min(after, math.MaxInt64))
	b := &pgx.Batch{}
	if len(names) == 0 {
		b.Queue(listQueueSQL, actorID, from, store.ListLimit(limit))
	} else {
		b.Queue(listQueueNamesSQL, actorID, from, store.ListLimit(limit), names)
	}
	out, err := collectWithActor(ctx, s, b, actorID, func(row pgx.CollectableRow) (store.QueueMessage, error) {
		m := store.QueueMessage{ActorID: actorID}
		var seq int64
		err := row.Scan(&seq, &m.Name, &m.Body, &m.EnqueuedAt)
		m.Seq, m.Body = uint64(seq), nonNil(m.Body)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// collectWithActor runs the one query of b and the check that the actor
// exists in one round trip (a pipeline), and returns the query's rows, or
// ErrNotFound when the actor does not exist.
func collectWithActor[T any](ctx context.Context, s *Store, b *pgx.Batch, actorID string, scan pgx.RowToFunc[T]) ([]T, error) {
	b.Queue(`SELECT 1 FROM actors WHERE id = $1`, actorID)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, err
	}
	var one int
	if err := br.QueryRow().Scan(&one); err != nil {
		return nil, notFound(err, "actor "+actorID)
	}
	return out, br.Close()
}

// QueueLen reads the actor's queue_len counter.
func (s *Store) QueueLen(ctx context.Context, actorID string) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	defer s.end()
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT queue_len FROM actors WHERE id = $1`, actorID).Scan(&n); err != nil {
		return 0, fmt.Errorf("queue len: %w", notFound(err, "actor "+actorID))
	}
	return int(n), nil
}

// ListSchedules returns the actor's schedules ordered by At then ID.
func (s *Store) ListSchedules(ctx context.Context, actorID string) ([]store.Schedule, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	b := &pgx.Batch{}
	b.Queue(listSchedulesSQL, actorID)
	out, err := collectWithActor(ctx, s, b, actorID, func(row pgx.CollectableRow) (store.Schedule, error) {
		sc := store.Schedule{ActorID: actorID}
		err := row.Scan(&sc.ID, &sc.At, &sc.Action, &sc.Args, &sc.CreatedAt)
		sc.Args = nonNil(sc.Args)
		return sc, err
	})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// NextDue returns the actor's earliest schedule time.
func (s *Store) NextDue(ctx context.Context, actorID string) (time.Time, error) {
	if err := s.begin(ctx); err != nil {
		return time.Time{}, err
	}
	defer s.end()
	var next *time.Time
	err := s.pool.QueryRow(ctx, `SELECT (SELECT min(due_at) FROM actor_schedules WHERE actor_id = a.id)
		FROM actors a WHERE a.id = $1`, actorID).Scan(&next)
	if err != nil {
		return time.Time{}, fmt.Errorf("next due: %w", notFound(err, "actor "+actorID))
	}
	if next == nil {
		return time.Time{}, nil
	}
	return *next, nil
}

// dueActorsSQL is DueActors: due schedules from a range scan of
// actor_schedules_due up to now() (destroy deletes an actor's schedules,
// so every schedule belongs to a live actor) and sleeping live actors with
// messages from the partial index actors_queue_wake, each due at its
// oldest message (a primary-key lookup of actor_queue). Both parts are
// materialized so each keeps its own index whatever the join order the
// planner would prefer for the grouping.
const dueActorsSQL = `WITH s AS MATERIALIZED (
		SELECT actor_id, due_at FROM actor_schedules WHERE due_at <= now()),
	q AS MATERIALIZED (
		SELECT a.id AS actor_id,
			(SELECT q.enqueued_at FROM actor_queue q WHERE q.actor_id = a.id ORDER BY q.seq LIMIT 1) AS due_at
		FROM actors a WHERE a.runner_id = '' AND a.destroyed_at IS NULL AND a.queue_len > 0)
	SELECT actor_id FROM (SELECT actor_id, due_at FROM s UNION ALL SELECT actor_id, due_at FROM q) d
	GROUP BY actor_id ORDER BY min(due_at), actor_id COLLATE "C" LIMIT $1`

// The other read queries, named for the index test.
const (
	listQueueSQL = `SELECT seq, name, body, enqueued_at FROM actor_queue
		WHERE actor_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`
	listQueueNamesSQL = `SELECT seq, name, body, enqueued_at FROM actor_queue
		WHERE actor_id = $1 AND seq > $2 AND name = ANY($4::text[]) ORDER BY seq LIMIT $3`
	listSchedulesSQL = `SELECT id, due_at, action, args, created_at FROM actor_schedules
		WHERE actor_id = $1 ORDER BY due_at, id COLLATE "C"`
	stepCols        = `SELECT workflow, name, seq, status, result, error, attempts, started_at, finished_at FROM workflow_steps`
	listRunStepsSQL = stepCols + ` WHERE actor_id = $1 AND workflow = $2 ORDER BY seq, name COLLATE "C"`
	listAllStepsSQL = stepCols + ` WHERE actor_id = $1 ORDER BY seq, workflow COLLATE "C", name COLLATE "C"`
)

// DueActors returns the actors the engine should wake, earliest due first.
func (s *Store) DueActors(ctx context.Context, limit int) ([]string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	rows, err := s.pool.Query(ctx, dueActorsSQL, store.ListLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("due actors: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("due actors: %w", err)
	}
	return out, nil
}

func timestamptz(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

func fromTimestamptz(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time
}

// ListWorkflowSteps returns the steps of a run (all runs for "") by Seq;
// one run is a scan of workflow_steps_seq.
func (s *Store) ListWorkflowSteps(ctx context.Context, actorID, workflow string) ([]store.WorkflowStep, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	var (
		rows pgx.Rows
		err  error
	)
	if workflow == "" {
		rows, err = s.pool.Query(ctx, listAllStepsSQL, actorID)
	} else {
		rows, err = s.pool.Query(ctx, listRunStepsSQL, actorID, workflow)
	}
	if err != nil {
		return nil, fmt.Errorf("list workflow steps: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.WorkflowStep, error) {
		st := store.WorkflowStep{ActorID: actorID}
		var (
			seq               int64
			attempts          int32
			started, finished pgtype.Timestamptz
		)
		err := row.Scan(&st.Workflow, &st.Name, &seq, &st.Status, &st.Result, &st.Error, &attempts, &started, &finished)
		st.Seq, st.Attempts = uint64(seq), int(attempts)
		st.StartedAt, st.FinishedAt = fromTimestamptz(started), fromTimestamptz(finished)
		return st, err
	})
	if err != nil {
		return nil, fmt.Errorf("list workflow steps: %w", err)
	}
	if len(out) == 0 {
		if err := s.checkActor(ctx, actorID); err != nil {
			return nil, fmt.Errorf("list workflow steps: %w", err)
		}
		return nil, nil
	}
	return out, nil
}

// queueQueueWrite adds the queue, schedule and workflow statements of one
// checked write to b: acks, schedule deletes then puts, workflow deletes
// then steps.
func queueQueueWrite(b *pgx.Batch, w store.Write) {
	if len(w.QueueAcks) > 0 {
		seqs := make([]int64, len(w.QueueAcks))
		for i, seq := range w.QueueAcks {
			seqs[i] = int64(seq)
		}
		b.Queue(`WITH d AS (DELETE FROM actor_queue WHERE actor_id = $1 AND seq = ANY($2::bigint[]) RETURNING 1)
			UPDATE actors SET queue_len = queue_len - (SELECT count(*) FROM d)
			WHERE id = $1 AND EXISTS (SELECT 1 FROM d)`, w.ActorID, seqs)
	}
	if len(w.ScheduleDeletes) > 0 {
		b.Queue(`DELETE FROM actor_schedules WHERE actor_id = $1 AND id = ANY($2::text[])`, w.ActorID, w.ScheduleDeletes)
	}
	if len(w.SchedulePuts) > 0 {
		// One INSERT may not touch a row twice: the last put of an ID wins.
		idx := make(map[string]int, len(w.SchedulePuts))
		var (
			ids, actions []string
			ats          []time.Time
			args         [][]byte
		)
		for _, sc := range w.SchedulePuts {
			i, ok := idx[sc.ID]
			if !ok {
				i = len(ids)
				idx[sc.ID] = i
				ids, actions, ats, args = append(ids, sc.ID), append(actions, ""), append(ats, time.Time{}), append(args, nil)
			}
			actions[i], ats[i], args[i] = sc.Action, store.TruncTime(sc.At), nonNil(sc.Args)
		}
		b.Queue(`INSERT INTO actor_schedules (actor_id, id, due_at, action, args, created_at)
			SELECT $1, i, d, a, g, now() FROM unnest($2::text[], $3::timestamptz[], $4::text[], $5::bytea[]) AS t(i, d, a, g)
			ON CONFLICT (actor_id, id) DO UPDATE SET due_at = excluded.due_at, action = excluded.action,
				args = excluded.args, created_at = excluded.created_at`, w.ActorID, ids, ats, actions, args)
	}
	if len(w.WorkflowDeletes) > 0 {
		b.Queue(`DELETE FROM workflow_steps WHERE actor_id = $1 AND workflow = ANY($2::text[])`, w.ActorID, w.WorkflowDeletes)
	}
	if len(w.StepPrefixDeletes) > 0 {
		wfs, prefixes := make([]string, len(w.StepPrefixDeletes)), make([]string, len(w.StepPrefixDeletes))
		for i, sp := range w.StepPrefixDeletes {
			wfs[i], prefixes[i] = sp.Workflow, sp.Prefix
		}
		b.Queue(`DELETE FROM workflow_steps AS s USING unnest($2::text[], $3::text[]) AS d(w, p)
			WHERE s.actor_id = $1 AND s.workflow = d.w AND starts_with(s.name, d.p)`, w.ActorID, wfs, prefixes)
	}
	if len(w.WorkflowSteps) > 0 {
		type key struct{ wf, name string }
		idx := make(map[key]int, len(w.WorkflowSteps))
		var steps []store.WorkflowStep
		for _, st := range w.WorkflowSteps {
			k := key{st.Workflow, st.Name}
			if i, ok := idx[k]; ok {
				steps[i] = st
				continue
			}
			idx[k] = len(steps)
			steps = append(steps, st)
		}
		n := len(steps)
		var (
			wfs, names, statuses, errs = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			seqs                       = make([]int64, n)
			attempts                   = make([]int32, n)
			results                    = make([][]byte, n)
			started, finished          = make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
		)
		for i, st := range steps {
			wfs[i], names[i], statuses[i], errs[i] = st.Workflow, st.Name, st.Status, st.Error
			seqs[i], attempts[i], results[i] = int64(st.Seq), int32(st.Attempts), st.Result
			started[i], finished[i] = timestamptz(store.TruncTime(st.StartedAt)), timestamptz(store.TruncTime(st.FinishedAt))
		}
		b.Queue(`INSERT INTO workflow_steps (actor_id, workflow, name, seq, status, result, error, attempts, started_at, finished_at)
			SELECT $1, w, n, s, st, r, e, a, sa, fa
			FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::bytea[], $7::text[], $8::integer[],
				$9::timestamptz[], $10::timestamptz[]) AS t(w, n, s, st, r, e, a, sa, fa)
			ON CONFLICT (actor_id, workflow, name) DO UPDATE SET seq = excluded.seq, status = excluded.status,
				result = excluded.result, error = excluded.error, attempts = excluded.attempts,
				started_at = excluded.started_at, finished_at = excluded.finished_at`,
			w.ActorID, wfs, names, seqs, statuses, results, errs, attempts, started, finished)
	}
}
