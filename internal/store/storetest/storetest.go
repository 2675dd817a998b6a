package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
)

// Run runs the conformance suite against the stores newStore returns. It
// calls newStore once per subtest; see the package doc for what it may share.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateAndGet", testCreateAndGet},
		{"CreateExists", testCreateExists},
		{"CreateInvalid", testCreateInvalid},
		{"Keys", testKeys},
		{"GetOrCreate", testGetOrCreate},
		{"GetOrCreateConcurrent", testGetOrCreateConcurrent},
		{"List", testList},
		{"ListFilters", testListFilters},
		{"ListDefaultLimit", testListDefaultLimit},
		{"ListErrors", testListErrors},
		{"Destroy", testDestroy},
		{"Activate", testActivate},
		{"ActivateConcurrent", testActivateConcurrent},
		{"Deactivate", testDeactivate},
		{"LoadState", testLoadState},
		{"CommitPerWriteErrors", testCommitPerWriteErrors},
		{"CommitAtomicWrite", testCommitAtomicWrite},
		{"CommitOrderWithinBatch", testCommitOrderWithinBatch},
		{"CommitConcurrent", testCommitConcurrent},
		{"Initialized", testInitialized},
		{"KVGet", testKVGet},
		{"KVListPrefix", testKVListPrefix},
		{"KVListRange", testKVListRange},
		{"KVBinaryKeys", testKVBinaryKeys},
		{"KVDeleteAll", testKVDeleteAll},
		{"KVLargeValues", testKVLargeValues},
		{"KVLimits", testKVLimits},
		{"ContextCanceled", testContextCanceled},
		{"Closed", testClosed},
	}
	tests = append(tests, registryTests...)
	tests = append(tests, queueTests...)
	tests = append(tests, activationTests...)
	tests = append(tests, pageTests...)
	tests = append(tests, moveTests...)
	tests = append(tests, listAllTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// ---- helpers ----

func newID(t *testing.T) string {
	t.Helper()
	return "act-" + rand.Text()
}

// newNS returns a namespace of the calling test's own.
func newNS() string { return "ns-" + rand.Text()[:12] }

func spec(t *testing.T, ns, name string, key ...string) store.ActorSpec {
	return store.ActorSpec{ID: newID(t), Namespace: ns, Name: name, Key: key}
}

func mustCreate(t *testing.T, s store.Store, sp store.ActorSpec) store.Actor {
	t.Helper()
	a, err := s.CreateActor(context.Background(), sp)
	if err != nil {
		t.Fatalf("CreateActor(%q %v): %v", sp.Name, sp.Key, err)
	}
	return a
}

func mustActivate(t *testing.T, s store.Store, id string) store.Actor {
	t.Helper()
	a, err := s.Activate(context.Background(), id, "runner-1", 0)
	if err != nil {
		t.Fatalf("Activate(%s): %v", id, err)
	}
	return a
}

func mustCommit(t *testing.T, s store.Store, ws ...store.Write) {
	t.Helper()
	errs, err := s.Commit(context.Background(), ws)
	if err != nil {
		t.Fatalf("Commit: batch error: %v", err)
	}
	if len(errs) != len(ws) {
		t.Fatalf("Commit: got %d results for %d writes", len(errs), len(ws))
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("Commit: write %d: %v", i, e)
		}
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one matching %v", what, err, target)
	}
}

func keyEqual(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b))
}

func timeEqual(a, b time.Time) bool { return a.Equal(b) }

func sameActor(t *testing.T, what string, want, got store.Actor) {
	t.Helper()
	var diffs []string
	add := func(field string, w, g any) { diffs = append(diffs, fmt.Sprintf("%s: want %v, got %v", field, w, g)) }
	if want.ID != got.ID {
		add("ID", want.ID, got.ID)
	}
	if want.Namespace != got.Namespace {
		add("Namespace", want.Namespace, got.Namespace)
	}
	if want.Name != got.Name {
		add("Name", want.Name, got.Name)
	}
	if !keyEqual(want.Key, got.Key) {
		add("Key", fmt.Sprintf("%q", want.Key), fmt.Sprintf("%q", got.Key))
	}
	if want.Pool != got.Pool {
		add("Pool", want.Pool, got.Pool)
	}
	if want.CrashPolicy != got.CrashPolicy {
		add("CrashPolicy", want.CrashPolicy, got.CrashPolicy)
	}
	if !bytes.Equal(want.Input, got.Input) || (want.Input == nil) != (got.Input == nil) {
		add("Input", want.Input, got.Input)
	}
	if want.Generation != got.Generation {
		add("Generation", want.Generation, got.Generation)
	}
	if want.RunnerID != got.RunnerID {
		add("RunnerID", want.RunnerID, got.RunnerID)
	}
	if want.Initialized != got.Initialized {
		add("Initialized", want.Initialized, got.Initialized)
	}
	for _, f := range []struct {
		n    string
		w, g time.Time
	}{
		{"CreatedAt", want.CreatedAt, got.CreatedAt},
		{"StartedAt", want.StartedAt, got.StartedAt},
		{"SleepAt", want.SleepAt, got.SleepAt},
		{"DestroyedAt", want.DestroyedAt, got.DestroyedAt},
	} {
		if !timeEqual(f.w, f.g) {
			add(f.n, f.w, f.g)
		}
	}
	if len(diffs) > 0 {
		t.Fatalf("%s: actor differs:\n  %s", what, joinLines(diffs))
	}
}

func joinLines(s []string) string {
	var b bytes.Buffer
	for i, l := range s {
		if i > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString(l)
	}
	return b.String()
}

// recent reports whether ts is a plausible "now" of the store's clock.
func recent(ts time.Time) bool {
	d := time.Since(ts)
	return d > -time.Minute && d < time.Minute
}

func ids(as []store.Actor) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

// ---- directory ----

func testCreateAndGet(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
	sp := store.ActorSpec{
		ID: newID(t), Namespace: ns, Name: "counter", Key: []string{"tenant", "room 1"},
		Pool: "default", CrashPolicy: "restart", Input: []byte{0xa1, 0x61, 0x78, 0x01},
	}
	a, err := s.CreateActor(ctx, sp)
	if err != nil {
		t.Fatalf("CreateActor: %v", err)
	}
	want := store.Actor{
		ID: sp.ID, Namespace: ns, Name: "counter", Key: sp.Key, Pool: "default",
		CrashPolicy: "restart", Input: sp.Input, CreatedAt: a.CreatedAt,
	}
	sameActor(t, "created row", want, a)
	if !recent(a.CreatedAt) {
		t.Fatalf("CreatedAt %v is not near now", a.CreatedAt)
	}
	if a.Destroyed() {
		t.Fatal("new actor reports Destroyed")
	}

	got, err := s.GetActor(ctx, sp.ID)
	if err != nil {
		t.Fatalf("GetActor: %v", err)
	}
	sameActor(t, "GetActor", a, got)
	got, err = s.GetActorByKey(ctx, ns, "counter", []string{"tenant", "room 1"})
	if err != nil {
		t.Fatalf("GetActorByKey: %v", err)
	}
	sameActor(t, "GetActorByKey", a, got)

	// nil input stays nil.
	b := mustCreate(t, s, spec(t, ns, "counter", "other"))
	if b.Input != nil {
		t.Fatalf("Input of actor created without input = %v, want nil", b.Input)
	}
	if got, _ := s.GetActor(ctx, b.ID); got.Input != nil {
		t.Fatalf("stored Input of actor created without input = %v, want nil", got.Input)
	}

	_, err = s.GetActor(ctx, "no-such-actor")
	wantErr(t, "GetActor(missing)", err, store.ErrNotFound)
	_, err = s.GetActorByKey(ctx, ns, "counter", []string{"tenant"})
	wantErr(t, "GetActorByKey(key prefix)", err, store.ErrNotFound)
	_, err = s.GetActorByKey(ctx, ns, "Counter", sp.Key)
	wantErr(t, "GetActorByKey(other name)", err, store.ErrNotFound)
	_, err = s.GetActorByKey(ctx, newNS(), "counter", sp.Key)
	wantErr(t, "GetActorByKey(other namespace)", err, store.ErrNotFound)
}

