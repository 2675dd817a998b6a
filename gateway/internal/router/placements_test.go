package router

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/boltstore"
)

// countingStore counts actor row reads and can make runners look dead.
type countingStore struct {
	store.Store
	gets   atomic.Int64
	places atomic.Int64 // Place calls by the router
	mu     sync.Mutex
	dead   map[string]bool
}

func (s *countingStore) Place(ctx context.Context, id, runnerID string, expectGen uint64) (store.Actor, error) {
	s.places.Add(1)
	return s.Store.Place(ctx, id, runnerID, expectGen)
}

func (s *countingStore) GetActor(ctx context.Context, id string) (store.Actor, error) {
	s.gets.Add(1)
	return s.Store.GetActor(ctx, id)
}

func (s *countingStore) ListRunners(ctx context.Context, pool string) ([]store.Runner, error) {
	rs, err := s.Store.ListRunners(ctx, pool)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range rs {
		if s.dead[rs[i].ID] {
			rs[i].SinceHeartbeat = time.Hour
		}
	}
	return rs, err
}

func (s *countingStore) kill(id string) {
	s.mu.Lock()
	s.dead[id] = true
	s.mu.Unlock()
}

// fakeRunner answers like the runtime in runner mode: it serves a request
// only when the store's row places the actor on it with the request's
// generation, refuses a stale one, and reports a destroyed actor as gone.
type fakeRunner struct {
	id    string
	st    store.Store
	calls atomic.Int64
	// attempts counts every action that reached it, refused ones too.
	attempts atomic.Int64
	done     chan struct{}
}

func (f *fakeRunner) Action(ctx context.Context, req hostapi.ActionRequest) ([]byte, error) {
	f.attempts.Add(1)
	if hostapi.SelfPlace(ctx) && req.Generation > 0 {
		// As the runtime: place on itself at the request's generation;
		// when that fails the row decides, below.
		_, err := f.st.PlaceActivation(ctx, req.ActorID, f.id, req.Generation-1, 1)
		if err != nil && !errors.Is(err, store.ErrFenced) {
			if errors.Is(err, store.ErrDestroyed) || errors.Is(err, store.ErrNotFound) {
				return nil, hostapi.Gone()
			}
			return nil, err
		}
	}
	a, err := f.st.GetActor(ctx, req.ActorID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.Destroyed()) {
		return nil, hostapi.Gone()
	}
	if err != nil {
		return nil, err
	}
	if a.RunnerID != f.id || a.Generation != req.Generation {
		return nil, errs.Stale()
	}
	f.calls.Add(1)
	return []byte(f.id), nil
}

func (f *fakeRunner) Connect(context.Context, hostapi.ConnectRequest, hostapi.Sink) (hostapi.Conn, error) {
	return nil, errs.Internal()
}
func (f *fakeRunner) Request(context.Context, hostapi.Target, http.ResponseWriter, *http.Request) error {
	return errs.Internal()
}
func (f *fakeRunner) WebSocket(context.Context, hostapi.Target, *http.Request, hostapi.MessageConn) error {
	return errs.Internal()
}
func (f *fakeRunner) Destroy(context.Context, hostapi.Target) error { return errs.Internal() }
func (f *fakeRunner) Stop(context.Context, hostapi.Target) error    { return nil }
func (f *fakeRunner) QueueSend(context.Context, hostapi.QueueSendRequest) (hostapi.QueueSendResponse, error) {
	return hostapi.QueueSendResponse{}, errs.Internal()
}
func (f *fakeRunner) Wake(context.Context, hostapi.Target) error { return nil }
func (f *fakeRunner) Inspect(context.Context, hostapi.Target, http.ResponseWriter, *http.Request) error {
	return errs.Internal()
}
func (f *fakeRunner) Done() <-chan struct{} { return f.done }
func (f *fakeRunner) Close() error          { return nil }

type fixture struct {
	st      *countingStore
	runners map[string]*fakeRunner
}

