package pgstore

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/storetest"
	"github.com/rivetkube/rivetkube/internal/testutil/pgtest"
)

func open(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, Options{MaxConns: 4})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestConformance runs the store suite; every subtest opens its own pool on
// one shared database (subtests use namespaces of their own).
func TestConformance(t *testing.T) {
	t.Parallel()
	srv := pgtest.StartServer(t)
	url := srv.NewDatabase(t)
	open(t, url) // migrate once up front
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, url) })
}

// TestMigrateConcurrent opens many stores on a fresh database at once: the
// advisory lock must let each migration apply exactly once.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	srv := pgtest.StartServer(t)
	url := srv.NewDatabase(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(context.Background(), url, Options{MaxConns: 2})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Open %d: %v", i, err)
		}
	}
	s := open(t, url)
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var rows, maxVersion int
	if err := s.Pool().QueryRow(context.Background(), "SELECT count(*), max(version) FROM schema_migrations").Scan(&rows, &maxVersion); err != nil {
		t.Fatal(err)
	}
	if rows != len(ms) || maxVersion != ms[len(ms)-1].Version {
		t.Fatalf("schema_migrations has %d rows up to version %d, want %d up to %d", rows, maxVersion, len(ms), ms[len(ms)-1].Version)
	}
	// The real tables and the partial unique index exist.
	var idx string
	if err := s.Pool().QueryRow(context.Background(),
		"SELECT indexdef FROM pg_indexes WHERE indexname = 'actors_live_key'").Scan(&idx); err != nil {
		t.Fatalf("actors_live_key index: %v", err)
	}
}