func testCreateExists(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
	a := mustCreate(t, s, spec(t, ns, "chat", "room"))

	_, err := s.CreateActor(ctx, spec(t, ns, "chat", "room"))
	wantErr(t, "CreateActor(same ns,name,key)", err, store.ErrExists)

	// Same ID under another key is taken too.
	dup := spec(t, ns, "chat", "another")
	dup.ID = a.ID
	_, err = s.CreateActor(ctx, dup)
	wantErr(t, "CreateActor(same id)", err, store.ErrExists)

	// The failed creations left nothing behind.
	_, err = s.GetActorByKey(ctx, ns, "chat", []string{"another"})
	wantErr(t, "GetActorByKey after failed create", err, store.ErrNotFound)
	got, err := s.GetActor(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameActor(t, "original after duplicate creates", a, got)

	// The same key under another name or namespace is a different actor.
	b := mustCreate(t, s, spec(t, ns, "chat2", "room"))
	c := mustCreate(t, s, spec(t, newNS(), "chat", "room"))
	if b.ID == a.ID || c.ID == a.ID {
		t.Fatal("distinct actors share an ID")
	}
}

func testCreateInvalid(t *testing.T, s store.Store) {
	ctx := context.Background()
	sp := spec(t, newNS(), "x")
	sp.ID = ""
	if _, err := s.CreateActor(ctx, sp); err == nil {
		t.Fatal("CreateActor with empty ID succeeded")
	}
	sp = spec(t, newNS(), "")
	if _, err := s.CreateActor(ctx, sp); err == nil {
		t.Fatal("CreateActor with empty name succeeded")
	}
}

func testKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
	keys := [][]string{
		nil,
		{""},
		{"", ""},
		{"a", "b"},
		{"a/b"},
		{"a,b"},
		{"a", "b", ""},
		{"a", "b/c", "d,e"},
		{"a/", "b"},
		{"a", "/b"},
		{"ключ", "🔑", "with space"},
		{"nul\x00byte"},
		{"nul", "byte"},
		{"[\"a\",\"b\"]"},
	}
	byID := map[string][]string{}
	for _, k := range keys {
		a := mustCreate(t, s, spec(t, ns, "k", k...))
		if !keyEqual(a.Key, k) {
			t.Fatalf("created key %q, got %q", k, a.Key)
		}
		byID[a.ID] = k
	}
	for id, k := range byID {
		got, err := s.GetActorByKey(ctx, ns, "k", k)
		if err != nil {
			t.Fatalf("GetActorByKey(%q): %v", k, err)
		}
		if got.ID != id || !keyEqual(got.Key, k) {
			t.Fatalf("GetActorByKey(%q) = %s %q, want %s", k, got.ID, got.Key, id)
		}
		got, err = s.GetActor(ctx, id)
		if err != nil || !keyEqual(got.Key, k) {
			t.Fatalf("GetActor(%s).Key = %q (%v), want %q", id, got.Key, err, k)
		}
	}
	// nil and empty keys are the same key.
	a, err := s.GetActorByKey(ctx, ns, "k", []string{})
	if err != nil {
		t.Fatalf("GetActorByKey([]): %v", err)
	}
	if !keyEqual(byID[a.ID], nil) {
		t.Fatalf("GetActorByKey([]) found key %q", byID[a.ID])
	}
	_, err = s.CreateActor(ctx, spec(t, ns, "k", []string{}...))
	wantErr(t, "CreateActor([]) after CreateActor(nil)", err, store.ErrExists)
	_, err = s.GetActorByKey(ctx, ns, "k", []string{"a"})
	wantErr(t, "GetActorByKey([a])", err, store.ErrNotFound)
	_, err = s.GetActorByKey(ctx, ns, "k", []string{"ab"})
	wantErr(t, "GetActorByKey([ab])", err, store.ErrNotFound)
}

func testGetOrCreate(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
	sp := spec(t, ns, "g", "k")
	a, created, err := s.GetOrCreateActor(ctx, sp)
	if err != nil || !created {
		t.Fatalf("first GetOrCreateActor: created=%v err=%v", created, err)
	}
	if a.ID != sp.ID {
		t.Fatalf("created actor has ID %s, want %s", a.ID, sp.ID)
	}
	sp2 := spec(t, ns, "g", "k")
	b, created, err := s.GetOrCreateActor(ctx, sp2)
	if err != nil || created {
		t.Fatalf("second GetOrCreateActor: created=%v err=%v", created, err)
	}
	sameActor(t, "GetOrCreateActor existing", a, b)
	if _, err := s.GetActor(ctx, sp2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("losing spec ID was stored (err=%v)", err)
	}

	// After destroy, GetOrCreate creates a new actor under the same key.
	if _, err := s.DestroyActor(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	sp3 := spec(t, ns, "g", "k")
	c, created, err := s.GetOrCreateActor(ctx, sp3)
	if err != nil || !created || c.ID != sp3.ID {
		t.Fatalf("GetOrCreateActor after destroy: id=%s created=%v err=%v", c.ID, created, err)
	}
}

func testGetOrCreateConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
	const n = 32
	type res struct {
		specID  string
		a       store.Actor
		created bool
		err     error
	}
	results := make([]res, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sp := spec(t, ns, "race", "one", "key/with,chars")
			<-start
			a, created, err := s.GetOrCreateActor(ctx, sp)
			results[i] = res{sp.ID, a, created, err}
		}()
	}
	close(start)
	wg.Wait()
	var winner string
	createdCount := 0
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("goroutine %d: %v", i, r.err)
		}
		if r.created {
			createdCount++
			winner = r.specID
			if r.a.ID != r.specID {
				t.Fatalf("creator got actor %s, its spec ID was %s", r.a.ID, r.specID)
			}
		}
	}
	if createdCount != 1 {
		t.Fatalf("%d callers report created=true, want exactly 1", createdCount)
	}
	for i, r := range results {
		if r.a.ID != winner {
			t.Fatalf("goroutine %d got actor %s, want %s", i, r.a.ID, winner)
		}
	}
	all, _, err := s.ListActors(ctx, store.ListOptions{Namespace: ns, Name: "race", IncludeDestroyed: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("store holds %d actors after the race, want 1", len(all))
	}
}

// listAll pages through ListActors with the given page size.
func listAll(t *testing.T, s store.Store, opts store.ListOptions) (out []store.Actor, pages int) {
	t.Helper()
	for {
		page, next, err := s.ListActors(context.Background(), opts)
		if err != nil {
			t.Fatalf("ListActors(%+v): %v", opts, err)
		}
		pages++
		if opts.Limit > 0 && len(page) > opts.Limit {
			t.Fatalf("page of %d actors exceeds limit %d", len(page), opts.Limit)
		}
		out = append(out, page...)
		if next == "" {
			return out, pages
		}
		if len(page) == 0 {
			t.Fatalf("empty page with a next cursor")
		}
		if pages > 1000 {
			t.Fatal("ListActors does not terminate")
		}
		opts.Cursor = next
	}
}

func checkOrder(t *testing.T, as []store.Actor) {
	t.Helper()
	for i := 1; i < len(as); i++ {
		p, c := as[i-1], as[i]
		if c.CreatedAt.Before(p.CreatedAt) || (c.CreatedAt.Equal(p.CreatedAt) && c.ID <= p.ID) {
			t.Fatalf("list not ordered by (CreatedAt, ID) at %d: %v/%s then %v/%s", i, p.CreatedAt, p.ID, c.CreatedAt, c.ID)
		}
	}
}

