package router

import (
	"context"
	"sync"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
)

// moveBatcher writes the drain's placement moves in groups: each of
// moveWriters goroutines takes every move queued while it wrote its
// previous group and writes them with one store.MovePlacements call, so
// concurrent moves share one statement and one commit without waiting
// when alone, and up to moveWriters groups are written at once (a group
// spends most of its time waiting for its commit to be flushed; the
// groups' actors are disjoint, since an actor is in one move at a time,
// and each statement locks its rows in ID order). The queue is bounded;
// the goroutines end with close.
type moveBatcher struct {
	st     store.Mover
	in     chan *moveCall
	cancel context.CancelFunc
	done   chan struct{}
}

type moveCall struct {
	m    store.Move
	res  store.MoveResult
	err  error // the whole group failed
	done chan struct{}
}

func newMoveBatcher(st store.Mover) *moveBatcher {
	ctx, cancel := context.WithCancel(context.Background())
	b := &moveBatcher{st: st, in: make(chan *moveCall, 4*moveBatchMax), cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	for range moveWriters {
		wg.Add(1)
		go func() { defer wg.Done(); b.run(ctx) }()
	}
	go func() { wg.Wait(); close(b.done) }()
	return b
}

// moveWriters is how many MovePlacements groups are written at once.
const moveWriters = 4

// move queues m and waits for its group's outcome. When ctx ends first the
// move may still apply (the actor is then placed but not woken: its next
// request activates it).
func (b *moveBatcher) move(ctx context.Context, m store.Move) (store.MoveResult, error) {
	c := &moveCall{m: m, done: make(chan struct{})}
	select {
	case b.in <- c:
	case <-ctx.Done():
		return store.MoveResult{}, ctx.Err()
	case <-b.done:
		return store.MoveResult{}, store.ErrClosed
	}
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
		return store.MoveResult{}, ctx.Err()
	}
}

func (b *moveBatcher) run(ctx context.Context) {
	group := make([]*moveCall, 0, moveBatchMax)
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-b.in:
			group = append(group[:0], c)
		}
	fill:
		for len(group) < moveBatchMax {
			select {
			case c := <-b.in:
				group = append(group, c)
			default:
				break fill
			}
		}
		b.write(group)
	}
}

// write applies one group and answers its callers.
func (b *moveBatcher) write(group []*moveCall) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	moves := make([]store.Move, len(group))
	for i, c := range group {
		moves[i] = c.m
	}
	res, err := b.st.MovePlacements(ctx, moves)
	for i, c := range group {
		if err != nil {
			c.err = err
		} else {
			c.res = res[i]
		}
		close(c.done)
	}
}

// close ends the goroutine; calls queued but not written fail with
// store.ErrClosed.
func (b *moveBatcher) close() {
	b.cancel()
	<-b.done
	for {
		select {
		case c := <-b.in:
			c.err = store.ErrClosed
			close(c.done)
		default:
			return
		}
	}
}