// TestCommitterOnPG runs the group committer against PostgreSQL.
func TestCommitterOnPG(t *testing.T) {
	t.Parallel()
	srv := pgtest.StartServer(t)
	s := open(t, srv.NewDatabase(t))
	ctx := context.Background()
	c := store.NewCommitter(s, store.CommitterOptions{})
	defer c.Close()
	const actors, perActor = 10, 20
	gens := make([]uint64, actors)
	for i := range actors {
		id := "c" + string(rune('a'+i))
		if _, err := s.CreateActor(ctx, store.ActorSpec{ID: id, Namespace: "ns", Name: "n", Key: []string{id}}); err != nil {
			t.Fatal(err)
		}
		a, err := s.Activate(ctx, id, "r", 0)
		if err != nil {
			t.Fatal(err)
		}
		gens[i] = a.Generation
	}
	var ps []*store.Pending
	for r := range perActor {
		for i := range actors {
			id := "c" + string(rune('a'+i))
			p, err := c.Submit(ctx, store.Write{ActorID: id, Generation: gens[i], State: []byte{byte(r)},
				Puts: []store.KV{{Key: []byte{byte(r)}, Value: []byte("v")}}})
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
	}
	for _, p := range ps {
		if err := p.Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range actors {
		id := "c" + string(rune('a'+i))
		st, err := s.LoadState(ctx, id, gens[i])
		if err != nil || len(st) != 1 || st[0] != perActor-1 {
			t.Fatalf("%s state %v (%v), want last write %d", id, st, err, perActor-1)
		}
	}
	if st := c.Stats(); st.Batches >= st.Writes {
		t.Logf("no batching observed: %+v", st)
	}
}

// TestCommitFailedStatementRollsBack makes one statement of a batch fail at
// the server (a trigger refuses a state): nothing of the batch may be
// applied, and the pool's only connection must be usable afterwards.
func TestCommitFailedStatementRollsBack(t *testing.T) {
	t.Parallel()
	srv := pgtest.StartServer(t)
	url := srv.NewDatabase(t)
	s, err := Open(context.Background(), url, Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	if _, err := s.Pool().Exec(ctx, `
		CREATE FUNCTION refuse_bad_state() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.state = '\xbad0'::bytea THEN RAISE EXCEPTION 'refused'; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_bad_state BEFORE INSERT OR UPDATE ON actor_state
			FOR EACH ROW EXECUTE FUNCTION refuse_bad_state()`); err != nil {
		t.Fatal(err)
	}
	gens := map[string]uint64{}
	for _, id := range []string{"a", "b"} {
		if _, err := s.CreateActor(ctx, store.ActorSpec{ID: id, Namespace: "ns", Name: "n", Key: []string{id}}); err != nil {
			t.Fatal(err)
		}
		a, err := s.Activate(ctx, id, "r", 0)
		if err != nil {
			t.Fatal(err)
		}
		gens[id] = a.Generation
	}
	if _, err := s.Commit(ctx, []store.Write{
		{ActorID: "a", Generation: gens["a"], State: []byte{1}, Puts: []store.KV{{Key: []byte("k"), Value: []byte("v")}}},
		{ActorID: "b", Generation: gens["b"], State: []byte{0xba, 0xd0}},
	}); err == nil {
		t.Fatal("Commit with a refused statement succeeded")
	}
	if st, err := s.LoadState(ctx, "a", gens["a"]); err != nil || st != nil {
		t.Fatalf("state of a after the failed batch: %v (%v), want none", st, err)
	}
	if kv, err := s.KVGet(ctx, "a", [][]byte{[]byte("k")}); err != nil || kv[0] != nil {
		t.Fatalf("kv of a after the failed batch: %q (%v), want none", kv, err)
	}
	errs, err := s.Commit(ctx, []store.Write{{ActorID: "a", Generation: gens["a"], State: []byte{2}}})
	if err != nil || errs[0] != nil {
		t.Fatalf("Commit after the failed batch: %v %v", err, errs)
	}
	if st, err := s.LoadState(ctx, "a", gens["a"]); err != nil || len(st) != 1 || st[0] != 2 {
		t.Fatalf("state of a: %v (%v), want [2]", st, err)
	}
	// The same with state-only writes, which Commit sends as one statement.
	if _, err := s.Commit(ctx, []store.Write{
		{ActorID: "a", Generation: gens["a"], State: []byte{4}},
		{ActorID: "b", Generation: gens["b"], State: []byte{0xba, 0xd0}, Initialized: true},
	}); err == nil {
		t.Fatal("state-only Commit with a refused statement succeeded")
	}
	if st, err := s.LoadState(ctx, "a", gens["a"]); err != nil || len(st) != 1 || st[0] != 2 {
		t.Fatalf("state of a after the failed state-only batch: %v (%v), want [2]", st, err)
	}
	if b, err := s.GetActor(ctx, "b"); err != nil || b.Initialized {
		t.Fatalf("b after the failed state-only batch: initialized %v (%v), want false", b.Initialized, err)
	}
	errs, err = s.Commit(ctx, []store.Write{
		{ActorID: "a", Generation: gens["a"], State: []byte{5}},
		{ActorID: "b", Generation: gens["b"], State: []byte{6}, Initialized: true},
	})
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("state-only Commit after the failed one: %v %v", err, errs)
	}
	if b, err := s.GetActor(ctx, "b"); err != nil || !b.Initialized {
		t.Fatalf("b: initialized %v (%v), want true", b.Initialized, err)
	}
	// A batch that is all fenced still ends its transaction.
	errs, err = s.Commit(ctx, []store.Write{{ActorID: "a", Generation: gens["a"] + 1, State: []byte{3}}})
	if err != nil || !errors.Is(errs[0], store.ErrFenced) {
		t.Fatalf("fenced Commit: %v %v", err, errs)
	}
	if _, err := s.GetActor(ctx, "a"); err != nil {
		t.Fatalf("store unusable after a fenced batch: %v", err)
	}
}

// TestCommitStateOnlyFences checks Commit's one-statement path: a batch of
// state-only writes where some are fenced, destroyed or missing applies
// exactly the writes that pass, in order.
func TestCommitStateOnlyFences(t *testing.T) {
	t.Parallel()
	srv := pgtest.StartServer(t)
	s := open(t, srv.NewDatabase(t))
	ctx := context.Background()
	act := func(id string) store.Actor {
		t.Helper()
		if _, err := s.CreateActor(ctx, store.ActorSpec{ID: id, Namespace: "ns", Name: "n", Key: []string{id}}); err != nil {
			t.Fatal(err)
		}
		a, err := s.Activate(ctx, id, "r", 0)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	good, stale, dead := act("good"), act("stale"), act("dead")
	staleGen := stale.Generation
	stale, err := s.Activate(ctx, stale.ID, "r2", stale.Generation)
	if err != nil {
		t.Fatal(err)
	}
	if errs, err := s.Commit(ctx, []store.Write{{ActorID: stale.ID, Generation: stale.Generation, State: []byte("keep")}}); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	if _, err := s.DestroyActor(ctx, dead.ID); err != nil {
		t.Fatal(err)
	}
	errs, err := s.Commit(ctx, []store.Write{
		{ActorID: good.ID, Generation: good.Generation, State: []byte("s1"), Initialized: true},
		{ActorID: stale.ID, Generation: staleGen, State: []byte("lost"), Initialized: true},
		{ActorID: "no-such-actor", Generation: 1, State: []byte("x")},
		{ActorID: dead.ID, Generation: dead.Generation, State: []byte("x"), Initialized: true},
		{ActorID: good.ID, Generation: good.Generation, State: []byte("s2")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || errs[4] != nil {
		t.Fatalf("good writes failed: %v, %v", errs[0], errs[4])
	}
	for i, want := range []error{1: store.ErrFenced, 2: store.ErrNotFound, 3: store.ErrDestroyed} {
		if want != nil && !errors.Is(errs[i], want) {
			t.Fatalf("write %d: %v, want %v", i, errs[i], want)
		}
	}
	if st, err := s.LoadState(ctx, good.ID, good.Generation); err != nil || string(st) != "s2" {
		t.Fatalf("good state %q (%v), want s2", st, err)
	}
	if a, _ := s.GetActor(ctx, good.ID); !a.Initialized {
		t.Fatal("good actor not initialized")
	}
	if st, err := s.LoadState(ctx, stale.ID, stale.Generation); err != nil || string(st) != "keep" {
		t.Fatalf("fenced write changed state to %q (%v)", st, err)
	}
	if a, _ := s.GetActor(ctx, stale.ID); a.Initialized {
		t.Fatal("fenced write marked the actor initialized")
	}
	if a, _ := s.GetActor(ctx, dead.ID); a.Initialized {
		t.Fatal("write to a destroyed actor marked it initialized")
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM actor_state WHERE actor_id IN ($1, $2)`, dead.ID, "no-such-actor").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d state rows for the destroyed and missing actors (%v)", n, err)
	}
}