func testList(t *testing.T, s store.Store) {
	ns := newNS()
	var want []string
	for i := range 7 {
		a := mustCreate(t, s, spec(t, ns, "x", fmt.Sprint(i)))
		want = append(want, a.ID)
	}
	mustCreate(t, s, spec(t, ns, "y", "0"))
	mustCreate(t, s, spec(t, ns, "xx", "0"))
	mustCreate(t, s, spec(t, newNS(), "x", "0"))

	got, pages := listAll(t, s, store.ListOptions{Namespace: ns, Name: "x", Limit: 3})
	checkOrder(t, got)
	if pages != 3 {
		t.Fatalf("7 actors with limit 3 took %d pages, want 3", pages)
	}
	gotIDs := ids(got)
	if !slices.Equal(slices.Sorted(slices.Values(gotIDs)), slices.Sorted(slices.Values(want))) {
		t.Fatalf("listed %v, want %v", gotIDs, want)
	}
	// Creation order is preserved unless timestamps tie.
	for i := 1; i < len(got); i++ {
		if got[i].CreatedAt.Before(got[i-1].CreatedAt) {
			t.Fatal("CreatedAt decreases")
		}
	}

	// Exact page boundary: 7 actors, limit 7 → one page, empty next.
	page, next, err := s.ListActors(context.Background(), store.ListOptions{Namespace: ns, Name: "x", Limit: 7})
	if err != nil || len(page) != 7 {
		t.Fatalf("limit 7: %d actors, err %v", len(page), err)
	}
	if next != "" {
		// A store may return a cursor to an empty last page; it must be empty.
		rest, next2, err := s.ListActors(context.Background(), store.ListOptions{Namespace: ns, Name: "x", Limit: 7, Cursor: next})
		if err != nil || len(rest) != 0 || next2 != "" {
			t.Fatalf("page after full list: %d actors, next %q, err %v", len(rest), next2, err)
		}
	}
	sameActor(t, "listed row", mustGet(t, s, page[0].ID), page[0])

	// Unknown name lists nothing.
	page, next, err = s.ListActors(context.Background(), store.ListOptions{Namespace: ns, Name: "nope"})
	if err != nil || len(page) != 0 || next != "" {
		t.Fatalf("list of unknown name: %d actors, next %q, err %v", len(page), next, err)
	}
}

func mustGet(t *testing.T, s store.Store, id string) store.Actor {
	t.Helper()
	a, err := s.GetActor(context.Background(), id)
	if err != nil {
		t.Fatalf("GetActor(%s): %v", id, err)
	}
	return a
}

