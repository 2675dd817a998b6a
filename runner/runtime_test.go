package runner_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/rivet"
	"github.com/rivetkube/rivetkube/runner"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/protocol"
	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/boltstore"
)

type testState struct {
	Count  int64 `cbor:"count"`
	Wakes  int   `cbor:"wakes"`
	Sleeps int   `cbor:"sleeps"`
	Input  string
}

func testActor(sleep time.Duration) *rivet.Actor[testState] {
	return rivet.New("t", rivet.Options[testState]{
		SleepTimeout: sleep,
		CreateState: func(c *rivet.Ctx[testState], in rivet.Raw) (testState, error) {
			var s testState
			err := in.Decode(&s.Input)
			return s, err
		},
		OnWake:  func(c *rivet.Ctx[testState]) error { c.State().Wakes++; return nil },
		OnSleep: func(c *rivet.Ctx[testState]) error { c.State().Sleeps++; return nil },
	}).
		Action("inc", func(c *rivet.Ctx[testState], n int64) (int64, error) {
			c.State().Count += n
			_ = c.Broadcast("count", c.State().Count)
			return c.State().Count, nil
		}).
		Action("get", func(c *rivet.Ctx[testState]) (testState, error) { return *c.State(), nil }).
		Action("fail", func(c *rivet.Ctx[testState]) error { return errors.New("secret detail") }).
		Action("userFail", func(c *rivet.Ctx[testState]) error {
			return rivet.NewUserError("bad", "Bad thing", map[string]int{"n": 1})
		}).
		Action("kvPut", func(c *rivet.Ctx[testState], k, v string) error { return c.KV().Put([]byte(k), []byte(v)) }).
		Action("kvGet", func(c *rivet.Ctx[testState], k string) (*string, error) {
			v, err := c.KV().Get([]byte(k))
			if v == nil || err != nil {
				return nil, err
			}
			s := string(v)
			return &s, nil
		}).
		Action("kvList", func(c *rivet.Ctx[testState], p string) ([]string, error) {
			ps, err := c.KV().ListPrefix([]byte(p), rivet.ListOptions{})
			var out []string
			for _, kv := range ps {
				out = append(out, string(kv.Key)+"="+string(kv.Value))
			}
			return out, err
		}).
		Action("kvDel", func(c *rivet.Ctx[testState], k string) error { return c.KV().Delete([]byte(k)) }).
		Action("destroy", func(c *rivet.Ctx[testState]) error { c.Destroy(); return nil })
}

type env struct {
	rt *runner.Runtime
	st store.Store
	cm *store.Committer
}

func newEnv(t *testing.T, dir string, defs ...runner.Definition) *env {
	t.Helper()
	return newEnvLimits(t, dir, runner.Limits{}, defs...)
}

