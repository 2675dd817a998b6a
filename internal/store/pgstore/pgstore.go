package pgstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rivetkube/rivetkube/internal/store"
)

// Options configures Open.
type Options struct {
	// MaxConns caps the connection pool; <=0 keeps pgxpool's default (or
	// the URL's pool_max_conns).
	MaxConns int32
	// SkipMigrate leaves the schema alone (an operator migrates instead).
	SkipMigrate bool
	// PlaceLease, when positive, makes Place refuse (store.ErrFenced) to
	// move an actor off a runner whose heartbeat, by the database clock, is
	// younger than PlaceLease: in the same statement, so that a gateway
	// acting on an old view of the registry cannot take an actor from a
	// runner that still holds its lease. Gateways set it to the lease.
	PlaceLease time.Duration
}

// Store is the PostgreSQL store.Store. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	creates grouper[*createCall] // concurrent GetOrCreateActor calls
	loads   grouper[*loadCall]   // concurrent LoadActivation calls
	deacts  grouper[*deactCall]  // concurrent Deactivate calls

	mu     sync.RWMutex // shared by operations, exclusive in Close
	closed bool

	placeLease time.Duration // Options.PlaceLease
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a libpq URL or DSN) and, unless
// opts.SkipMigrate, migrates the schema.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open pg store: parse url: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pg store: %w", err)
	}
	if !opts.SkipMigrate {
		if err := Migrate(ctx, pool); err != nil {
			pool.Close()
			return nil, fmt.Errorf("open pg store: %w", err)
		}
	}
	return &Store{pool: pool, creates: grouper[*createCall]{max: maxCreateBatch}, loads: grouper[*loadCall]{max: maxLoadBatch},
		deacts: grouper[*deactCall]{max: maxLoadBatch}, placeLease: opts.PlaceLease}, nil
}

// Pool returns the connection pool, for callers that share it.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

func (s *Store) begin(ctx context.Context) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		s.mu.RUnlock()
		return err
	}
	return nil
}

func (s *Store) end() { s.mu.RUnlock() }

// Close closes the pool after running operations finish. Later calls of
// any method, Close included, return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	s.closed = true
	s.pool.Close()
	return nil
}

const actorCols = `id, namespace, name, key_serialized, pool, crash_policy, input, generation,
	runner_id, initialized, created_at, started_at, sleep_at, destroyed_at`

func scanActor(row pgx.Row) (store.Actor, error) { return scanActorExtra(row) }

// scanActorExtra scans actorCols followed by extra columns into extra.
func scanActorExtra(row pgx.Row, extra ...any) (store.Actor, error) {
	var (
		a                         store.Actor
		encKey                    []byte
		gen                       int64
		started, sleep, destroyed *time.Time
	)
	err := row.Scan(append([]any{&a.ID, &a.Namespace, &a.Name, &encKey, &a.Pool, &a.CrashPolicy, &a.Input, &gen,
		&a.RunnerID, &a.Initialized, &a.CreatedAt, &started, &sleep, &destroyed}, extra...)...)
	if err != nil {
		return store.Actor{}, err
	}
	if a.Key, err = store.DecodeKey(encKey); err != nil {
		return store.Actor{}, fmt.Errorf("actor %s: %w", a.ID, err)
	}
	a.Generation = uint64(gen)
	for _, p := range []struct {
		dst *time.Time
		src *time.Time
	}{{&a.StartedAt, started}, {&a.SleepAt, sleep}, {&a.DestroyedAt, destroyed}} {
		if p.src != nil {
			*p.dst = *p.src
		}
	}
	return a, nil
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// notFound maps pgx.ErrNoRows to store.ErrNotFound.
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return err
}

// insertActor inserts spec's actor, placed on runner $8 at generation 1
// when $8 is not empty (see store.ActorSpec.RunnerID).
const insertActor = `INSERT INTO actors (id, namespace, name, key_serialized, pool, crash_policy, input,
		runner_id, generation, started_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text, CASE WHEN $8::text = '' THEN 0 ELSE 1 END,
		CASE WHEN $8::text = '' THEN NULL ELSE now() END)`