func testListFilters(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
	a := mustCreate(t, s, spec(t, ns, "f", "k"))
	b := mustCreate(t, s, spec(t, ns, "f", "k", "sub"))
	c := mustCreate(t, s, spec(t, ns, "f"))
	d := mustCreate(t, s, spec(t, ns, "f", "gone"))
	if _, err := s.DestroyActor(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DestroyActor(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	a2 := mustCreate(t, s, spec(t, ns, "f", "k"))

	cases := []struct {
		name string
		opts store.ListOptions
		want []string
	}{
		{"live", store.ListOptions{}, []string{b.ID, c.ID, a2.ID}},
		{"all", store.ListOptions{IncludeDestroyed: true}, []string{a.ID, b.ID, c.ID, d.ID, a2.ID}},
		{"key live", store.ListOptions{HasKey: true, Key: []string{"k"}}, []string{a2.ID}},
		{"key all", store.ListOptions{HasKey: true, Key: []string{"k"}, IncludeDestroyed: true}, []string{a.ID, a2.ID}},
		{"empty key", store.ListOptions{HasKey: true}, []string{c.ID}},
		{"key ignored without HasKey", store.ListOptions{Key: []string{"k"}}, []string{b.ID, c.ID, a2.ID}},
		{"destroyed key live", store.ListOptions{HasKey: true, Key: []string{"gone"}}, nil},
		{"destroyed key all", store.ListOptions{HasKey: true, Key: []string{"gone"}, IncludeDestroyed: true}, []string{d.ID}},
		{"key all paged", store.ListOptions{HasKey: true, Key: []string{"k"}, IncludeDestroyed: true, Limit: 1}, []string{a.ID, a2.ID}},
		{"all paged", store.ListOptions{IncludeDestroyed: true, Limit: 2}, []string{a.ID, b.ID, c.ID, d.ID, a2.ID}},
	}
	for _, tc := range cases {
		opts := tc.opts
		opts.Namespace, opts.Name = ns, "f"
		got, _ := listAll(t, s, opts)
		checkOrder(t, got)
		gotIDs := ids(got)
		if !slices.Equal(slices.Sorted(slices.Values(gotIDs)), slices.Sorted(slices.Values(tc.want))) {
			t.Fatalf("%s: listed %v, want %v", tc.name, gotIDs, tc.want)
		}
		for _, x := range got {
			if x.Destroyed() != (x.ID == a.ID || x.ID == d.ID) {
				t.Fatalf("%s: actor %s Destroyed()=%v", tc.name, x.ID, x.Destroyed())
			}
		}
	}
}

func testListDefaultLimit(t *testing.T, s store.Store) {
	ns := newNS()
	for i := range 101 {
		mustCreate(t, s, spec(t, ns, "many", fmt.Sprint(i)))
	}
	page, next, err := s.ListActors(context.Background(), store.ListOptions{Namespace: ns, Name: "many"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 100 || next == "" {
		t.Fatalf("default limit: %d actors, next %q; want 100 and a cursor", len(page), next)
	}
	rest, next, err := s.ListActors(context.Background(), store.ListOptions{Namespace: ns, Name: "many", Cursor: next, Limit: -5})
	if err != nil || len(rest) != 1 || next != "" {
		t.Fatalf("second page: %d actors, next %q, err %v", len(rest), next, err)
	}
	if slices.Contains(ids(page), rest[0].ID) {
		t.Fatal("second page repeats an actor of the first")
	}
	all, _, err := s.ListActors(context.Background(), store.ListOptions{Namespace: ns, Name: "many", Limit: 5000})
	if err != nil || len(all) != 101 {
		t.Fatalf("limit 5000 (capped at 1000): %d actors, err %v", len(all), err)
	}
}

func testListErrors(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, _, err := s.ListActors(ctx, store.ListOptions{Namespace: newNS(), Name: "x", Cursor: "%%not a cursor%%"})
	if err == nil {
		t.Fatal("ListActors with a garbage cursor succeeded")
	}
}

func testDestroy(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
	a := mustCreate(t, s, spec(t, ns, "d", "k", "x"))
	a = mustActivate(t, s, a.ID)
	mustCommit(t, s, store.Write{
		ActorID: a.ID, Generation: a.Generation, State: []byte("state"), Initialized: true,
		Puts: []store.KV{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte("2")}},
	})

	d, err := s.DestroyActor(ctx, a.ID)
	if err != nil {
		t.Fatalf("DestroyActor: %v", err)
	}
	if !d.Destroyed() || !recent(d.DestroyedAt) {
		t.Fatalf("destroyed row has DestroyedAt %v", d.DestroyedAt)
	}
	if d.Generation != a.Generation+1 {
		t.Fatalf("destroy left generation %d, want %d", d.Generation, a.Generation+1)
	}
	if d.RunnerID != "" {
		t.Fatalf("destroyed actor still placed on %q", d.RunnerID)
	}
	got := mustGet(t, s, a.ID)
	sameActor(t, "GetActor(destroyed)", d, got)
	_, err = s.GetActorByKey(ctx, ns, "d", []string{"k", "x"})
	wantErr(t, "GetActorByKey(destroyed)", err, store.ErrNotFound)

	// State and KV are gone.
	vals, err := s.KVGet(ctx, a.ID, [][]byte{[]byte("a"), []byte("b")})
	if err != nil {
		t.Fatalf("KVGet(destroyed): %v", err)
	}
	if len(vals) != 2 || vals[0] != nil || vals[1] != nil {
		t.Fatalf("KV of destroyed actor = %q, want [nil nil]", vals)
	}
	kvs, err := s.KVList(ctx, a.ID, store.KVRange{})
	if err != nil || len(kvs) != 0 {
		t.Fatalf("KVList(destroyed) = %d pairs, err %v", len(kvs), err)
	}
	_, err = s.LoadState(ctx, a.ID, d.Generation)
	wantErr(t, "LoadState(destroyed, new gen)", err, store.ErrFenced)

	// The old generation is fenced everywhere.
	_, err = s.LoadState(ctx, a.ID, a.Generation)
	wantErr(t, "LoadState(destroyed, old gen)", err, store.ErrFenced)
	errs, err := s.Commit(ctx, []store.Write{{ActorID: a.ID, Generation: a.Generation, State: []byte("zombie"), Puts: []store.KV{{Key: []byte("z"), Value: []byte("z")}}}})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Commit(destroyed, old gen)", errs[0], store.ErrFenced)
	wantErr(t, "Commit(destroyed, old gen)", errs[0], store.ErrDestroyed)
	errs, err = s.Commit(ctx, []store.Write{{ActorID: a.ID, Generation: d.Generation, State: []byte("zombie")}})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Commit(destroyed, current gen)", errs[0], store.ErrFenced)
	if kvs, _ := s.KVList(ctx, a.ID, store.KVRange{}); len(kvs) != 0 {
		t.Fatalf("fenced commit wrote KV to a destroyed actor: %q", kvs)
	}
	err = s.Deactivate(ctx, a.ID, a.Generation)
	wantErr(t, "Deactivate(destroyed)", err, store.ErrFenced)
	_, err = s.Activate(ctx, a.ID, "r", 0)
	wantErr(t, "Activate(destroyed)", err, store.ErrDestroyed)
	_, err = s.Activate(ctx, a.ID, "r", d.Generation)
	wantErr(t, "Activate(destroyed, current gen)", err, store.ErrDestroyed)
	if got := mustGet(t, s, a.ID); got.Generation != d.Generation {
		t.Fatalf("failed activations changed the generation to %d", got.Generation)
	}

	// Destroying again reports ErrDestroyed with the row.
	again, err := s.DestroyActor(ctx, a.ID)
	wantErr(t, "DestroyActor twice", err, store.ErrDestroyed)
	if again.ID != a.ID || !again.Destroyed() || again.Generation != d.Generation {
		t.Fatalf("second destroy returned %+v", again)
	}
	_, err = s.DestroyActor(ctx, "no-such-actor")
	wantErr(t, "DestroyActor(missing)", err, store.ErrNotFound)

	// The key is free: a new actor with a new ID and empty data takes it.
	b := mustCreate(t, s, spec(t, ns, "d", "k", "x"))
	if b.ID == a.ID || b.Generation != 0 || b.Initialized {
		t.Fatalf("re-created actor: %+v", b)
	}
	got, err = s.GetActorByKey(ctx, ns, "d", []string{"k", "x"})
	if err != nil || got.ID != b.ID {
		t.Fatalf("GetActorByKey after re-create = %s (%v), want %s", got.ID, err, b.ID)
	}
	b = mustActivate(t, s, b.ID)
	st, err := s.LoadState(ctx, b.ID, b.Generation)
	if err != nil || st != nil {
		t.Fatalf("re-created actor state = %q (%v), want nil", st, err)
	}
	if kvs, _ := s.KVList(ctx, b.ID, store.KVRange{}); len(kvs) != 0 {
		t.Fatalf("re-created actor inherited KV %q", kvs)
	}
	// The old ID still refers to the destroyed actor.
	if got := mustGet(t, s, a.ID); !got.Destroyed() {
		t.Fatal("old actor no longer destroyed")
	}
}

func testActivate(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, spec(t, newNS(), "act"))
	if a.Generation != 0 || a.RunnerID != "" || !a.StartedAt.IsZero() {
		t.Fatalf("fresh actor: gen %d runner %q started %v", a.Generation, a.RunnerID, a.StartedAt)
	}
	a1, err := s.Activate(ctx, a.ID, "r1", 0)
	if err != nil {
		t.Fatalf("Activate: %v", err)
	}
	if a1.Generation != 1 || a1.RunnerID != "r1" || !recent(a1.StartedAt) || !a1.SleepAt.IsZero() {
		t.Fatalf("after Activate: gen %d runner %q started %v sleep %v", a1.Generation, a1.RunnerID, a1.StartedAt, a1.SleepAt)
	}
	sameActor(t, "GetActor after Activate", a1, mustGet(t, s, a.ID))

	a2, err := s.Activate(ctx, a.ID, "r2", 1)
	if err != nil {
		t.Fatalf("Activate(expect 1): %v", err)
	}
	if a2.Generation != 2 || a2.RunnerID != "r2" {
		t.Fatalf("after second Activate: gen %d runner %q", a2.Generation, a2.RunnerID)
	}
	_, err = s.Activate(ctx, a.ID, "r3", 1)
	wantErr(t, "Activate(stale expectGen)", err, store.ErrFenced)
	_, err = s.Activate(ctx, a.ID, "r3", 7)
	wantErr(t, "Activate(future expectGen)", err, store.ErrFenced)
	sameActor(t, "after fenced Activate", a2, mustGet(t, s, a.ID))

	// expectGen 0 activates unconditionally.
	a3, err := s.Activate(ctx, a.ID, "r3", 0)
	if err != nil || a3.Generation != 3 {
		t.Fatalf("Activate(0): gen %d err %v", a3.Generation, err)
	}
	// The previous generation's writes are fenced now.
	errs, err := s.Commit(ctx, []store.Write{{ActorID: a.ID, Generation: 2, State: []byte("stale")}})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Commit(previous gen)", errs[0], store.ErrFenced)

	_, err = s.Activate(ctx, "no-such-actor", "r", 0)
	wantErr(t, "Activate(missing)", err, store.ErrNotFound)
}

func testActivateConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "ac")).ID)
	const n = 16
	errs := make([]error, n)
	gens := make([]uint64, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got, err := s.Activate(ctx, a.ID, fmt.Sprintf("r%d", i), a.Generation)
			errs[i], gens[i] = err, got.Generation
		}()
	}
	close(start)
	wg.Wait()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
			if gens[i] != a.Generation+1 {
				t.Fatalf("winner got generation %d, want %d", gens[i], a.Generation+1)
			}
		case !errors.Is(err, store.ErrFenced):
			t.Fatalf("loser %d: %v, want ErrFenced", i, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d concurrent Activates with the same expectGen won, want 1", winners)
	}
	if g := mustGet(t, s, a.ID).Generation; g != a.Generation+1 {
		t.Fatalf("generation %d after the race, want %d", g, a.Generation+1)
	}
}

func testDeactivate(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, spec(t, newNS(), "de"))
	a1 := mustActivate(t, s, a.ID)
	a2 := mustActivate(t, s, a.ID)

	err := s.Deactivate(ctx, a.ID, a1.Generation)
	wantErr(t, "Deactivate(stale gen)", err, store.ErrFenced)
	sameActor(t, "after fenced Deactivate", a2, mustGet(t, s, a.ID))

	if err := s.Deactivate(ctx, a.ID, a2.Generation); err != nil {
		t.Fatalf("Deactivate: %v", err)
	}
	got := mustGet(t, s, a.ID)
	if got.RunnerID != "" || !recent(got.SleepAt) || got.Generation != a2.Generation {
		t.Fatalf("after Deactivate: runner %q sleep %v gen %d", got.RunnerID, got.SleepAt, got.Generation)
	}
	if !got.StartedAt.Equal(a2.StartedAt) {
		t.Fatalf("Deactivate changed StartedAt")
	}
	// The instance's generation stays current until the next activation.
	if _, err := s.LoadState(ctx, a.ID, a2.Generation); err != nil {
		t.Fatalf("LoadState after Deactivate: %v", err)
	}
	a3 := mustActivate(t, s, a.ID)
	if a3.Generation != a2.Generation+1 || !a3.SleepAt.IsZero() || a3.RunnerID != "runner-1" {
		t.Fatalf("re-activation: gen %d sleep %v runner %q", a3.Generation, a3.SleepAt, a3.RunnerID)
	}
	err = s.Deactivate(ctx, "no-such-actor", 1)
	if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrFenced) {
		t.Fatalf("Deactivate(missing): %v", err)
	}
}

