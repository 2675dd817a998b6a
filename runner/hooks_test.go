package runner_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/rivet"
	"github.com/rivetkube/rivetkube/runner"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/protocol"
)

type hookState struct {
	N       int      `cbor:"n"`
	Changes int      `cbor:"changes"`
	Events  []string `cbor:"events"`
}

// hookLog collects hook calls that leave no trace in the state (onDestroy).
type hookLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *hookLog) add(s string) { l.mu.Lock(); l.calls = append(l.calls, s); l.mu.Unlock() }
func (l *hookLog) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.calls, s)
}

func hookActor(log *hookLog) *rivet.Actor[hookState] {
	return rivet.New("hooks", rivet.Options[hookState]{
		CreateVars: func(c *rivet.Ctx[hookState]) (any, error) { return "vars-ok", nil },
		OnStateChange: func(c *rivet.Ctx[hookState]) {
			c.State().Changes++
		},
		OnConnect: func(c *rivet.Ctx[hookState], conn *rivet.Conn) {
			if runner.IsSocketForTest(conn) {
				c.State().Events = append(c.State().Events, "connect")
			}
		},
		OnDisconnect: func(c *rivet.Ctx[hookState], conn *rivet.Conn) {
			if runner.IsSocketForTest(conn) {
				c.State().Events = append(c.State().Events, "disconnect")
			}
		},
		OnBeforeActionResponse: func(c *rivet.Ctx[hookState], action string, args rivet.Args, out any) (any, error) {
			if action == "wrapped" {
				return map[string]any{"wrapped": out}, nil
			}
			return out, nil
		},
		OnDestroy: func(c *rivet.Ctx[hookState]) error { log.add("destroy"); return nil },
		OnSleep:   func(c *rivet.Ctx[hookState]) error { log.add("sleep"); return nil },
	}).
		Action("inc", func(c *rivet.Ctx[hookState]) (int, error) { c.State().N++; return c.State().N, nil }).
		Action("read", func(c *rivet.Ctx[hookState]) (hookState, error) { return *c.State(), nil }).
		Action("vars", func(c *rivet.Ctx[hookState]) (any, error) { return c.Vars(), nil }).
		Action("wrapped", func(c *rivet.Ctx[hookState]) (int, error) { return 7, nil }).
		Action("sleepNow", func(c *rivet.Ctx[hookState]) error { c.Sleep(); return nil }).
		Action("bigState", func(c *rivet.Ctx[hookState]) error {
			c.State().Events = append(c.State().Events, string(make([]byte, 5<<20)))
			return nil
		})
}

func TestLifecycleHooks(t *testing.T) {
	t.Parallel()
	log := &hookLog{}
	e := newEnv(t, t.TempDir(), hookActor(log))
	id := e.create(t, "hooks", nil, nil)

	// onStateChange runs once per committed change, not for reads.
	for i := 0; i < 3; i++ {
		if _, err := call[int](t, e, id, "inc"); err != nil {
			t.Fatal(err)
		}
	}
	s, err := call[hookState](t, e, id, "read")
	if err != nil || s.N != 3 || s.Changes != 3 {
		t.Fatalf("after 3 incs: %+v %v; want n=3 changes=3", s, err)
	}
	if v, err := call[string](t, e, id, "vars"); err != nil || v != "vars-ok" {
		t.Fatalf("vars = %q, %v", v, err)
	}
	if v, err := call[map[string]int](t, e, id, "wrapped"); err != nil || v["wrapped"] != 7 {
		t.Fatalf("onBeforeActionResponse: %v, %v", v, err)
	}

	// A state over the limit is rolled back and the action fails.
	_, err = call[any](t, e, id, "bigState")
	var pe *errs.Error
	if !errors.As(err, &pe) || pe.Code != "state_too_large" {
		t.Fatalf("oversized state: %v", err)
	}
	if s, _ := call[hookState](t, e, id, "read"); len(s.Events) != 0 || s.N != 3 {
		t.Fatalf("oversized change not rolled back: n=%d events=%d", s.N, len(s.Events))
	}

	// onConnect / onDisconnect for a WebSocket connection.
	sink := newRecSink()
	c, err := e.rt.Connect(context.Background(), hostapi.ConnectRequest{ActorID: id}, sink)
	if err != nil {
		t.Fatal(err)
	}
	c.Receive(protocol.ToServer{Action: &protocol.ActionRequest{ID: 1, Name: "read", Args: []byte{0x80}}})
	sink.wait(t, 2)
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := call[hookState](t, e, id, "read")
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(s.Events, []string{"connect", "disconnect"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection hooks: %v", s.Events)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Ctx.Sleep puts the actor to sleep once idle; onSleep runs.
	if _, err := call[any](t, e, id, "sleepNow"); err != nil {
		t.Fatal(err)
	}
	for !log.has("sleep") {
		if time.Now().After(deadline) {
			t.Fatal("Ctx.Sleep did not put the actor to sleep")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// onDestroy runs on a destroy from outside (REST DELETE path).
	if err := e.rt.Destroy(context.Background(), hostapi.Target{ActorID: id}); err != nil {
		t.Fatal(err)
	}
	if !log.has("destroy") {
		t.Fatal("onDestroy did not run")
	}
	if _, err := call[any](t, e, id, "read"); !errors.As(err, &pe) || pe.Code != "not_found" {
		t.Fatalf("after destroy: %v", err)
	}
}
