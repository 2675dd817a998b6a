package runner

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
)

// heldStore commits only when told to: it lets a test keep a gate pending.
type heldStore struct {
	store.Store
	release chan error
}

func (s *heldStore) Commit(_ context.Context, writes []store.Write) ([]error, error) {
	err := <-s.release
	return make([]error, len(writes)), err
}

type pumpEnv struct {
	t   *testing.T
	st  *heldStore
	cm  *store.Committer
	in  *Instance
	p   *pump
	mu  sync.Mutex
	got []string
}

func newPumpEnv(t *testing.T, size int) *pumpEnv {
	st := &heldStore{release: make(chan error)}
	e := &pumpEnv{t: t, st: st, cm: store.NewCommitter(st, store.CommitterOptions{})}
	e.in = &Instance{}
	e.p = newPump(e.in, size)
	t.Cleanup(func() {
		close(st.release)
		e.cm.Close()
	})
	return e
}

// gate submits a write that stays pending until the test releases it.
func (e *pumpEnv) gate() *store.Pending {
	p, err := e.cm.Submit(context.Background(), store.Write{ActorID: "a"})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// reply is a delivery that records its name (and error) when released.
func (e *pumpEnv) reply(name string) []delivery {
	return []delivery{{fn: func(err error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if err != nil {
			name += "!"
		}
		e.got = append(e.got, name)
	}}}
}

func (e *pumpEnv) delivered() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

func (e *pumpEnv) waitFor(n int) []string {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if got := e.delivered(); len(got) >= n {
			return got
		}
		time.Sleep(time.Millisecond)
	}
	e.t.Fatalf("timed out waiting for %d deliveries, got %v", n, e.delivered())
	return nil
}

func equal(a, b []string) bool {
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

func TestPumpDeliversAtOnceWithoutPendingCommit(t *testing.T) {
	e := newPumpEnv(t, 16)
	e.p.push(nil, e.reply("a"))
	if got := e.delivered(); !equal(got, []string{"a"}) {
		t.Fatalf("delivered %v, want [a] before push returned", got)
	}
}

func TestPumpKeepsOrderBehindPendingCommit(t *testing.T) {
	e := newPumpEnv(t, 16)
	g := e.gate()
	e.p.push(g, e.reply("a"))
	// No commit of its own, but it must not overtake a.
	e.p.push(nil, e.reply("b"))
	e.p.push(nil, e.reply("c"))
	time.Sleep(20 * time.Millisecond)
	if got := e.delivered(); len(got) != 0 {
		t.Fatalf("delivered %v before the commit was durable", got)
	}
	e.st.release <- nil
	if got := e.waitFor(3); !equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("delivered %v, want [a b c]", got)
	}
	// The queue is empty again: the next reply leaves at once.
	e.p.push(nil, e.reply("d"))
	if got := e.delivered(); !equal(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("delivered %v, want d at once", got)
	}
}

func TestPumpFailedCommitDropsOutputsAndStops(t *testing.T) {
	e := newPumpEnv(t, 16)
	e.p.push(e.gate(), e.reply("a"))
	e.st.release <- errors.New("disk on fire")
	if got := e.waitFor(1); !equal(got, []string{"a!"}) {
		t.Fatalf("delivered %v, want a with the commit error", got)
	}
	// The stop is requested right after the delivery, on the pump's
	// goroutine: wait for it rather than race it.
	var req *stopKind
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		e.in.mu.Lock()
		req = e.in.stopReq
		e.in.mu.Unlock()
		if req != nil {
			break
		}
	}
	if req == nil || *req != stopFailed {
		t.Fatalf("stop request = %v, want stopFailed", req)
	}
}

func TestPumpPushBlocksWhenFull(t *testing.T) {
	e := newPumpEnv(t, 2)
	e.p.push(e.gate(), e.reply("a")) // taken by run, waits for its commit
	time.Sleep(10 * time.Millisecond)
	e.p.push(nil, e.reply("b"))
	e.p.push(nil, e.reply("c")) // the queue is full now
	pushed := make(chan struct{})
	go func() {
		e.p.push(nil, e.reply("d"))
		close(pushed)
	}()
	select {
	case <-pushed:
		t.Fatal("push returned while the outbox was full")
	case <-time.After(50 * time.Millisecond):
	}
	e.st.release <- nil
	<-pushed
	if got := e.waitFor(4); !equal(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("delivered %v, want [a b c d]", got)
	}
}

func TestPumpCloseWaitsForQueuedOutputs(t *testing.T) {
	e := newPumpEnv(t, 16)
	e.p.push(e.gate(), e.reply("a"))
	e.p.push(nil, e.reply("b"))
	closed := make(chan struct{})
	go func() {
		e.p.close(context.Background())
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("close returned before the queued outputs were delivered")
	case <-time.After(30 * time.Millisecond):
	}
	e.st.release <- nil
	<-closed
	if got := e.delivered(); !equal(got, []string{"a", "b"}) {
		t.Fatalf("delivered %v, want [a b]", got)
	}
	// After close nothing leaves; a reply learns it was dropped.
	var gotErr error
	e.p.push(nil, []delivery{{fn: func(err error) { gotErr = err }}})
	if !errors.Is(gotErr, errPumpClosed) {
		t.Fatalf("reply after close got %v, want dropped_reply", gotErr)
	}
}