func testLoadState(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "ls")).ID)
	st, err := s.LoadState(ctx, a.ID, a.Generation)
	if err != nil || st != nil {
		t.Fatalf("LoadState before any commit = %q, %v; want nil, nil", st, err)
	}
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, State: []byte("v1")})
	st, err = s.LoadState(ctx, a.ID, a.Generation)
	if err != nil || string(st) != "v1" {
		t.Fatalf("LoadState = %q, %v; want v1", st, err)
	}
	// nil State leaves the state unchanged; an empty one replaces it.
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, Puts: []store.KV{{Key: []byte("k"), Value: []byte("v")}}})
	if st, _ := s.LoadState(ctx, a.ID, a.Generation); string(st) != "v1" {
		t.Fatalf("nil State changed the state to %q", st)
	}
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, State: []byte{}})
	if st, err := s.LoadState(ctx, a.ID, a.Generation); err != nil || len(st) != 0 {
		t.Fatalf("state after committing empty state = %q, %v", st, err)
	}

	_, err = s.LoadState(ctx, a.ID, a.Generation+1)
	wantErr(t, "LoadState(future gen)", err, store.ErrFenced)
	b := mustActivate(t, s, a.ID)
	_, err = s.LoadState(ctx, a.ID, a.Generation)
	wantErr(t, "LoadState(stale gen)", err, store.ErrFenced)
	if _, err := s.LoadState(ctx, a.ID, b.Generation); err != nil {
		t.Fatalf("LoadState(current gen): %v", err)
	}
	_, err = s.LoadState(ctx, "no-such-actor", 1)
	wantErr(t, "LoadState(missing)", err, store.ErrNotFound)
}

func testCommitPerWriteErrors(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
	good := mustActivate(t, s, mustCreate(t, s, spec(t, ns, "c", "good")).ID)
	stale := mustActivate(t, s, mustCreate(t, s, spec(t, ns, "c", "stale")).ID)
	staleGen := stale.Generation
	stale = mustActivate(t, s, stale.ID) // now staleGen is fenced
	mustCommit(t, s, store.Write{ActorID: stale.ID, Generation: stale.Generation, State: []byte("keep"),
		Puts: []store.KV{{Key: []byte("k"), Value: []byte("keep")}}})
	dead := mustActivate(t, s, mustCreate(t, s, spec(t, ns, "c", "dead")).ID)
	if _, err := s.DestroyActor(ctx, dead.ID); err != nil {
		t.Fatal(err)
	}

	writes := []store.Write{
		{ActorID: good.ID, Generation: good.Generation, State: []byte("s1"), Puts: []store.KV{{Key: []byte("a"), Value: []byte("1")}}},
		{ActorID: stale.ID, Generation: staleGen, State: []byte("lost"), Puts: []store.KV{{Key: []byte("k"), Value: []byte("lost")}}, Deletes: [][]byte{[]byte("k")}},
		{ActorID: "no-such-actor", Generation: 1, State: []byte("x")},
		{ActorID: dead.ID, Generation: dead.Generation, State: []byte("x")},
		{ActorID: good.ID, Generation: good.Generation, Puts: []store.KV{{Key: make([]byte, store.MaxKVKeySize+1), Value: []byte("too big")}}, State: []byte("bad")},
		{ActorID: good.ID, Generation: good.Generation, State: []byte("s2"), Puts: []store.KV{{Key: []byte("b"), Value: []byte("2")}}},
	}
	errs, err := s.Commit(ctx, writes)
	if err != nil {
		t.Fatalf("Commit batch error: %v", err)
	}
	if len(errs) != len(writes) {
		t.Fatalf("got %d results for %d writes", len(errs), len(writes))
	}
	if errs[0] != nil || errs[5] != nil {
		t.Fatalf("good writes failed: %v, %v", errs[0], errs[5])
	}
	wantErr(t, "stale write", errs[1], store.ErrFenced)
	wantErr(t, "write to missing actor", errs[2], store.ErrNotFound)
	wantErr(t, "write to destroyed actor", errs[3], store.ErrFenced)
	wantErr(t, "write to destroyed actor", errs[3], store.ErrDestroyed)
	wantErr(t, "write with oversized key", errs[4], store.ErrInvalid)

	if st, _ := s.LoadState(ctx, good.ID, good.Generation); string(st) != "s2" {
		t.Fatalf("good actor state = %q, want s2", st)
	}
	kvs, err := s.KVList(ctx, good.ID, store.KVRange{})
	if err != nil || len(kvs) != 2 || string(kvs[0].Key) != "a" || string(kvs[1].Key) != "b" {
		t.Fatalf("good actor KV = %q (%v), want a, b", kvs, err)
	}
	if st, _ := s.LoadState(ctx, stale.ID, stale.Generation); string(st) != "keep" {
		t.Fatalf("fenced write changed state to %q", st)
	}
	vals, _ := s.KVGet(ctx, stale.ID, [][]byte{[]byte("k")})
	if string(vals[0]) != "keep" {
		t.Fatalf("fenced write changed KV to %q", vals[0])
	}
	if _, err := s.GetActor(ctx, "no-such-actor"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("write to missing actor created it (err=%v)", err)
	}

	// One valid state-only write beside invalid ones is applied and fenced
	// like a lone write.
	writes = []store.Write{
		{Generation: 1, State: []byte("no id")},
		{ActorID: good.ID, Generation: good.Generation, State: []byte("s3")},
		{ActorID: stale.ID, Generation: staleGen, Puts: []store.KV{{Key: make([]byte, store.MaxKVKeySize+1)}}},
	}
	errs, err = s.Commit(ctx, writes)
	if err != nil || len(errs) != len(writes) || errs[1] != nil {
		t.Fatalf("batch with one valid write = %v, %v", errs, err)
	}
	wantErr(t, "write without actor id", errs[0], store.ErrInvalid)
	wantErr(t, "write with oversized key", errs[2], store.ErrInvalid)
	if st, _ := s.LoadState(ctx, good.ID, good.Generation); string(st) != "s3" {
		t.Fatalf("good actor state = %q, want s3", st)
	}
	errs, err = s.Commit(ctx, []store.Write{{Generation: 1}, {ActorID: stale.ID, Generation: staleGen, State: []byte("lost")}})
	if err != nil || len(errs) != 2 {
		t.Fatalf("batch with one stale write = %v, %v", errs, err)
	}
	wantErr(t, "write without actor id", errs[0], store.ErrInvalid)
	wantErr(t, "lone stale write beside an invalid one", errs[1], store.ErrFenced)
	if st, _ := s.LoadState(ctx, stale.ID, stale.Generation); string(st) != "keep" {
		t.Fatalf("fenced write changed state to %q", st)
	}

	// An empty batch is fine.
	errs, err = s.Commit(ctx, nil)
	if err != nil || len(errs) != 0 {
		t.Fatalf("Commit(nil) = %v, %v", errs, err)
	}
}