func newFixture(t *testing.T, ids ...string) *fixture {
	t.Helper()
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	f := &fixture{st: &countingStore{Store: bs, dead: map[string]bool{}}, runners: map[string]*fakeRunner{}}
	for _, id := range ids {
		if err := bs.UpsertRunner(context.Background(), store.Runner{ID: id, Pool: "default", Version: 1, Address: id, Names: []string{"counter"}}); err != nil {
			t.Fatal(err)
		}
		f.runners[id] = &fakeRunner{id: id, st: bs, done: make(chan struct{})}
	}
	return f
}

// router returns a gateway's router over the fixture (one per gateway).
func (f *fixture) router() *Router {
	return New(Config{
		Store: f.st,
		Dial: func(_ context.Context, r store.Runner) (Caller, error) {
			if fr, ok := f.runners[r.ID]; ok {
				return fr, nil
			}
			return nil, errors.New("no such runner")
		},
		Lease:         time.Minute,
		WaitTimeout:   5 * time.Second,
		RunnerRefresh: time.Millisecond,
	})
}

// createA1 creates the fixture's actor a1 (counter, key k) through rt.
func createA1(t *testing.T, rt *Router) store.Actor {
	t.Helper()
	a, _, err := rt.GetOrCreateActor(context.Background(), store.ActorSpec{ID: "a1", Namespace: "default", Name: "counter", Key: []string{"k"}, Pool: "default"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func call(t *testing.T, rt *Router, id string) (string, error) {
	t.Helper()
	out, err := rt.Action(context.Background(), hostapi.ActionRequest{ActorID: id, Name: "increment"})
	return string(out), err
}

func TestCachedPlacementServesWithoutStoreReads(t *testing.T) {
	f := newFixture(t, "r1")
	rt := f.router()
	a, created, err := rt.GetOrCreateActor(context.Background(), store.ActorSpec{ID: "a1", Namespace: "default", Name: "counter", Key: []string{"k"}, Pool: "default"})
	if err != nil || !created {
		t.Fatalf("GetOrCreateActor: %v created=%v", err, created)
	}
	if a.RunnerID != "r1" || a.Generation != 1 {
		t.Fatalf("new actor placed on %q gen %d; want r1, 1 (created placed)", a.RunnerID, a.Generation)
	}
	for i := 0; i < 10; i++ {
		if who, err := call(t, rt, a.ID); err != nil || who != "r1" {
			t.Fatalf("call %d: %q, %v", i, who, err)
		}
	}
	if n := f.st.gets.Load(); n != 0 {
		t.Fatalf("router read the actor row %d times; want 0 (placement known from creation)", n)
	}
}

// Another gateway moves the actor (failover or drain): the runner named by
// the cached placement refuses the old generation and the router follows
// the store to the new placement, then caches it.
func TestStaleCachedPlacementIsCorrected(t *testing.T) {
	f := newFixture(t, "r1", "r2")
	gw1 := f.router()
	ctx := context.Background()
	a, _, err := gw1.GetOrCreateActor(ctx, store.ActorSpec{ID: "a1", Namespace: "default", Name: "counter", Key: []string{"k"}, Pool: "default"})
	if err != nil {
		t.Fatal(err)
	}
	first := a.RunnerID
	other := map[string]string{"r1": "r2", "r2": "r1"}[first]
	if who, err := call(t, gw1, a.ID); err != nil || who != first {
		t.Fatalf("first call: %q, %v", who, err)
	}
	// Another gateway places the actor on the other runner (generation 2).
	if _, err := f.st.Place(ctx, a.ID, other, a.Generation); err != nil {
		t.Fatal(err)
	}
	before := f.st.gets.Load()
	if who, err := call(t, gw1, a.ID); err != nil || who != other {
		t.Fatalf("call after the move: served by %q, %v; want %s", who, err, other)
	}
	// At most one read: the wake hint's runner, asked to place the actor
	// on itself, fails the compare-and-set; if it is the new runner the
	// row lets it serve, otherwise the router reads the row.
	if f.st.gets.Load() > before+1 {
		t.Fatalf("store reads %d; want at most one after the stale answer", f.st.gets.Load()-before)
	}
	if p, ok := gw1.placements.get(a.ID); !ok || p != (placement{runner: other, gen: 2}) {
		t.Fatalf("cached placement %+v %v; want %s gen 2", p, ok, other)
	}
	if f.runners[first].calls.Load() != 1 {
		t.Fatalf("old runner served %d calls; want only the first", f.runners[first].calls.Load())
	}
	// And from then on without store reads.
	before = f.st.gets.Load()
	if who, err := call(t, gw1, a.ID); err != nil || who != other || f.st.gets.Load() != before {
		t.Fatalf("call after correction: %q, %v, %d store reads", who, err, f.st.gets.Load()-before)
	}
}

// A cached placement on a runner past its lease is not used: the actor is
// placed again (new generation), which fences the old runner.
func TestCachedPlacementOnDeadRunnerIsReplaced(t *testing.T) {
	f := newFixture(t, "r1", "r2")
	rt := f.router()
	ctx := context.Background()
	a := createA1(t, rt)
	f.st.kill(a.RunnerID)
	time.Sleep(5 * time.Millisecond) // past RunnerRefresh
	other := map[string]string{"r1": "r2", "r2": "r1"}[a.RunnerID]
	if who, err := call(t, rt, a.ID); err != nil || who != other {
		t.Fatalf("call after the runner died: %q, %v; want %s", who, err, other)
	}
	cur, err := f.st.GetActor(ctx, a.ID)
	if err != nil || cur.RunnerID != other || cur.Generation != 2 {
		t.Fatalf("row after failover: %+v, %v; want %s gen 2", cur, err, other)
	}
	if f.runners[a.RunnerID].calls.Load() != 0 {
		t.Fatal("dead runner was called")
	}
}

// A destroyed actor's cached placement yields ErrGone (nothing ran) and is
// forgotten; the router never resurrects it.
func TestCachedPlacementOfDestroyedActorIsGone(t *testing.T) {
	f := newFixture(t, "r1")
	rt := f.router()
	ctx := context.Background()
	a := createA1(t, rt)
	if _, err := f.st.DestroyActor(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // cached, then from the store
		_, err := call(t, rt, a.ID)
		var pe *errs.Error
		if !errors.Is(err, hostapi.ErrGone) || !errors.As(err, &pe) || pe.Code != "not_found" {
			t.Fatalf("call %d on a destroyed actor: %v; want actor/not_found marked gone", i, err)
		}
		if _, ok := rt.placements.get(a.ID); ok {
			t.Fatalf("call %d: placement of a destroyed actor still cached", i)
		}
	}
	if f.runners["r1"].calls.Load() != 0 {
		t.Fatal("a destroyed actor was served")
	}
}

// Of gateways creating one new key at once, exactly one creates it (placed
// once) and every request is served on that placement.
func TestCreatePlacedStampedeAcrossRouters(t *testing.T) {
	f := newFixture(t, "r1", "r2", "r3")
	routers := []*Router{f.router(), f.router(), f.router()}
	var wg sync.WaitGroup
	ids := make([]string, 30)
	errCh := make(chan error, len(ids))
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rt := routers[i%len(routers)]
			a, _, err := rt.GetOrCreateActor(context.Background(), store.ActorSpec{
				ID: "a" + string(rune('A'+i)), Namespace: "default", Name: "counter", Key: []string{"stampede"}, Pool: "default"})
			if err != nil {
				errCh <- err
				return
			}
			ids[i] = a.ID
			if _, err := call(t, rt, a.ID); err != nil {
				errCh <- err
			}
		}()
	}
	wg.Wait()
	close(errCh)
	for err := range errCh {
		t.Fatal(err)
	}
	cur, err := f.st.GetActor(context.Background(), ids[0])
	if err != nil || cur.Generation != 1 {
		t.Fatalf("row %+v, %v; want generation 1 (placed exactly once)", cur, err)
	}
	served := int64(0)
	for id, r := range f.runners {
		if id != cur.RunnerID && r.calls.Load() != 0 {
			t.Fatalf("runner %s served calls; only %s hosts the actor", id, cur.RunnerID)
		}
		served += r.calls.Load()
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("callers got different actors: %v", ids)
		}
	}
	if served != int64(len(ids)) {
		t.Fatalf("%d calls served; want %d", served, len(ids))
	}
}