func insertArgs(spec store.ActorSpec) []any {
	return []any{spec.ID, spec.Namespace, spec.Name, store.EncodeKey(spec.Key), spec.Pool, spec.CrashPolicy, spec.Input, spec.RunnerID}
}

// CreateActor inserts a new actor; ErrExists if (ns,name,key) or the ID is
// taken.
func (s *Store) CreateActor(ctx context.Context, spec store.ActorSpec) (store.Actor, error) {
	if err := store.ValidateSpec(spec); err != nil {
		return store.Actor{}, err
	}
	if err := s.begin(ctx); err != nil {
		return store.Actor{}, err
	}
	defer s.end()
	a, err := scanActor(s.pool.QueryRow(ctx, insertActor+" RETURNING "+actorCols, insertArgs(spec)...))
	if err != nil {
		if isUniqueViolation(err) {
			return store.Actor{}, fmt.Errorf("create actor %s %q: %w", spec.Name, spec.Key, store.ErrExists)
		}
		return store.Actor{}, fmt.Errorf("create actor: %w", err)
	}
	return a, nil
}

const selectLiveByKey = `SELECT ` + actorCols + ` FROM actors
	WHERE namespace = $1 AND name = $2 AND key_serialized = $3 AND destroyed_at IS NULL`

// getOrCreateSQL inserts the actor unless its key is taken (ON CONFLICT DO
// NOTHING on the live-key index elects exactly one creator among
// concurrent callers) and otherwise returns the live row of the key, in one
// statement. It returns no row when the key's owner committed after the
// statement's snapshot was taken, or was destroyed meanwhile: the caller
// runs it again.
const getOrCreateSQL = `WITH ins AS (` + insertActor + `
		ON CONFLICT (namespace, name, key_serialized) WHERE destroyed_at IS NULL DO NOTHING
		RETURNING ` + actorCols + `)
	SELECT *, true FROM ins
	UNION ALL
	SELECT ` + actorCols + `, false FROM actors
	WHERE namespace = $2 AND name = $3 AND key_serialized = $4 AND destroyed_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM ins)`

// GetOrCreateActor returns the live actor for the spec's key or creates it,
// in one round trip: grouped with concurrent calls (createGrouped), or
// alone with getOrCreateSQL when it is the only one, its group failed or
// its key's row changed under the group.
func (s *Store) GetOrCreateActor(ctx context.Context, spec store.ActorSpec) (store.Actor, bool, error) {
	if err := store.ValidateSpec(spec); err != nil {
		return store.Actor{}, false, err
	}
	if err := s.begin(ctx); err != nil {
		return store.Actor{}, false, err
	}
	defer s.end()
	if a, created, found, err := s.createGrouped(ctx, spec); err != nil {
		return store.Actor{}, false, fmt.Errorf("get or create actor: %w", err)
	} else if found {
		return a, created, nil
	}
	args := insertArgs(spec)
	for attempt := 0; ; attempt++ {
		var created bool
		a, err := scanActorExtra(s.pool.QueryRow(ctx, getOrCreateSQL, args...), &created)
		if err == nil {
			return a, created, nil
		}
		if isUniqueViolation(err) {
			return store.Actor{}, false, fmt.Errorf("get or create actor: id %s: %w", spec.ID, store.ErrExists)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.Actor{}, false, fmt.Errorf("get or create actor: %w", err)
		}
		// Another caller created the actor after our snapshot (and it may
		// already be destroyed again): look again.
		if attempt == 10 {
			return store.Actor{}, false, fmt.Errorf("get or create actor %s %q: key keeps changing", spec.Name, spec.Key)
		}
	}
}