func testCommitAtomicWrite(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "at")).ID)
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, State: []byte("s0"), Puts: []store.KV{
		{Key: []byte("keep"), Value: []byte("0")}, {Key: []byte("drop"), Value: []byte("0")}, {Key: []byte("both"), Value: []byte("0")},
	}})
	mustCommit(t, s, store.Write{
		ActorID: a.ID, Generation: a.Generation, State: []byte("s1"),
		Deletes: [][]byte{[]byte("drop"), []byte("both"), []byte("never-existed")},
		Puts:    []store.KV{{Key: []byte("new"), Value: []byte("1")}, {Key: []byte("both"), Value: []byte("1")}, {Key: []byte("new"), Value: []byte("2")}},
	})
	st, err := s.LoadState(ctx, a.ID, a.Generation)
	if err != nil || string(st) != "s1" {
		t.Fatalf("state = %q (%v), want s1", st, err)
	}
	kvs, err := s.KVList(ctx, a.ID, store.KVRange{})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.KV{{Key: []byte("both"), Value: []byte("1")}, {Key: []byte("keep"), Value: []byte("0")}, {Key: []byte("new"), Value: []byte("2")}}
	if !kvEqual(kvs, want) {
		t.Fatalf("KV after write = %s, want %s", fmtKVs(kvs), fmtKVs(want))
	}
}

func testCommitOrderWithinBatch(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "ord")).ID)
	var ws []store.Write
	for i := range 10 {
		ws = append(ws, store.Write{ActorID: a.ID, Generation: a.Generation, State: fmt.Appendf(nil, "v%d", i),
			Puts: []store.KV{{Key: []byte("last"), Value: fmt.Appendf(nil, "%d", i)}, {Key: fmt.Appendf(nil, "k%d", i), Value: []byte("x")}}})
	}
	ws = append(ws, store.Write{ActorID: a.ID, Generation: a.Generation, Deletes: [][]byte{[]byte("k3")}})
	mustCommit(t, s, ws...)
	if st, _ := s.LoadState(ctx, a.ID, a.Generation); string(st) != "v9" {
		t.Fatalf("state after ordered batch = %q, want v9", st)
	}
	vals, err := s.KVGet(ctx, a.ID, [][]byte{[]byte("last"), []byte("k0"), []byte("k3"), []byte("k9")})
	if err != nil {
		t.Fatal(err)
	}
	if string(vals[0]) != "9" || vals[1] == nil || vals[2] != nil || vals[3] == nil {
		t.Fatalf("KV after ordered batch = %q", vals)
	}
}

func testCommitConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
	const actors, rounds = 8, 10
	as := make([]store.Actor, actors)
	for i := range as {
		as[i] = mustActivate(t, s, mustCreate(t, s, spec(t, ns, "cc", fmt.Sprint(i))).ID)
	}
	var wg sync.WaitGroup
	errc := make(chan error, actors)
	for i, a := range as {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				errs, err := s.Commit(ctx, []store.Write{{ActorID: a.ID, Generation: a.Generation, State: fmt.Appendf(nil, "%d-%d", i, r),
					Puts: []store.KV{{Key: fmt.Appendf(nil, "r%02d", r), Value: []byte("x")}}}})
				if err == nil {
					err = errs[0]
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("concurrent commit: %v", err)
	}
	for i, a := range as {
		st, err := s.LoadState(ctx, a.ID, a.Generation)
		if err != nil || string(st) != fmt.Sprintf("%d-%d", i, rounds-1) {
			t.Fatalf("actor %d state = %q (%v)", i, st, err)
		}
		kvs, _ := s.KVList(ctx, a.ID, store.KVRange{})
		if len(kvs) != rounds {
			t.Fatalf("actor %d has %d KV pairs, want %d", i, len(kvs), rounds)
		}
	}
}

func testInitialized(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "init")).ID)
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, State: []byte("pre")})
	if mustGet(t, s, a.ID).Initialized {
		t.Fatal("commit without Initialized marked the actor initialized")
	}
	// A fenced write does not set the flag.
	errs, err := s.Commit(ctx, []store.Write{{ActorID: a.ID, Generation: a.Generation + 1, State: []byte("x"), Initialized: true}})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "fenced Initialized write", errs[0], store.ErrFenced)
	if mustGet(t, s, a.ID).Initialized {
		t.Fatal("fenced write marked the actor initialized")
	}
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, State: []byte("init"), Initialized: true})
	if !mustGet(t, s, a.ID).Initialized {
		t.Fatal("commit with Initialized did not mark the actor initialized")
	}
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, State: []byte("later")})
	b := mustActivate(t, s, a.ID)
	if !b.Initialized {
		t.Fatal("Initialized was lost by a later commit or activation")
	}
	if err := s.Deactivate(ctx, a.ID, b.Generation); err != nil {
		t.Fatal(err)
	}
	if !mustGet(t, s, a.ID).Initialized {
		t.Fatal("Initialized was lost by Deactivate")
	}
}

// ---- KV ----

func kvEqual(a, b []store.KV) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Key, b[i].Key) || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

func fmtKVs(kvs []store.KV) string {
	var b bytes.Buffer
	b.WriteString("[")
	for i, kv := range kvs {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%q=%q", kv.Key, kv.Value)
	}
	b.WriteString("]")
	return b.String()
}

func kvActor(t *testing.T, s store.Store, pairs ...string) store.Actor {
	t.Helper()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "kv")).ID)
	w := store.Write{ActorID: a.ID, Generation: a.Generation}
	for i := 0; i+1 < len(pairs); i += 2 {
		w.Puts = append(w.Puts, store.KV{Key: []byte(pairs[i]), Value: []byte(pairs[i+1])})
	}
	mustCommit(t, s, w)
	return a
}

func keysOf(kvs []store.KV) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = string(kv.Key)
	}
	return out
}

func testKVGet(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := kvActor(t, s, "a", "1", "b", "2", "empty", "")
	vals, err := s.KVGet(ctx, a.ID, [][]byte{[]byte("b"), []byte("missing"), []byte("a"), []byte("empty"), []byte("b")})
	if err != nil {
		t.Fatalf("KVGet: %v", err)
	}
	if len(vals) != 5 {
		t.Fatalf("KVGet returned %d values for 5 keys", len(vals))
	}
	if string(vals[0]) != "2" || vals[1] != nil || string(vals[2]) != "1" || string(vals[4]) != "2" {
		t.Fatalf("KVGet = %q", vals)
	}
	if vals[3] == nil || len(vals[3]) != 0 {
		t.Fatalf("present empty value read back as %#v, want non-nil empty", vals[3])
	}
	vals, err = s.KVGet(ctx, a.ID, nil)
	if err != nil || len(vals) != 0 {
		t.Fatalf("KVGet(no keys) = %q, %v", vals, err)
	}
	// Returned values are the caller's to keep.
	vals, _ = s.KVGet(ctx, a.ID, [][]byte{[]byte("a")})
	vals[0][0] = 'X'
	if again, _ := s.KVGet(ctx, a.ID, [][]byte{[]byte("a")}); string(again[0]) != "1" {
		t.Fatalf("mutating a returned value changed the store: %q", again[0])
	}
	_, err = s.KVGet(ctx, "no-such-actor", [][]byte{[]byte("a")})
	wantErr(t, "KVGet(missing actor)", err, store.ErrNotFound)
	_, err = s.KVList(ctx, "no-such-actor", store.KVRange{})
	wantErr(t, "KVList(missing actor)", err, store.ErrNotFound)
}