func newEnvLimits(t *testing.T, dir string, limits runner.Limits, defs ...runner.Definition) *env {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(dir, "db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cm := store.NewCommitter(st, store.CommitterOptions{})
	m := map[string]runner.Definition{}
	for _, d := range defs {
		m[d.Name()] = d
	}
	rt := runner.NewRuntimeForTest(st, cm, m, "r1", limits, slog.New(slog.NewTextHandler(io.Discard, nil)))
	e := &env{rt: rt, st: st, cm: cm}
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.rt.Close(ctx)
	e.cm.Close()
	_ = e.st.Close()
}

func (e *env) create(t *testing.T, name string, key []string, input any) string {
	t.Helper()
	spec := store.ActorSpec{ID: name + "-" + t.Name() + "-" + time.Now().Format("150405.000000000"), Namespace: "default", Name: name, Key: key, Pool: "default"}
	if input != nil {
		spec.Input = mustMarshal(t, input)
	}
	a, err := e.st.CreateActor(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := rivet.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func call[T any](t *testing.T, e *env, id, action string, args ...any) (T, error) {
	t.Helper()
	var zero T
	out, err := e.rt.Action(context.Background(), hostapi.ActionRequest{ActorID: id, Name: action, Args: mustMarshal(t, append([]any{}, args...))})
	if err != nil {
		return zero, err
	}
	var v T
	if err := rivet.Unmarshal(out, &v); err != nil {
		t.Fatalf("decode output of %s: %v", action, err)
	}
	return v, nil
}

func TestActionStateAndInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, t.TempDir(), testActor(0))
	id := e.create(t, "t", []string{"a"}, "hello")
	for i := int64(1); i <= 3; i++ {
		got, err := call[int64](t, e, id, "inc", 2)
		if err != nil || got != 2*i {
			t.Fatalf("inc #%d = %d, %v; want %d", i, got, err, 2*i)
		}
	}
	s, err := call[testState](t, e, id, "get")
	if err != nil || s.Count != 6 || s.Input != "hello" || s.Wakes != 1 {
		t.Fatalf("get = %+v, %v", s, err)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, t.TempDir(), testActor(0))
	id := e.create(t, "t", nil, nil)
	_, err := call[any](t, e, id, "nope")
	var pe *errs.Error
	if !errors.As(err, &pe) || pe.Code != "action_not_found" || pe.Group != "actor" {
		t.Fatalf("unknown action: %v", err)
	}
	_, err = call[any](t, e, id, "fail")
	if !errors.As(err, &pe) || pe.Code != "internal_error" || pe.Message != errs.InternalMessage {
		t.Fatalf("internal: %v", err)
	}
	_, err = call[any](t, e, id, "userFail")
	if !errors.As(err, &pe) || pe.Group != "user" || pe.Code != "bad" {
		t.Fatalf("user: %v", err)
	}
	var md map[string]int
	if err := rivet.Unmarshal(pe.Metadata, &md); err != nil || md["n"] != 1 {
		t.Fatalf("metadata %v %v", md, err)
	}
	_, err = call[any](t, e, "missing", "get")
	if !errors.As(err, &pe) || pe.Code != "not_found" {
		t.Fatalf("missing actor: %v", err)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newEnv(t, dir, testActor(0))
	id := e.create(t, "t", nil, nil)
	for i := 0; i < 5; i++ {
		if _, err := call[int64](t, e, id, "inc", 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := func() error { _, err := call[any](t, e, id, "kvPut", "k", "v"); return err }(); err != nil {
		t.Fatal(err)
	}
	e.close()
	e2 := newEnv(t, dir, testActor(0))
	s, err := call[testState](t, e2, id, "get")
	if err != nil || s.Count != 5 || s.Wakes != 2 || s.Sleeps != 1 {
		t.Fatalf("after restart: %+v, %v", s, err)
	}
	v, err := call[*string](t, e2, id, "kvGet", "k")
	if err != nil || v == nil || *v != "v" {
		t.Fatalf("kv after restart: %v %v", v, err)
	}
}

func TestSleepAndWake(t *testing.T) {
	t.Parallel()
	e := newEnv(t, t.TempDir(), testActor(50*time.Millisecond))
	id := e.create(t, "t", nil, nil)
	if _, err := call[int64](t, e, id, "inc", 1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		awake := e.rt.AwakeForTest(id)
		if !awake {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("actor never went to sleep")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s, err := call[testState](t, e, id, "get")
	if err != nil || s.Count != 1 || s.Sleeps != 1 || s.Wakes != 2 {
		t.Fatalf("after wake: %+v %v", s, err)
	}
}

// TestManyActorsSleepOnOneTimer: actors sharing the runtime's sleeper
// each sleep once idle, the sleeper lets go of them, and they wake with
// their state.
func TestManyActorsSleepOnOneTimer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, t.TempDir(), testActor(30*time.Millisecond))
	ids := make([]string, 40)
	for i := range ids {
		ids[i] = e.create(t, "t", []string{fmt.Sprint("many-", i)}, nil)
		if _, err := call[int64](t, e, ids[i], "inc", int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, id := range ids {
		for e.rt.AwakeForTest(id) {
			if time.Now().After(deadline) {
				t.Fatalf("actor %s never went to sleep", id)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if n := e.rt.SleepCountdownsForTest(); n != 0 {
		t.Fatalf("the sleeper still holds %d countdowns with every actor asleep", n)
	}
	for i, id := range ids {
		s, err := call[testState](t, e, id, "get")
		if err != nil || s.Count != int64(i) || s.Sleeps != 1 {
			t.Fatalf("actor %d after wake: %+v %v", i, s, err)
		}
	}
}

func TestKVReadYourWritesAndList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, t.TempDir(), testActor(0))
	id := e.create(t, "t", nil, nil)
	for _, kv := range [][2]string{{"a/1", "x"}, {"a/2", "y"}, {"b/1", "z"}} {
		if _, err := call[any](t, e, id, "kvPut", kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := call[any](t, e, id, "kvDel", "a/1"); err != nil {
		t.Fatal(err)
	}
	got, err := call[[]string](t, e, id, "kvList", "a/")
	if err != nil || len(got) != 1 || got[0] != "a/2=y" {
		t.Fatalf("list a/ = %v %v", got, err)
	}
	v, err := call[*string](t, e, id, "kvGet", "a/1")
	if err != nil || v != nil {
		t.Fatalf("deleted key = %v %v", v, err)
	}
}

func TestDestroy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, t.TempDir(), testActor(0))
	id := e.create(t, "t", []string{"d"}, nil)
	if _, err := call[int64](t, e, id, "inc", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := call[any](t, e, id, "destroy"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, err := e.st.GetActor(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if a.Destroyed() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not destroyed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err := call[any](t, e, id, "get")
	var pe *errs.Error
	if !errors.As(err, &pe) || pe.Code != "not_found" {
		t.Fatalf("after destroy: %v", err)
	}
}

// recSink records frames a connection receives.
type recSink struct {
	mu     sync.Mutex
	frames []protocol.ToClient
	closed chan error
	got    chan struct{}
}

func newRecSink() *recSink {
	return &recSink{closed: make(chan error, 1), got: make(chan struct{}, 1024)}
}

func (s *recSink) Send(m protocol.ToClient) bool {
	s.mu.Lock()
	s.frames = append(s.frames, m)
	s.mu.Unlock()
	s.got <- struct{}{}
	return true
}
func (s *recSink) Close(err error) { s.closed <- err }

func (s *recSink) wait(t *testing.T, n int) []protocol.ToClient {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		if len(s.frames) >= n {
			out := append([]protocol.ToClient(nil), s.frames...)
			s.mu.Unlock()
			return out
		}
		s.mu.Unlock()
		select {
		case <-s.got:
		case <-timeout:
			t.Fatalf("waited for %d frames", n)
		}
	}
}

func TestConnectionEventsAndOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, t.TempDir(), testActor(0))
	id := e.create(t, "t", nil, nil)
	sink := newRecSink()
	c, err := e.rt.Connect(context.Background(), hostapi.ConnectRequest{ActorID: id}, sink)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Receive(protocol.ToServer{Subscription: &protocol.SubscriptionRequest{EventName: "count", Subscribe: true}})
	c.Receive(protocol.ToServer{Action: &protocol.ActionRequest{ID: 7, Name: "inc", Args: mustMarshal(t, []any{3})}})
	frames := sink.wait(t, 3)
	if frames[0].Init == nil || frames[0].Init.ActorID != id {
		t.Fatalf("first frame not Init: %+v", frames[0])
	}
	// The event is produced before the reply, and leaves before it.
	if frames[1].Event == nil || frames[1].Event.Name != "count" {
		t.Fatalf("second frame not the event: %+v", frames[1])
	}
	if frames[2].ActionResponse == nil || frames[2].ActionResponse.ID != 7 {
		t.Fatalf("third frame not the reply: %+v", frames[2])
	}
	var n int64
	if err := rivet.Unmarshal(frames[2].ActionResponse.Output, &n); err != nil || n != 3 {
		t.Fatalf("reply %d %v", n, err)
	}
}

// TestStaleInstanceIsFenced runs two runtimes on one store: when the second
// activates the actor, the first instance's next write fails the generation
// fence, its caller gets an error, and it stops without overwriting state.
func TestStaleInstanceIsFenced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := newEnv(t, dir, testActor(0))
	id := a.create(t, "t", nil, nil)
	if _, err := call[int64](t, a, id, "inc", 1); err != nil {
		t.Fatal(err)
	}
	// A second runtime on the same store takes the actor over.
	m := map[string]runner.Definition{"t": testActor(0)}
	b := &env{rt: runner.NewRuntimeForTest(a.st, a.cm, m, "r2", runner.Limits{}, a.rt.LogForTest()), st: a.st, cm: a.cm}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.rt.Close(ctx)
	}()
	if n, err := call[int64](t, b, id, "inc", 10); err != nil || n != 11 {
		t.Fatalf("takeover inc = %d, %v", n, err)
	}
	// The stale instance still runs in a: its write must be refused.
	if _, err := call[int64](t, a, id, "inc", 100); err == nil {
		t.Fatal("stale instance acknowledged a write")
	}
	s, err := call[testState](t, b, id, "get")
	if err != nil || s.Count != 11 {
		t.Fatalf("state after fenced write: %+v, %v; want count 11", s, err)
	}
}