// GetActor returns an actor by ID, destroyed ones included.
func (s *Store) GetActor(ctx context.Context, id string) (store.Actor, error) {
	if err := s.begin(ctx); err != nil {
		return store.Actor{}, err
	}
	defer s.end()
	a, err := scanActor(s.pool.QueryRow(ctx, `SELECT `+actorCols+` FROM actors WHERE id = $1`, id))
	if err != nil {
		return store.Actor{}, fmt.Errorf("get actor: %w", notFound(err, "actor "+id))
	}
	return a, nil
}

// GetActorByKey returns the live actor for (ns, name, key).
func (s *Store) GetActorByKey(ctx context.Context, ns, name string, key []string) (store.Actor, error) {
	if err := s.begin(ctx); err != nil {
		return store.Actor{}, err
	}
	defer s.end()
	a, err := scanActor(s.pool.QueryRow(ctx, selectLiveByKey, ns, name, store.EncodeKey(key)))
	if err != nil {
		return store.Actor{}, fmt.Errorf("get actor by key: %w", notFound(err, fmt.Sprintf("actor %s %q", name, key)))
	}
	return a, nil
}

func encodeCursor(createdAt time.Time, id string) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(createdAt.UnixMicro()))
	return base64.RawURLEncoding.EncodeToString(append(b, id...))
}

func decodeCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 9 {
		return time.Time{}, "", fmt.Errorf("bad list cursor: %w", store.ErrInvalid)
	}
	return time.UnixMicro(int64(binary.BigEndian.Uint64(b))), string(b[8:]), nil
}

// ListActors lists actors of one name in (CreatedAt, ID) order, keyset
// paginated on the actors_list index.
func (s *Store) ListActors(ctx context.Context, opts store.ListOptions) ([]store.Actor, string, error) {
	if opts.Name == "" {
		return s.listAllNames(ctx, opts)
	}
	var q strings.Builder
	q.WriteString(`SELECT ` + actorCols + ` FROM actors WHERE namespace = $1 AND name = $2`)
	args := []any{opts.Namespace, opts.Name}
	if opts.HasKey {
		args = append(args, store.EncodeKey(opts.Key))
		fmt.Fprintf(&q, " AND key_serialized = $%d", len(args))
	}
	if !opts.IncludeDestroyed {
		q.WriteString(" AND destroyed_at IS NULL")
	}
	if opts.Cursor != "" {
		ts, id, err := decodeCursor(opts.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("list actors: %w", err)
		}
		args = append(args, ts, id)
		fmt.Fprintf(&q, " AND (created_at, id) > ($%d, $%d)", len(args)-1, len(args))
	}
	limit := store.ListLimit(opts.Limit)
	args = append(args, limit+1)
	fmt.Fprintf(&q, " ORDER BY created_at, id LIMIT $%d", len(args))

	return s.actorPage(ctx, q.String(), args, limit, func(a store.Actor) string { return encodeCursor(a.CreatedAt, a.ID) })
}

