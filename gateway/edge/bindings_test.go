package edge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/boltstore"
)

// fakeHost serves "whoami" with the actor's ID, refusing destroyed actors
// as the runtime does (hostapi.Gone), and "ownNotFound" with an
// actor/not_found of its own (as an actor's code could return).
type fakeHost struct {
	st    store.Store
	calls atomic.Int64
	reads atomic.Int64
}

func (h *fakeHost) Action(ctx context.Context, req hostapi.ActionRequest) ([]byte, error) {
	h.calls.Add(1)
	a, err := h.st.GetActor(ctx, req.ActorID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.Destroyed()) {
		return nil, hostapi.Gone()
	}
	if err != nil {
		return nil, err
	}
	if req.Name == "ownNotFound" {
		return nil, errs.NotFound()
	}
	return cbor.Marshal(a.ID)
}

func (h *fakeHost) Connect(context.Context, hostapi.ConnectRequest, hostapi.Sink) (hostapi.Conn, error) {
	return nil, errs.Internal()
}
func (h *fakeHost) Request(context.Context, hostapi.Target, http.ResponseWriter, *http.Request) error {
	return errs.Internal()
}
func (h *fakeHost) WebSocket(context.Context, hostapi.Target, *http.Request, hostapi.MessageConn) error {
	return errs.Internal()
}
func (h *fakeHost) Destroy(ctx context.Context, t hostapi.Target) error {
	if _, err := h.st.DestroyActor(ctx, t.ActorID); err != nil {
		return errs.FromStore(err)
	}
	return nil
}
func (h *fakeHost) Stop(context.Context, hostapi.Target) error { return nil }
func (h *fakeHost) QueueSend(context.Context, hostapi.QueueSendRequest) (hostapi.QueueSendResponse, error) {
	return hostapi.QueueSendResponse{}, errs.Internal()
}
func (h *fakeHost) Wake(context.Context, hostapi.Target) error { return nil }
func (h *fakeHost) Inspect(context.Context, hostapi.Target, http.ResponseWriter, *http.Request) error {
	return errs.Internal()
}
func (h *fakeHost) HasActor(name string) bool { return name == "counter" }

// readCounter counts actor row reads by key and ID.
type readCounter struct {
	store.Store
	n atomic.Int64
}

func (s *readCounter) GetActor(ctx context.Context, id string) (store.Actor, error) {
	s.n.Add(1)
	return s.Store.GetActor(ctx, id)
}
func (s *readCounter) GetActorByKey(ctx context.Context, ns, name string, key []string) (store.Actor, error) {
	s.n.Add(1)
	return s.Store.GetActorByKey(ctx, ns, name, key)
}
func (s *readCounter) GetOrCreateActor(ctx context.Context, spec store.ActorSpec) (store.Actor, bool, error) {
	s.n.Add(1)
	return s.Store.GetOrCreateActor(ctx, spec)
}

func newBindingServer(t *testing.T) (*client.Client, *fakeHost, *readCounter) {
	t.Helper()
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	host := &fakeHost{st: bs}
	rc := &readCounter{Store: bs}
	srv := httptest.NewServer(New(Config{Directory: rc, Host: host}))
	t.Cleanup(srv.Close)
	cl, err := client.New(client.Config{Endpoint: srv.URL, Encoding: client.EncodingBARE})
	if err != nil {
		t.Fatal(err)
	}
	return cl, host, rc
}

// A key's cached binding is used without store reads while the actor lives.
func TestBindingCacheServesKnownActors(t *testing.T) {
	cl, _, rc := newBindingServer(t)
	ctx := context.Background()
	h := cl.GetOrCreate("counter", []string{"k"})
	id, err := client.Call[string](ctx, h, "whoami")
	if err != nil {
		t.Fatal(err)
	}
	before := rc.n.Load()
	for i := 0; i < 5; i++ {
		for _, hh := range []*client.Handle{h, cl.Get("counter", []string{"k"}), cl.GetForID("counter", id)} {
			got, err := client.Call[string](ctx, hh, "whoami")
			if err != nil || got != id {
				t.Fatalf("call: %q, %v; want %s", got, err, id)
			}
		}
	}
	if n := rc.n.Load() - before; n != 0 {
		t.Fatalf("%d actor reads by the gateway for a cached actor; want 0", n)
	}
}

