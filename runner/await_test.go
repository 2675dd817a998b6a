package runner_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/rivet"
	"github.com/rivetkube/rivetkube/runner"
)

type waitState struct {
	Log   []string `cbor:"log"`
	Count int64    `cbor:"count"`
}

// gates lets a test hold actions at their wait point and release them.
type gates struct {
	mu      sync.Mutex
	entered map[string]chan struct{}
	release map[string]chan struct{}
}

func newGates() *gates {
	return &gates{entered: map[string]chan struct{}{}, release: map[string]chan struct{}{}}
}

func (g *gates) pair(tag string) (entered, release chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.entered[tag] == nil {
		g.entered[tag] = make(chan struct{})
		g.release[tag] = make(chan struct{})
	}
	return g.entered[tag], g.release[tag]
}

func waitActor(g *gates) *rivet.Actor[waitState] {
	return rivet.New("waiter", rivet.Options[waitState]{}).
		// slow logs "before", waits at a wait point until the test releases
		// tag, then logs what it sees and "after".
		Action("slow", func(c *rivet.Ctx[waitState], tag string) ([]string, error) {
			c.State().Log = append(c.State().Log, "before:"+tag)
			entered, release := g.pair(tag)
			_, err := rivet.Await(c, func(ctx context.Context) (struct{}, error) {
				close(entered)
				select {
				case <-release:
					return struct{}{}, nil
				case <-ctx.Done():
					return struct{}{}, ctx.Err()
				}
			})
			if err != nil {
				return nil, err
			}
			c.State().Log = append(c.State().Log, "after:"+tag)
			return c.State().Log, nil
		}).
		Action("note", func(c *rivet.Ctx[waitState], s string) ([]string, error) {
			c.State().Log = append(c.State().Log, s)
			return c.State().Log, nil
		}).
		Action("tick", func(c *rivet.Ctx[waitState]) (int64, error) {
			c.State().Count++
			if err := c.Wait(time.Millisecond); err != nil {
				return 0, err
			}
			c.State().Count++
			return c.State().Count, nil
		}).
		Action("log", func(c *rivet.Ctx[waitState]) ([]string, error) { return c.State().Log, nil })
}

// While one action waits, others run; the waiting action sees their
// changes when it goes on, and what it changed before the wait is
// committed before it goes on.
func TestAwaitReleasesTheActor(t *testing.T) {
	t.Parallel()
	g := newGates()
	e := newEnv(t, t.TempDir(), waitActor(g))
	id := e.create(t, "waiter", nil, nil)
	type res struct {
		log []string
		err error
	}
	done := make(chan res, 1)
	go func() {
		l, err := call[[]string](t, e, id, "slow", "a")
		done <- res{l, err}
	}()
	entered, release := g.pair("a")
	<-entered
	// The actor answers while "slow" waits.
	got, err := call[[]string](t, e, id, "note", "x")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"before:a", "x"}; !equalStrings(got, want) {
		t.Fatalf("note during the wait = %v, want %v", got, want)
	}
	// "before:a" was committed at the wait point: it is in the store now.
	a, err := e.st.GetActor(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.st.LoadState(context.Background(), id, a.Generation)
	if err != nil {
		t.Fatal(err)
	}
	var saved waitState
	if err := rivet.Unmarshal(st, &saved); err != nil {
		t.Fatal(err)
	}
	if len(saved.Log) == 0 || saved.Log[0] != "before:a" {
		t.Fatalf("state in the store during the wait = %v, want it to start with before:a", saved.Log)
	}
	close(release)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if want := []string{"before:a", "x", "after:a"}; !equalStrings(r.log, want) {
		t.Fatalf("slow = %v, want %v", r.log, want)
	}
}

// Two actions wait at once and finish in the order they are released.
func TestAwaitInterleavesActions(t *testing.T) {
	t.Parallel()
	g := newGates()
	e := newEnv(t, t.TempDir(), waitActor(g))
	id := e.create(t, "waiter", nil, nil)
	results := make(chan error, 2)
	for _, tag := range []string{"a", "b"} {
		go func() {
			_, err := call[[]string](t, e, id, "slow", tag)
			results <- err
		}()
		entered, _ := g.pair(tag)
		<-entered
	}
	_, relB := g.pair("b")
	close(relB)
	if err := <-results; err != nil {
		t.Fatal(err)
	}
	_, relA := g.pair("a")
	close(relA)
	if err := <-results; err != nil {
		t.Fatal(err)
	}
	got, err := call[[]string](t, e, id, "log")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"before:a", "before:b", "after:b", "after:a"}; !equalStrings(got, want) {
		t.Fatalf("log = %v, want %v", got, want)
	}
}

// A timer wait point: the action goes on after it with the state as it is.
func TestWaitTimer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, t.TempDir(), waitActor(newGates()))
	id := e.create(t, "waiter", nil, nil)
	for want := int64(2); want <= 6; want += 2 {
		n, err := call[int64](t, e, id, "tick")
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("tick = %d, want %d", n, want)
		}
	}
}

// The tasks waiting at once are bounded: one more gets actor/overloaded.
func TestAwaitBound(t *testing.T) {
	t.Parallel()
	g := newGates()
	e := newEnvLimits(t, t.TempDir(), runner.Limits{MaxSuspended: 2}, waitActor(g))
	id := e.create(t, "waiter", nil, nil)
	results := make(chan error, 2)
	for _, tag := range []string{"a", "b"} {
		go func() {
			_, err := call[[]string](t, e, id, "slow", tag)
			results <- err
		}()
		entered, _ := g.pair(tag)
		<-entered
	}
	_, err := call[[]string](t, e, id, "slow", "c")
	if !errors.Is(err, errs.ErrOverloaded) {
		t.Fatalf("a third waiting action = %v, want actor/overloaded", err)
	}
	for _, tag := range []string{"a", "b"} {
		_, rel := g.pair(tag)
		close(rel)
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
}

// When the actor stops while an action waits, the action's reply never
// leaves (the caller gets an error), and what it committed before the
// wait stays.
func TestAwaitActorStopsDuringWait(t *testing.T) {
	t.Parallel()
	g := newGates()
	e := newEnv(t, t.TempDir(), waitActor(g))
	id := e.create(t, "waiter", nil, nil)
	done := make(chan error, 1)
	go func() {
		_, err := call[[]string](t, e, id, "slow", "a")
		done <- err
	}()
	entered, _ := g.pair("a")
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.rt.Close(ctx)
	if err := <-done; err == nil {
		t.Fatal("the waiting action answered after its actor stopped")
	}
	a, err := e.st.GetActor(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.st.LoadState(context.Background(), id, a.Generation)
	if err != nil {
		t.Fatal(err)
	}
	var saved waitState
	if err := rivet.Unmarshal(st, &saved); err != nil {
		t.Fatal(err)
	}
	if !equalStrings(saved.Log, []string{"before:a"}) {
		t.Fatalf("state after the stop = %v, want [before:a]", saved.Log)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
