package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// fakeStore implements only Commit; the committer calls nothing else. Its
// Commit can be held at a gate so tests control when a batch finishes.
type fakeStore struct {
	Store // nil: any other method panics

	gate    chan struct{} // when non-nil, each Commit takes one token first
	entered chan int      // when non-nil, receives each batch size on entry
	fail    func(batch int) error

	mu      sync.Mutex
	batches [][]Write
}

func (f *fakeStore) Commit(ctx context.Context, ws []Write) ([]error, error) {
	if f.entered != nil {
		f.entered <- len(ws)
	}
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	n := len(f.batches)
	f.batches = append(f.batches, slices.Clone(ws))
	f.mu.Unlock()
	if f.fail != nil {
		if err := f.fail(n); err != nil {
			return nil, err
		}
	}
	errs := make([]error, len(ws))
	for i, w := range ws {
		if w.Generation == 0 {
			errs[i] = fmt.Errorf("fake: %w", ErrFenced)
		}
	}
	return errs, nil
}

func (f *fakeStore) sizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for _, b := range f.batches {
		out = append(out, len(b))
	}
	return out
}

func mustSubmit(t *testing.T, c *Committer, w Write) *Pending {
	t.Helper()
	p, err := c.Submit(context.Background(), w)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return p
}

// TestCommitterBatches holds the first commit in flight, queues 100 writes
// behind it, and checks they all go out in the next single Commit call.
func TestCommitterBatches(t *testing.T) {
	t.Parallel()
	f := &fakeStore{gate: make(chan struct{}), entered: make(chan int, 16)}
	c := NewCommitter(f, CommitterOptions{})
	defer c.Close()

	first := mustSubmit(t, c, Write{ActorID: "a", Generation: 1})
	if n := <-f.entered; n != 1 {
		t.Fatalf("idle committer sent a batch of %d, want 1", n)
	}
	var wg sync.WaitGroup
	ps := make([]*Pending, 100)
	for i := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ps[i] = mustSubmit(t, c, Write{ActorID: fmt.Sprint("actor-", i), Generation: 1})
		}()
	}
	wg.Wait() // every write is queued behind the in-flight commit
	f.gate <- struct{}{}
	if err := first.Err(); err != nil {
		t.Fatal(err)
	}
	if n := <-f.entered; n != 100 {
		t.Fatalf("second batch carried %d writes, want all 100 queued ones", n)
	}
	f.gate <- struct{}{}
	for _, p := range ps {
		if err := p.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.sizes(); !slices.Equal(got, []int{1, 100}) {
		t.Fatalf("batch sizes %v, want [1 100]", got)
	}
	if st := c.Stats(); st.Batches != 2 || st.Writes != 101 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCommitterMaxBatch(t *testing.T) {
	t.Parallel()
	f := &fakeStore{gate: make(chan struct{}), entered: make(chan int, 16)}
	c := NewCommitter(f, CommitterOptions{MaxBatch: 10})
	defer c.Close()
	var ps []*Pending
	ps = append(ps, mustSubmit(t, c, Write{ActorID: "a", Generation: 1}))
	<-f.entered
	for i := range 25 {
		ps = append(ps, mustSubmit(t, c, Write{ActorID: "a", Generation: 1, State: []byte{byte(i)}}))
	}
	for range 4 {
		f.gate <- struct{}{}
	}
	for _, p := range ps {
		if err := p.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.sizes(); !slices.Equal(got, []int{1, 10, 10, 5}) {
		t.Fatalf("batch sizes %v, want [1 10 10 5]", got)
	}
}

// TestCommitterOrder submits sequences per actor from many goroutines and
// checks commit order and resolution order per actor.
func TestCommitterOrder(t *testing.T) {
	t.Parallel()
	f := &fakeStore{}
	c := NewCommitter(f, CommitterOptions{MaxBatch: 7, QueueSize: 16})
	defer c.Close()
	const actors, perActor = 20, 200
	var wg sync.WaitGroup
	errc := make(chan error, actors)
	for a := range actors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("actor-", a)
			ps := make([]*Pending, perActor)
			for i := range ps {
				p, err := c.Submit(context.Background(), Write{ActorID: id, Generation: 1, State: []byte(fmt.Sprint(i))})
				if err != nil {
					errc <- err
					return
				}
				ps[i] = p
			}
			for i, p := range ps {
				<-p.Done()
				for j := range i { // every earlier write is resolved already
					select {
					case <-ps[j].Done():
					default:
						errc <- fmt.Errorf("%s: write %d resolved before write %d", id, i, j)
						return
					}
				}
				if err := p.Err(); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	next := map[string]int{}
	total := 0
	for _, b := range f.batches {
		if len(b) > 7 {
			t.Fatalf("batch of %d exceeds MaxBatch 7", len(b))
		}
		for _, w := range b {
			if want := fmt.Sprint(next[w.ActorID]); string(w.State) != want {
				t.Fatalf("%s: committed write %s, want %s next", w.ActorID, w.State, want)
			}
			next[w.ActorID]++
			total++
		}
	}
	if total != actors*perActor {
		t.Fatalf("committed %d writes, want %d", total, actors*perActor)
	}
	if len(f.batches) >= total {
		t.Fatalf("%d commits for %d writes: no batching", len(f.batches), total)
	}
}

func TestCommitterErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk on fire")
	f := &fakeStore{gate: make(chan struct{}), entered: make(chan int, 16),
		fail: func(n int) error {
			if n == 1 {
				return boom
			}
			return nil
		}}
	c := NewCommitter(f, CommitterOptions{})
	defer c.Close()

	// Batch 0: a per-write error does not affect its neighbour.
	good := mustSubmit(t, c, Write{ActorID: "a", Generation: 1})
	<-f.entered
	// Batch 1 (fails as a whole): three writes queued behind batch 0.
	var failing []*Pending
	for range 3 {
		failing = append(failing, mustSubmit(t, c, Write{ActorID: "b", Generation: 1}))
	}
	f.gate <- struct{}{}
	if err := good.Err(); err != nil {
		t.Fatalf("good write: %v", err)
	}
	<-f.entered
	f.gate <- struct{}{}
	for _, p := range failing {
		if err := p.Err(); !errors.Is(err, boom) {
			t.Fatalf("write of failed batch: %v, want wrapped %v", err, boom)
		}
	}
	// Batch 2: per-write results.
	ok := mustSubmit(t, c, Write{ActorID: "c", Generation: 1})
	fenced := mustSubmit(t, c, Write{ActorID: "c", Generation: 0})
	<-f.entered
	f.gate <- struct{}{}
	if err := ok.Err(); err != nil {
		t.Fatalf("good write: %v", err)
	}
	if err := fenced.Err(); !errors.Is(err, ErrFenced) {
		t.Fatalf("fenced write: %v", err)
	}
}

func TestCommitterClose(t *testing.T) {
	t.Parallel()
	f := &fakeStore{gate: make(chan struct{}), entered: make(chan int, 16)}
	c := NewCommitter(f, CommitterOptions{})
	inflight := mustSubmit(t, c, Write{ActorID: "a", Generation: 1})
	<-f.entered
	queued := mustSubmit(t, c, Write{ActorID: "a", Generation: 1})

	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	// Close flushes: the queued write still commits.
	f.gate <- struct{}{}
	<-f.entered
	f.gate <- struct{}{}
	<-closed
	if err := inflight.Err(); err != nil {
		t.Fatal(err)
	}
	if err := queued.Err(); err != nil {
		t.Fatalf("write queued before Close: %v", err)
	}
	if _, err := c.Submit(context.Background(), Write{ActorID: "a", Generation: 1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close: %v, want ErrClosed", err)
	}
	c.Close() // idempotent
}

// TestCommitterBoundedQueue fills the queue behind a held commit and checks
// that Submit blocks until its ctx ends or the committer closes.
func TestCommitterBoundedQueue(t *testing.T) {
	t.Parallel()
	f := &fakeStore{gate: make(chan struct{}), entered: make(chan int, 16)}
	c := NewCommitter(f, CommitterOptions{MaxBatch: 4, QueueSize: 2})
	inflight := mustSubmit(t, c, Write{ActorID: "a", Generation: 1})
	<-f.entered
	q1 := mustSubmit(t, c, Write{ActorID: "a", Generation: 1, State: []byte("q1")})
	q2 := mustSubmit(t, c, Write{ActorID: "a", Generation: 1, State: []byte("q2")})

	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		_, err := c.Submit(ctx, Write{ActorID: "a", Generation: 1, State: []byte("dropped")})
		res <- err
	}()
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("Submit on a full queue with a canceled ctx: %v", err)
	}

	// A Submit blocked on the full queue is released by Close.
	go func() {
		_, err := c.Submit(context.Background(), Write{ActorID: "a", Generation: 1, State: []byte("late")})
		res <- err
	}()
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	if err := <-res; err != nil && !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit blocked during Close: %v", err)
	}
	// Release the held commit and the flush of the queue.
	f.gate <- struct{}{}
	for range 2 {
		select {
		case <-closed:
		case <-f.entered:
			f.gate <- struct{}{}
		}
	}
	<-closed
	for _, p := range []*Pending{inflight, q1, q2} {
		if err := p.Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range f.batches {
		for _, w := range b {
			if string(w.State) == "dropped" {
				t.Fatal("a write whose Submit failed was committed")
			}
		}
	}
}

func TestPendingWait(t *testing.T) {
	t.Parallel()
	f := &fakeStore{gate: make(chan struct{}), entered: make(chan int, 1)}
	c := NewCommitter(f, CommitterOptions{})
	defer c.Close()
	p := mustSubmit(t, c, Write{ActorID: "a", Generation: 1})
	<-f.entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with canceled ctx before commit: %v", err)
	}
	f.gate <- struct{}{}
	if err := p.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestPendingOnDone: a callback registered before the commit resolves runs
// after done is closed, with the outcome set, in registration order; one
// registered afterwards runs at once.
func TestPendingOnDone(t *testing.T) {
	t.Parallel()
	f := &fakeStore{gate: make(chan struct{}), entered: make(chan int, 2)}
	c := NewCommitter(f, CommitterOptions{})
	defer c.Close()
	p := mustSubmit(t, c, Write{ActorID: "a", Generation: 0}) // fenced by the fake
	<-f.entered
	got := make(chan string, 3)
	for _, name := range []string{"first", "second"} {
		p.OnDone(func() {
			select {
			case <-p.Done():
			default:
				t.Error("callback ran before done closed")
			}
			if !errors.Is(p.Err(), ErrFenced) {
				t.Errorf("callback sees %v, want ErrFenced", p.Err())
			}
			got <- name
		})
	}
	select {
	case n := <-got:
		t.Fatalf("callback %s ran before the commit resolved", n)
	default:
	}
	f.gate <- struct{}{}
	if a, b := <-got, <-got; a != "first" || b != "second" {
		t.Fatalf("callbacks ran as %s, %s", a, b)
	}
	p.OnDone(func() { got <- "late" })
	select {
	case n := <-got:
		if n != "late" {
			t.Fatal(n)
		}
	default:
		t.Fatal("a callback registered after resolution did not run at once")
	}
}