// Another gateway (here: the store directly) destroys the actor and a new
// one takes its key: the cached binding must never send the key's requests
// to the destroyed actor, and getOrCreate must reach (or create) the new one.
func TestBindingCacheNeverServesDestroyedBinding(t *testing.T) {
	cl, host, rc := newBindingServer(t)
	ctx := context.Background()
	key := []string{"k"}
	old, err := client.Call[string](ctx, cl.GetOrCreate("counter", key), "whoami")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Store.DestroyActor(ctx, old); err != nil {
		t.Fatal(err)
	}

	// get: the key has no live actor now.
	_, err = client.Call[string](ctx, cl.Get("counter", key), "whoami")
	var ae *client.ActorError
	if !errors.As(err, &ae) || ae.Code != "not_found" {
		t.Fatalf("get after destroy: %v; want actor/not_found", err)
	}
	// getOrCreate: a new actor under the same key.
	fresh, err := client.Call[string](ctx, cl.GetOrCreate("counter", key), "whoami")
	if err != nil || fresh == old {
		t.Fatalf("getOrCreate after destroy: %q, %v; want a new actor, not %s", fresh, err, old)
	}
	live, err := rc.Store.GetActorByKey(ctx, "default", "counter", key)
	if err != nil || live.ID != fresh {
		t.Fatalf("store binding %s (%v); the request went to %s", live.ID, err, fresh)
	}
	// The old ID stays gone.
	if _, err := client.Call[string](ctx, cl.GetForID("counter", old), "whoami"); !errors.As(err, &ae) || ae.Code != "not_found" {
		t.Fatalf("old id: %v; want actor/not_found", err)
	}

	// Another actor takes the key after a destroy made elsewhere; a get
	// through the stale binding reaches it.
	if _, err := rc.Store.DestroyActor(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	third, _, err := rc.Store.GetOrCreateActor(ctx, store.ActorSpec{ID: "third", Namespace: "default", Name: "counter", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.Call[string](ctx, cl.Get("counter", key), "whoami")
	if err != nil || got != third.ID {
		t.Fatalf("get through a stale binding: %q, %v; want %s", got, err, third.ID)
	}

	// An actor's own actor/not_found is not a gone actor: not sent again.
	calls := host.calls.Load()
	if _, err := client.Call[string](ctx, cl.Get("counter", key), "ownNotFound"); !errors.As(err, &ae) || ae.Code != "not_found" {
		t.Fatalf("ownNotFound: %v", err)
	}
	if n := host.calls.Load() - calls; n != 1 {
		t.Fatalf("an action answering not_found was sent %d times; want 1", n)
	}
}

// Destroying through this gateway drops the binding at once.
func TestBindingCacheDroppedOnDestroy(t *testing.T) {
	cl, host, _ := newBindingServer(t)
	ctx := context.Background()
	key := []string{"k"}
	old, err := client.Call[string](ctx, cl.GetOrCreate("counter", key), "whoami")
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Destroy(ctx, old); err != nil {
		t.Fatal(err)
	}
	calls := host.calls.Load()
	fresh, err := client.Call[string](ctx, cl.GetOrCreate("counter", key), "whoami")
	if err != nil || fresh == old {
		t.Fatalf("getOrCreate after destroy: %q, %v", fresh, err)
	}
	if n := host.calls.Load() - calls; n != 1 {
		t.Fatalf("%d host calls; want 1 (the binding was dropped by the destroy)", n)
	}
}

// The cache keeps no inputs, replaces a key's old actor, and stays bounded.
func TestBindingCacheEntries(t *testing.T) {
	c := newBindingCache(3)
	a := store.Actor{ID: "a", Namespace: "ns", Name: "n", Key: []string{"k"}, Input: make([]byte, 1<<20)}
	c.put(a)
	got, ok := c.byIDGet("a")
	if !ok || got.Input != nil {
		t.Fatalf("cached %v with %d input bytes; want it without input", ok, len(got.Input))
	}
	c.put(store.Actor{ID: "b", Namespace: "ns", Name: "n", Key: []string{"k"}}) // the key's new actor
	if _, ok := c.byIDGet("a"); ok {
		t.Fatal("the key's old actor is still cached by ID")
	}
	if got, ok := c.byKeyGet(bindingKey("ns", "n", []string{"k"})); !ok || got.ID != "b" {
		t.Fatalf("key binds %q (%v); want b", got.ID, ok)
	}
	for i := 0; i < 10; i++ {
		c.put(store.Actor{ID: fmt.Sprint("x", i), Namespace: "ns", Name: "n", Key: []string{fmt.Sprint(i)}})
	}
	if len(c.byID) > 3 || len(c.byKey) > 3 {
		t.Fatalf("cache holds %d IDs and %d keys; bound is 3", len(c.byID), len(c.byKey))
	}
	// Distinct namespaces and names never share an entry.
	if bindingKey("a", "bc", nil) == bindingKey("ab", "c", nil) {
		t.Fatal("ambiguous binding keys")
	}
}