func testKVListPrefix(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := kvActor(t, s, "user/1", "a", "user/2", "b", "user/10", "c", "user", "d", "users", "e", "uses", "f", "v", "g")
	cases := []struct {
		r    store.KVRange
		want []string
	}{
		{store.KVRange{Prefix: []byte("user/")}, []string{"user/1", "user/10", "user/2"}},
		{store.KVRange{Prefix: []byte("user")}, []string{"user", "user/1", "user/10", "user/2", "users"}},
		{store.KVRange{Prefix: []byte("user/"), Reverse: true}, []string{"user/2", "user/10", "user/1"}},
		{store.KVRange{Prefix: []byte("user/"), Limit: 2}, []string{"user/1", "user/10"}},
		{store.KVRange{Prefix: []byte("user/"), Limit: 2, Reverse: true}, []string{"user/2", "user/10"}},
		{store.KVRange{Prefix: []byte("nope")}, []string{}},
		{store.KVRange{Prefix: []byte{}}, []string{"user", "user/1", "user/10", "user/2", "users", "uses", "v"}},
		// Start/End are ignored when Prefix is set.
		{store.KVRange{Prefix: []byte("user/"), Start: []byte("v"), End: []byte("w")}, []string{"user/1", "user/10", "user/2"}},
		{store.KVRange{}, []string{"user", "user/1", "user/10", "user/2", "users", "uses", "v"}},
		{store.KVRange{Reverse: true, Limit: 3}, []string{"v", "uses", "users"}},
	}
	for _, tc := range cases {
		kvs, err := s.KVList(ctx, a.ID, tc.r)
		if err != nil {
			t.Fatalf("KVList(%+v): %v", tc.r, err)
		}
		if got := keysOf(kvs); !slices.Equal(got, tc.want) {
			t.Fatalf("KVList(prefix %q start %q end %q limit %d reverse %v) = %q, want %q",
				tc.r.Prefix, tc.r.Start, tc.r.End, tc.r.Limit, tc.r.Reverse, got, tc.want)
		}
	}
	kvs, _ := s.KVList(ctx, a.ID, store.KVRange{Prefix: []byte("user/1")})
	if len(kvs) != 2 || string(kvs[0].Value) != "a" || string(kvs[1].Value) != "c" {
		t.Fatalf("values of prefix list = %s", fmtKVs(kvs))
	}
}

func testKVListRange(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := kvActor(t, s, "a", "1", "b", "2", "c", "3", "d", "4", "e", "5")
	cases := []struct {
		r    store.KVRange
		want []string
	}{
		{store.KVRange{Start: []byte("b"), End: []byte("d")}, []string{"b", "c"}},
		{store.KVRange{Start: []byte("b")}, []string{"b", "c", "d", "e"}},
		{store.KVRange{End: []byte("c")}, []string{"a", "b"}},
		{store.KVRange{Start: []byte("bb"), End: []byte("dd")}, []string{"c", "d"}},
		{store.KVRange{Start: []byte("b"), End: []byte("d"), Reverse: true}, []string{"c", "b"}},
		{store.KVRange{Start: []byte("a"), End: []byte("e"), Reverse: true, Limit: 2}, []string{"d", "c"}},
		{store.KVRange{Start: []byte("b"), Limit: 1}, []string{"b"}},
		{store.KVRange{Start: []byte("c"), End: []byte("c")}, []string{}},
		{store.KVRange{Start: []byte("d"), End: []byte("b")}, []string{}},
		{store.KVRange{Start: []byte("z")}, []string{}},
		{store.KVRange{End: []byte("zz"), Reverse: true}, []string{"e", "d", "c", "b", "a"}},
	}
	for _, tc := range cases {
		kvs, err := s.KVList(ctx, a.ID, tc.r)
		if err != nil {
			t.Fatalf("KVList(%+v): %v", tc.r, err)
		}
		if got := keysOf(kvs); !slices.Equal(got, tc.want) {
			t.Fatalf("KVList(start %q end %q limit %d reverse %v) = %q, want %q",
				tc.r.Start, tc.r.End, tc.r.Limit, tc.r.Reverse, got, tc.want)
		}
	}
}

func testKVBinaryKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "bin")).ID)
	keys := [][]byte{
		{},
		{0x00},
		{0x00, 0x00},
		{0x00, 0xff},
		{0x01},
		{0x7f},
		{0x80},
		{0xfe, 0xff},
		{0xff},
		{0xff, 0x00},
		{0xff, 0xff},
		{0xff, 0xff, 0xff},
	}
	w := store.Write{ActorID: a.ID, Generation: a.Generation}
	for i, k := range slices.Backward(keys) { // insertion order must not matter
		w.Puts = append(w.Puts, store.KV{Key: k, Value: []byte{byte(i), 0x00, 0xff}})
	}
	mustCommit(t, s, w)

	all, err := s.KVList(ctx, a.ID, store.KVRange{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(keys) {
		t.Fatalf("listed %d binary keys, want %d: %s", len(all), len(keys), fmtKVs(all))
	}
	for i, kv := range all {
		if !bytes.Equal(kv.Key, keys[i]) {
			t.Fatalf("key %d = %x, want %x (bytewise order)", i, kv.Key, keys[i])
		}
		if !bytes.Equal(kv.Value, []byte{byte(i), 0x00, 0xff}) {
			t.Fatalf("value of %x = %x", kv.Key, kv.Value)
		}
	}
	check := func(r store.KVRange, want ...[]byte) {
		t.Helper()
		kvs, err := s.KVList(ctx, a.ID, r)
		if err != nil {
			t.Fatal(err)
		}
		if len(kvs) != len(want) {
			t.Fatalf("KVList(prefix %x start %x end %x rev %v) = %s, want %x", r.Prefix, r.Start, r.End, r.Reverse, fmtKVs(kvs), want)
		}
		for i := range want {
			if !bytes.Equal(kvs[i].Key, want[i]) {
				t.Fatalf("KVList(prefix %x start %x end %x rev %v)[%d] = %x, want %x", r.Prefix, r.Start, r.End, r.Reverse, i, kvs[i].Key, want[i])
			}
		}
	}
	check(store.KVRange{Prefix: []byte{0x00}}, keys[1], keys[2], keys[3])
	check(store.KVRange{Prefix: []byte{0xff}}, keys[8], keys[9], keys[10], keys[11])
	check(store.KVRange{Prefix: []byte{0xff, 0xff}}, keys[10], keys[11])
	check(store.KVRange{Prefix: []byte{0xff, 0xff}, Reverse: true}, keys[11], keys[10])
	check(store.KVRange{Prefix: []byte{0xfe}}, keys[7])
	check(store.KVRange{Start: []byte{0x00}, End: []byte{0x01}}, keys[1], keys[2], keys[3])
	check(store.KVRange{Start: []byte{}, End: []byte{0x00}}, keys[0])
	check(store.KVRange{Start: []byte{0x7f}, End: []byte{0xff}}, keys[5], keys[6], keys[7])
	check(store.KVRange{Start: []byte{0xff, 0x00}}, keys[9], keys[10], keys[11])

	vals, err := s.KVGet(ctx, a.ID, [][]byte{{}, {0x00}, {0xff, 0xff}, {0x00, 0x01}})
	if err != nil {
		t.Fatal(err)
	}
	if vals[0] == nil || vals[1] == nil || vals[2] == nil || vals[3] != nil {
		t.Fatalf("KVGet(binary keys) = %x", vals)
	}
	// Delete binary keys.
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, Deletes: [][]byte{{0x00}, {0xff, 0xff, 0xff}, {}}})
	check(store.KVRange{Prefix: []byte{0x00}}, keys[2], keys[3])
	check(store.KVRange{Prefix: []byte{0xff, 0xff}}, keys[10])
	if vals, _ := s.KVGet(ctx, a.ID, [][]byte{{}}); vals[0] != nil {
		t.Fatalf("empty key survived its delete: %x", vals[0])
	}
}