// DestroyActor marks the actor destroyed, frees its key, drops its state,
// KV, queue, schedules and workflow steps and bumps its generation, in one
// transaction.
func (s *Store) DestroyActor(ctx context.Context, id string) (store.Actor, error) {
	if err := s.begin(ctx); err != nil {
		return store.Actor{}, err
	}
	defer s.end()
	var (
		a          store.Actor
		wasDeleted bool
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := scanActor(tx.QueryRow(ctx, `SELECT `+actorCols+` FROM actors WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return notFound(err, "actor "+id)
		}
		if cur.Destroyed() {
			a, wasDeleted = cur, true
			return nil
		}
		if a, err = scanActor(tx.QueryRow(ctx, `UPDATE actors
			SET generation = generation + 1, runner_id = '', destroyed_at = now(), queue_len = 0
			WHERE id = $1 RETURNING `+actorCols, id)); err != nil {
			return err
		}
		b := &pgx.Batch{}
		for _, table := range []string{"actor_state", "actor_kv", "actor_queue", "actor_schedules", "workflow_steps", "actor_db_pages"} {
			b.Queue(`DELETE FROM `+table+` WHERE actor_id = $1`, id)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return store.Actor{}, fmt.Errorf("destroy actor: %w", err)
	}
	if wasDeleted {
		return a, fmt.Errorf("destroy actor %s: %w", id, store.ErrDestroyed)
	}
	return a, nil
}

// fenceState is what a fence check needs of an actor row.
type fenceState struct {
	gen       uint64
	destroyed bool
}

func (f fenceState) check(id string, gen uint64) error {
	if f.destroyed {
		return store.FencedDestroyed(id)
	}
	if f.gen != gen {
		return fmt.Errorf("actor %s: generation %d, current %d: %w", id, gen, f.gen, store.ErrFenced)
	}
	return nil
}

func (s *Store) loadFence(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id string) (fenceState, error) {
	var (
		f   fenceState
		gen int64
	)
	err := q.QueryRow(ctx, `SELECT generation, destroyed_at IS NOT NULL FROM actors WHERE id = $1`, id).Scan(&gen, &f.destroyed)
	if err != nil {
		return f, notFound(err, "actor "+id)
	}
	f.gen = uint64(gen)
	return f, nil
}

// Activate places the actor on runnerID under generation current+1. One
// conditional UPDATE: concurrent callers with the same expectGen serialize
// on the row lock and only the first matches.
func (s *Store) Activate(ctx context.Context, id, runnerID string, expectGen uint64) (store.Actor, error) {
	if err := s.begin(ctx); err != nil {
		return store.Actor{}, err
	}
	defer s.end()
	a, err := scanActor(s.pool.QueryRow(ctx, `UPDATE actors
		SET generation = generation + 1, runner_id = $2, started_at = now(), sleep_at = NULL
		WHERE id = $1 AND destroyed_at IS NULL AND ($3::bigint = 0 OR generation = $3::bigint)
		RETURNING `+actorCols, id, runnerID, int64(expectGen)))
	if err == nil {
		return a, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.Actor{}, fmt.Errorf("activate: %w", err)
	}
	f, err := s.loadFence(ctx, s.pool, id)
	switch {
	case err != nil:
		return store.Actor{}, fmt.Errorf("activate: %w", err)
	case f.destroyed:
		return store.Actor{}, fmt.Errorf("activate: actor %s: %w", id, store.ErrDestroyed)
	default:
		return store.Actor{}, fmt.Errorf("activate: actor %s: expected generation %d, current %d: %w", id, expectGen, f.gen, store.ErrFenced)
	}
}

// Deactivate clears the placement if gen is current.
func (s *Store) Deactivate(ctx context.Context, id string, gen uint64) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	if done, err := s.deactivateGrouped(ctx, id, gen); err != nil {
		return fmt.Errorf("deactivate: %w", err)
	} else if done {
		return nil
	}
	tag, err := s.pool.Exec(ctx, `UPDATE actors SET runner_id = '', sleep_at = now()
		WHERE id = $1 AND generation = $2 AND destroyed_at IS NULL`, id, int64(gen))
	if err != nil {
		return fmt.Errorf("deactivate: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	f, err := s.loadFence(ctx, s.pool, id)
	if err == nil {
		err = f.check(id, gen)
		if err == nil { // changed between the two statements
			err = fmt.Errorf("actor %s: %w", id, store.ErrFenced)
		}
	}
	return fmt.Errorf("deactivate: %w", err)
}

// LoadState returns the committed state, fenced by gen.
func (s *Store) LoadState(ctx context.Context, id string, gen uint64) ([]byte, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	var (
		g         int64
		destroyed bool
		state     []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT a.generation, a.destroyed_at IS NOT NULL, st.state
		FROM actors a LEFT JOIN actor_state st ON st.actor_id = a.id WHERE a.id = $1`, id).Scan(&g, &destroyed, &state)
	if err != nil {
		return nil, fmt.Errorf("load state: %w", notFound(err, "actor "+id))
	}
	if err := (fenceState{gen: uint64(g), destroyed: destroyed}).check(id, gen); err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	return state, nil
}

// nonNil maps nil to an empty slice: bytea columns here are NOT NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Commit applies the batch in one transaction: lock and fence-check every
// actor of the batch first, then pipeline the changes of the writes that
// passed.
func (s *Store) Commit(ctx context.Context, writes []store.Write) ([]error, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	errs := make([]error, len(writes))
	if len(writes) == 0 {
		return errs, nil
	}
	if w := writes[0]; len(writes) == 1 && store.ValidateWrite(w) == nil && stateOnly(w) {
		// The common case (one actor's state, the committer's lone write):
		// no arrays, no rows to scan.
		var err error
		if errs[0], err = s.commitOne(ctx, w); err != nil {
			return nil, fmt.Errorf("commit: %w", err)
		}
		return errs, nil
	}
	var ids []string
	seen := map[string]bool{}
	for i, w := range writes {
		if errs[i] = store.ValidateWrite(w); errs[i] == nil && !seen[w.ActorID] {
			seen[w.ActorID] = true
			ids = append(ids, w.ActorID)
		}
	}
	if len(ids) == 0 {
		return errs, nil // no valid write: nothing to apply
	}
	fast := true
	for i, w := range writes {
		if errs[i] == nil && !stateOnly(w) {
			fast = false
			break
		}
	}
	var err error
	if fast {
		err = s.commitStateOnly(ctx, ids, writes, errs)
	} else {
		err = s.commitTx(ctx, ids, writes, errs)
	}
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return errs, nil
}

// commitStateOnlySQL applies a batch of state-only writes in one statement
// (its own implicit transaction): it locks the batch's actor rows in ID
// order (as lockActorsSQL), keeps the writes whose generation matches a
// live row, upserts the last state each actor's passing writes set,
// marks initialized the actors a passing write asks to, and returns the
// locked rows so the caller can tell each write's outcome. $1..$4 are
// parallel arrays of the writes (ID, state or NULL, generation,
// initialized); $5 the distinct IDs.
const commitStateOnlySQL = `WITH w AS (
		SELECT * FROM unnest($1::text[], $2::bytea[], $3::bigint[], $4::bool[]) WITH ORDINALITY AS t(id, state, gen, init, ord)),
	a AS (
		SELECT id, generation, destroyed_at IS NOT NULL AS destroyed FROM actors
		WHERE id = ANY($5::text[]) ORDER BY id FOR UPDATE),
	ok AS (
		SELECT w.* FROM w JOIN a ON a.id = w.id AND a.generation = w.gen AND NOT a.destroyed),
	st AS (
		INSERT INTO actor_state (actor_id, state)
		SELECT DISTINCT ON (id) id, state FROM ok WHERE state IS NOT NULL ORDER BY id, ord DESC
		ON CONFLICT (actor_id) DO UPDATE SET state = excluded.state, updated_at = now()),
	ini AS (
		UPDATE actors SET initialized = true
		WHERE id IN (SELECT id FROM ok WHERE init) AND NOT initialized)
	SELECT id, generation, destroyed FROM a`

// commitOneSQL is commitStateOnlySQL for a batch of one write ($1 ID, $2
// state or NULL, $3 generation, $4 initialized) without the arrays: lock
// the row, write the state and mark the actor initialized when the fence
// holds. It answers with the outcome alone: one row when the write
// applied, none when its fence failed (or the actor is unknown), so the
// caller reads the command tag and no row.
const commitOneSQL = `WITH a AS (
		SELECT id, generation, destroyed_at IS NOT NULL AS destroyed FROM actors WHERE id = $1 FOR UPDATE),
	st AS (
		INSERT INTO actor_state (actor_id, state)
		SELECT id, $2::bytea FROM a WHERE generation = $3 AND NOT destroyed AND $2::bytea IS NOT NULL
		ON CONFLICT (actor_id) DO UPDATE SET state = excluded.state, updated_at = now()),
	ini AS (
		UPDATE actors SET initialized = true
		WHERE id = $1 AND $4::bool AND NOT initialized
			AND EXISTS (SELECT 1 FROM a WHERE generation = $3 AND NOT destroyed))
	SELECT 1 FROM a WHERE generation = $3 AND NOT destroyed`

// commitOne commits one valid state-only write w (commitOneSQL, one
// round trip, committed when Exec returns). werr is w's outcome, err a
// failure of the store. A write that did not apply failed its fence or
// names an unknown actor: the row, read then, tells which. (A generation
// only grows and a destruction is final, so what the read shows is what
// failed the write.)
func (s *Store) commitOne(ctx context.Context, w store.Write) (werr, err error) {
	tag, err := s.pool.Exec(ctx, commitOneSQL, w.ActorID, w.State, int64(w.Generation), w.Initialized)
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 1 {
		return nil, nil
	}
	f, err := s.loadFence(ctx, s.pool, w.ActorID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("actor %s: %w", w.ActorID, store.ErrNotFound), nil
	}
	if err != nil {
		return nil, err
	}
	if werr = f.check(w.ActorID, w.Generation); werr == nil {
		werr = fmt.Errorf("actor %s: generation %d: %w", w.ActorID, w.Generation, store.ErrFenced)
	}
	return werr, nil
}

// commitStateOnly is Commit for a batch of state-only writes: one statement,
// one round trip, committed when its result is complete. errs[i] is set
// for every write.
func (s *Store) commitStateOnly(ctx context.Context, ids []string, writes []store.Write, errs []error) error {
	var (
		wid    = make([]string, 0, len(writes))
		wstate = make([][]byte, 0, len(writes))
		wgen   = make([]int64, 0, len(writes))
		winit  = make([]bool, 0, len(writes))
		last   int // index of the last valid write
	)
	for i, w := range writes {
		if errs[i] != nil {
			continue
		}
		wid, wstate, wgen, winit = append(wid, w.ActorID), append(wstate, w.State), append(wgen, int64(w.Generation)), append(winit, w.Initialized)
		last = i
	}
	if len(wid) == 1 {
		var err error
		errs[last], err = s.commitOne(ctx, writes[last])
		return err
	}
	rows, err := s.pool.Query(ctx, commitStateOnlySQL, wid, wstate, wgen, winit, ids)
	if err != nil {
		return err
	}
	fences := make(map[string]fenceState, len(ids))
	for rows.Next() {
		var (
			id  string
			gen int64
			f   fenceState
		)
		if err := rows.Scan(&id, &gen, &f.destroyed); err != nil {
			rows.Close()
			return err
		}
		f.gen = uint64(gen)
		fences[id] = f
	}
	// Close waits for the end of the statement and its implicit commit.
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i, w := range writes {
		if errs[i] != nil {
			continue
		}
		errs[i] = fenceErr(fences, w)
	}
	return nil
}

// fenceErr is w's error against the locked rows' fences: not found, or
// the fence check (nil when w may apply).
func fenceErr(fences map[string]fenceState, w store.Write) error {
	f, ok := fences[w.ActorID]
	if !ok {
		return fmt.Errorf("actor %s: %w", w.ActorID, store.ErrNotFound)
	}
	return f.check(w.ActorID, w.Generation)
}

// lockActorsSQL locks the batch's actor rows in ID order (so concurrent
// batches cannot deadlock) and reads what the fence checks need.
const lockActorsSQL = `SELECT id, generation, destroyed_at IS NOT NULL, initialized
	FROM actors WHERE id = ANY($1) ORDER BY id FOR UPDATE`

// commitTx runs Commit's transaction for a batch with more than state
// changes, in two round trips: BEGIN and the locking read of the batch's
// actor rows in one pipeline, then the changes of the writes that pass
// their fence check and COMMIT in another. It sets errs[i] for the writes
// it skips. A statement that fails makes the server skip the rest of its
// pipeline, COMMIT included, so the transaction is rolled back and nothing
// of the batch is applied.
func (s *Store) commitTx(ctx context.Context, ids []string, writes []store.Write, errs []error) (err error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pc.Conn()
	defer func() {
		if err != nil && !conn.IsClosed() && conn.PgConn().TxStatus() != 'I' {
			// End what the failed pipeline left open. Should this fail too,
			// Release destroys the connection, which ends the transaction.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, _ = conn.Exec(rctx, "ROLLBACK")
			cancel()
		}
		pc.Release()
	}()

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(lockActorsSQL, ids)
	br := conn.SendBatch(ctx, b)
	fences, initialized, err := readLocks(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("lock actors: %w", err)
	}
	apply := &pgx.Batch{}
	for i, w := range writes {
		if errs[i] != nil {
			continue
		}
		if errs[i] = fenceErr(fences, w); errs[i] != nil {
			continue
		}
		queueWrite(apply, w, initialized)
	}
	n := apply.Len()
	apply.Queue("COMMIT")
	br = conn.SendBatch(ctx, apply)
	for range n {
		if _, err = br.Exec(); err != nil {
			_ = br.Close()
			return fmt.Errorf("apply writes: %w", err)
		}
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// stateOnly reports whether w sets nothing but State and Initialized. It
// compares with the zero Write, so a part added to store.Write later is
// never mistaken for nothing.
func stateOnly(w store.Write) bool {
	w.ActorID, w.Generation, w.State, w.Initialized = "", 0, nil, false
	return reflect.DeepEqual(w, store.Write{})
}

// readLocks reads the results of BEGIN and the locking read of commitTx.
func readLocks(br pgx.BatchResults) (map[string]fenceState, map[string]bool, error) {
	if _, err := br.Exec(); err != nil {
		return nil, nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	fences := map[string]fenceState{}
	initialized := map[string]bool{}
	for rows.Next() {
		var (
			id   string
			gen  int64
			f    fenceState
			init bool
		)
		if err := rows.Scan(&id, &gen, &f.destroyed, &init); err != nil {
			return nil, nil, err
		}
		f.gen = uint64(gen)
		fences[id], initialized[id] = f, init
	}
	return fences, initialized, rows.Err()
}

// queueWrite adds the statements of one checked write to b, in the order
// DeleteAll, Deletes, Puts, State, Initialized, then those of
// queueQueueWrite.
func queueWrite(b *pgx.Batch, w store.Write, initialized map[string]bool) {
	if w.DeleteAll {
		b.Queue(`DELETE FROM actor_kv WHERE actor_id = $1`, w.ActorID)
	}
	if len(w.Deletes) > 0 {
		keys := make([][]byte, len(w.Deletes))
		for i, k := range w.Deletes {
			keys[i] = nonNil(k)
		}
		b.Queue(`DELETE FROM actor_kv WHERE actor_id = $1 AND key = ANY($2::bytea[])`, w.ActorID, keys)
	}
	if len(w.Puts) > 0 {
		// One INSERT may not touch a row twice: the last put of a key wins.
		idx := make(map[string]int, len(w.Puts))
		var keys, vals [][]byte
		for _, kv := range w.Puts {
			if i, ok := idx[string(kv.Key)]; ok {
				vals[i] = nonNil(kv.Value)
				continue
			}
			idx[string(kv.Key)] = len(keys)
			keys = append(keys, nonNil(kv.Key))
			vals = append(vals, nonNil(kv.Value))
		}
		b.Queue(`INSERT INTO actor_kv (actor_id, key, value)
			SELECT $1, k, v FROM unnest($2::bytea[], $3::bytea[]) AS t(k, v)
			ON CONFLICT (actor_id, key) DO UPDATE SET value = excluded.value`, w.ActorID, keys, vals)
	}
	if w.State != nil {
		b.Queue(`INSERT INTO actor_state (actor_id, state) VALUES ($1, $2)
			ON CONFLICT (actor_id) DO UPDATE SET state = excluded.state, updated_at = now()`, w.ActorID, w.State)
	}
	if w.Initialized && !initialized[w.ActorID] {
		initialized[w.ActorID] = true
		b.Queue(`UPDATE actors SET initialized = true WHERE id = $1`, w.ActorID)
	}
	queueQueueWrite(b, w)
	queueDBWrite(b, w)
}

// checkActor returns ErrNotFound unless the actor exists.
func (s *Store) checkActor(ctx context.Context, id string) error {
	var one int
	err := s.pool.QueryRow(ctx, `SELECT 1 FROM actors WHERE id = $1`, id).Scan(&one)
	return notFound(err, "actor "+id)
}

// KVGet returns the values of keys; nil entries for missing keys.
func (s *Store) KVGet(ctx context.Context, id string, keys [][]byte) ([][]byte, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	if err := s.checkActor(ctx, id); err != nil {
		return nil, fmt.Errorf("kv get: %w", err)
	}
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	qkeys := make([][]byte, len(keys))
	for i, k := range keys {
		qkeys[i] = nonNil(k)
	}
	rows, err := s.pool.Query(ctx, `SELECT key, value FROM actor_kv WHERE actor_id = $1 AND key = ANY($2::bytea[])`, id, qkeys)
	if err != nil {
		return nil, fmt.Errorf("kv get: %w", err)
	}
	found := map[string][]byte{}
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("kv get: %w", err)
		}
		found[string(k)] = nonNil(v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("kv get: %w", err)
	}
	for i, k := range keys {
		if v, ok := found[string(k)]; ok {
			out[i] = bytes.Clone(v) // duplicate keys get their own copies
		}
	}
	return out, nil
}

// KVList returns the pairs of r in key order, or reverse order. bytea
// compares bytewise, matching the contract's key order.
func (s *Store) KVList(ctx context.Context, id string, r store.KVRange) ([]store.KV, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	if err := s.checkActor(ctx, id); err != nil {
		return nil, fmt.Errorf("kv list: %w", err)
	}
	start, end, limit := store.NormalizeRange(r)
	var q strings.Builder
	q.WriteString(`SELECT key, value FROM actor_kv WHERE actor_id = $1 AND key >= $2`)
	args := []any{id, nonNil(start)}
	if end != nil {
		args = append(args, end)
		q.WriteString(` AND key < $3`)
	}
	if r.Reverse {
		q.WriteString(` ORDER BY key DESC`)
	} else {
		q.WriteString(` ORDER BY key`)
	}
	args = append(args, limit)
	fmt.Fprintf(&q, ` LIMIT $%d`, len(args))
	rows, err := s.pool.Query(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("kv list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.KV, error) {
		var kv store.KV
		err := row.Scan(&kv.Key, &kv.Value)
		kv.Key, kv.Value = nonNil(kv.Key), nonNil(kv.Value)
		return kv, err
	})
	if err != nil {
		return nil, fmt.Errorf("kv list: %w", err)
	}
	return out, nil
}

// actorPage runs the list query q (which asks for limit+1 rows) and returns
// at most limit actors, with the cursor of the last one when more follow.
func (s *Store) actorPage(ctx context.Context, q string, args []any, limit int, cursor func(store.Actor) string) ([]store.Actor, string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, "", err
	}
	defer s.end()
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list actors: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Actor, error) { return scanActor(r) })
	if err != nil {
		return nil, "", fmt.Errorf("list actors: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = cursor(out[limit-1])
	}
	return out, next, nil
}