func testKVDeleteAll(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := kvActor(t, s, "a", "1", "b", "2", "c", "3")
	b := kvActor(t, s, "a", "other")
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, DeleteAll: true,
		Puts: []store.KV{{Key: []byte("b"), Value: []byte("new")}, {Key: []byte("z"), Value: []byte("26")}}})
	kvs, err := s.KVList(ctx, a.ID, store.KVRange{})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.KV{{Key: []byte("b"), Value: []byte("new")}, {Key: []byte("z"), Value: []byte("26")}}
	if !kvEqual(kvs, want) {
		t.Fatalf("after DeleteAll+Puts: %s, want %s", fmtKVs(kvs), fmtKVs(want))
	}
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, DeleteAll: true})
	if kvs, _ := s.KVList(ctx, a.ID, store.KVRange{}); len(kvs) != 0 {
		t.Fatalf("after DeleteAll: %s", fmtKVs(kvs))
	}
	// A fenced DeleteAll deletes nothing; other actors are untouched.
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, Puts: []store.KV{{Key: []byte("k"), Value: []byte("v")}}})
	errs, err := s.Commit(ctx, []store.Write{{ActorID: a.ID, Generation: a.Generation + 5, DeleteAll: true}})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "fenced DeleteAll", errs[0], store.ErrFenced)
	if kvs, _ := s.KVList(ctx, a.ID, store.KVRange{}); len(kvs) != 1 {
		t.Fatalf("fenced DeleteAll removed pairs: %s", fmtKVs(kvs))
	}
	if vals, _ := s.KVGet(ctx, b.ID, [][]byte{[]byte("a")}); string(vals[0]) != "other" {
		t.Fatalf("DeleteAll of one actor touched another: %q", vals[0])
	}
}

func testKVLargeValues(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "big")).ID)
	big := make([]byte, 1<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	state := make([]byte, 1<<20)
	if _, err := rand.Read(state); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, State: state,
		Puts: []store.KV{{Key: []byte("big"), Value: big}, {Key: []byte("big2"), Value: big[:1<<19]}}})
	vals, err := s.KVGet(ctx, a.ID, [][]byte{[]byte("big"), []byte("big2")})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(vals[0], big) || !bytes.Equal(vals[1], big[:1<<19]) {
		t.Fatalf("1 MiB value read back as %d bytes (equal=%v)", len(vals[0]), bytes.Equal(vals[0], big))
	}
	st, err := s.LoadState(ctx, a.ID, a.Generation)
	if err != nil || !bytes.Equal(st, state) {
		t.Fatalf("1 MiB state read back as %d bytes (%v)", len(st), err)
	}
	kvs, err := s.KVList(ctx, a.ID, store.KVRange{Prefix: []byte("big")})
	if err != nil || len(kvs) != 2 || !bytes.Equal(kvs[0].Value, big) {
		t.Fatalf("KVList of large values: %d pairs (%v)", len(kvs), err)
	}
}

func testKVLimits(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "lim")).ID)
	maxKey := bytes.Repeat([]byte{0xab}, store.MaxKVKeySize)
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, Puts: []store.KV{{Key: maxKey, Value: []byte("ok")}}})
	vals, err := s.KVGet(ctx, a.ID, [][]byte{maxKey})
	if err != nil || string(vals[0]) != "ok" {
		t.Fatalf("key of MaxKVKeySize bytes: %q, %v", vals, err)
	}
	errs, err := s.Commit(ctx, []store.Write{{ActorID: a.ID, Generation: a.Generation, State: []byte("no"),
		Deletes: [][]byte{append(maxKey, 0)}}})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "oversized delete key", errs[0], store.ErrInvalid)
	if st, _ := s.LoadState(ctx, a.ID, a.Generation); st != nil {
		t.Fatalf("invalid write applied its state %q", st)
	}
	// A list limit above the cap is clamped, not rejected.
	w := store.Write{ActorID: a.ID, Generation: a.Generation}
	for i := range 50 {
		w.Puts = append(w.Puts, store.KV{Key: fmt.Appendf(nil, "n%03d", i), Value: []byte{1}})
	}
	mustCommit(t, s, w)
	kvs, err := s.KVList(ctx, a.ID, store.KVRange{Prefix: []byte("n"), Limit: 1 << 30})
	if err != nil || len(kvs) != 50 {
		t.Fatalf("KVList with huge limit: %d pairs, %v", len(kvs), err)
	}
}

func testContextCanceled(t *testing.T, s store.Store) {
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "ctx")).ID)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.GetActor(ctx, a.ID); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetActor(canceled ctx) = %v, want context.Canceled", err)
	}
	if _, err := s.CreateActor(ctx, spec(t, newNS(), "ctx")); !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateActor(canceled ctx) = %v, want context.Canceled", err)
	}
	if _, err := s.Commit(ctx, []store.Write{{ActorID: a.ID, Generation: a.Generation, State: []byte("x")}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit(canceled ctx) = %v, want context.Canceled", err)
	}
	if st, _ := s.LoadState(context.Background(), a.ID, a.Generation); st != nil {
		t.Fatalf("Commit with canceled ctx applied state %q", st)
	}
}

func testClosed(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "closed")).ID)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checks := map[string]error{}
	_, checks["CreateActor"] = s.CreateActor(ctx, spec(t, newNS(), "x"))
	_, _, checks["GetOrCreateActor"] = s.GetOrCreateActor(ctx, spec(t, newNS(), "x"))
	_, checks["GetActor"] = s.GetActor(ctx, a.ID)
	_, checks["GetActorByKey"] = s.GetActorByKey(ctx, a.Namespace, a.Name, a.Key)
	_, _, checks["ListActors"] = s.ListActors(ctx, store.ListOptions{Namespace: a.Namespace, Name: a.Name})
	_, checks["DestroyActor"] = s.DestroyActor(ctx, a.ID)
	_, checks["Activate"] = s.Activate(ctx, a.ID, "r", 0)
	checks["Deactivate"] = s.Deactivate(ctx, a.ID, a.Generation)
	_, checks["LoadState"] = s.LoadState(ctx, a.ID, a.Generation)
	_, checks["Commit"] = s.Commit(ctx, []store.Write{{ActorID: a.ID, Generation: a.Generation}})
	_, checks["KVGet"] = s.KVGet(ctx, a.ID, [][]byte{[]byte("k")})
	_, checks["KVList"] = s.KVList(ctx, a.ID, store.KVRange{})
	checks["UpsertRunner"] = s.UpsertRunner(ctx, store.Runner{ID: "r", Pool: "p", Version: 1})
	checks["HeartbeatRunner"] = s.HeartbeatRunner(ctx, "r")
	checks["SetRunnerDraining"] = s.SetRunnerDraining(ctx, "r", true)
	checks["RemoveRunner"] = s.RemoveRunner(ctx, "r")
	_, checks["GetRunner"] = s.GetRunner(ctx, "r")
	_, checks["ListRunners"] = s.ListRunners(ctx, "p")
	_, checks["Place"] = s.Place(ctx, a.ID, "r", a.Generation)
	_, checks["ActorsOnRunner"] = s.ActorsOnRunner(ctx, "runner-1", 0)
	checks["SetPoolConfig"] = s.SetPoolConfig(ctx, store.PoolConfig{Pool: "p"})
	_, checks["GetPoolConfig"] = s.GetPoolConfig(ctx, "p")
	_, checks["TryLease"] = s.TryLease(ctx, "l", "h", time.Second)
	checks["ReleaseLease"] = s.ReleaseLease(ctx, "l", "h")
	_, checks["Enqueue"] = s.Enqueue(ctx, a.ID, "m", nil, 0)
	_, checks["ListQueue"] = s.ListQueue(ctx, a.ID, 0, nil, 0)
	_, checks["QueueLen"] = s.QueueLen(ctx, a.ID)
	_, checks["ListSchedules"] = s.ListSchedules(ctx, a.ID)
	_, checks["DueActors"] = s.DueActors(ctx, 0)
	_, checks["NextDue"] = s.NextDue(ctx, a.ID)
	_, checks["ListWorkflowSteps"] = s.ListWorkflowSteps(ctx, a.ID, "")
	checks["Close again"] = s.Close()
	for name, err := range checks {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}
