package store

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rivetkube/rivetkube/internal/metrics"
)

// DefaultMaxBatch is the default most writes one group commit carries.
const DefaultMaxBatch = 512

// CommitterOptions configures NewCommitter.
type CommitterOptions struct {
	// MaxBatch caps the writes per Store.Commit call; <=0 means
	// DefaultMaxBatch.
	MaxBatch int
	// QueueSize bounds the writes waiting for a commit; Submit blocks while
	// the queue is full. <=0 means 4*MaxBatch.
	QueueSize int
	// Metrics, when set, records every group commit (rivetkube_store_*).
	Metrics *metrics.Store
}

// CommitterStats counts the work a Committer has done.
type CommitterStats struct {
	Batches uint64 // Store.Commit calls
	Writes  uint64 // writes handed to Store.Commit
}

// Committer group-commits writes of many actors: one goroutine drains a
// bounded queue, and while one Store.Commit is in flight new writes queue
// up; the next batch takes everything queued, up to MaxBatch. An idle
// committer commits a lone write at once, with no added delay.
//
// After a batch resolves, the committer yields the processor while each
// yield brings new writes (see gather), so submitters the batch just woke
// can queue their next writes into the next batch instead of the one
// after it. No timer is involved: when nothing arrives, one yield ends it.
//
// Writes are committed, and their Pendings resolved, in submission order:
// batches take a prefix of the FIFO queue and Store.Commit applies a batch
// in slice order, so the writes of one actor never overtake each other.
type Committer struct {
	s        BatchWriter
	maxBatch int
	queue    chan *Pending

	mu         sync.Mutex
	closed     bool
	closing    chan struct{} // closed by Close: Submit stops waiting
	submitters sync.WaitGroup
	stop       chan struct{} // closed once no Submit can enqueue any more
	done       chan struct{} // closed when the drain goroutine exits

	batches atomic.Uint64
	writes  atomic.Uint64
	metrics *metrics.Store
}

// Pending is the future outcome of a submitted write.
type Pending struct {
	w    Write
	done chan struct{}
	err  error

	mu        sync.Mutex
	resolved  bool
	callbacks []func()
}

// OnDone arranges for fn to run once the outcome is known: on the
// committer's goroutine when the commit resolves, right after done closes,
// or at once on the caller's goroutine when it already has. fn must not
// block: it delays the resolution of the rest of the batch.
func (p *Pending) OnDone(fn func()) {
	p.mu.Lock()
	if p.resolved {
		p.mu.Unlock()
		fn()
		return
	}
	p.callbacks = append(p.callbacks, fn)
	p.mu.Unlock()
}

// resolve sets the outcome, closes done and runs the callbacks.
func (p *Pending) resolve(err error) {
	p.err = err
	close(p.done)
	p.mu.Lock()
	p.resolved = true
	cbs := p.callbacks
	p.callbacks = nil
	p.mu.Unlock()
	for _, fn := range cbs {
		fn()
	}
}

// Done is closed once the write's outcome is known.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Err waits for the outcome and returns it: nil once the write is durable,
// else the per-write error (ErrFenced, ...) or the wrapped batch error.
func (p *Pending) Err() error {
	<-p.done
	return p.err
}

// Wait is Err bounded by ctx; a ctx error does not cancel the write.
func (p *Pending) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// BatchWriter is the one method of the store a Committer uses.
type BatchWriter interface {
	Commit(ctx context.Context, writes []Write) (errs []error, err error)
}

// NewCommitter starts a committer over s. Close stops it.
func NewCommitter(s BatchWriter, opts CommitterOptions) *Committer {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 4 * opts.MaxBatch
	}
	c := &Committer{
		s:        s,
		maxBatch: opts.MaxBatch,
		metrics:  opts.Metrics,
		queue:    make(chan *Pending, opts.QueueSize),
		closing:  make(chan struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go c.run()
	return c
}

// Submit queues w for the next group commit and returns its Pending. It
// blocks while the queue is full, until ctx is done (returning ctx's error;
// w is then not committed) or the committer closes (ErrClosed). After
// Close it fails at once with ErrClosed.
func (c *Committer) Submit(ctx context.Context, w Write) (*Pending, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("submit write: %w", ErrClosed)
	}
	c.submitters.Add(1)
	c.mu.Unlock()
	defer c.submitters.Done()

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := &Pending{w: w, done: make(chan struct{})}
	select {
	case c.queue <- p:
		return p, nil
	default:
	}
	select {
	case c.queue <- p:
		return p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closing:
		return nil, fmt.Errorf("submit write: %w", ErrClosed)
	}
}

// Close stops accepting writes, commits the writes already queued, and
// waits for the last commit. Later Submits fail with ErrClosed. Close does
// not close the Store.
func (c *Committer) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.done
		return
	}
	c.closed = true
	close(c.closing)
	c.mu.Unlock()
	c.submitters.Wait() // no Submit is between its check and its send now
	close(c.stop)
	<-c.done
}

// Stats returns the counts so far.
func (c *Committer) Stats() CommitterStats {
	return CommitterStats{Batches: c.batches.Load(), Writes: c.writes.Load()}
}

func (c *Committer) run() {
	defer close(c.done)
	batch := make([]*Pending, 0, c.maxBatch)
	writes := make([]Write, 0, c.maxBatch)
	for {
		select {
		case p := <-c.queue:
			batch = c.fill(append(batch[:0], p))
			writes = c.commit(batch, writes)
			c.gather()
		case <-c.stop:
			for {
				batch = c.fill(batch[:0])
				if len(batch) == 0 {
					return
				}
				writes = c.commit(batch, writes)
			}
		}
	}
}

// gather lets the submitters that the last commit woke queue their next
// writes before the next batch forms. Without it, a closed loop of N
// submitters (each waiting for its write before the next) settles into
// batches of about N/2: the writes queued during a commit go out at once,
// before the submitters that commit released are back. gather yields the
// processor (runtime.Gosched) as long as each yield finds more writes
// queued, up to a full batch; it never sleeps, so an idle committer loses
// only one yield.
func (c *Committer) gather() {
	for n := len(c.queue); n < c.maxBatch; {
		runtime.Gosched()
		m := len(c.queue)
		if m == n {
			return
		}
		n = m
	}
}

// fill appends queued writes to batch without waiting, up to maxBatch.
func (c *Committer) fill(batch []*Pending) []*Pending {
	for len(batch) < c.maxBatch {
		select {
		case p := <-c.queue:
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

// commit runs one Store.Commit and resolves the batch in order. It returns
// the writes buffer for reuse.
func (c *Committer) commit(batch []*Pending, writes []Write) []Write {
	writes = writes[:0]
	for _, p := range batch {
		writes = append(writes, p.w)
		p.w = Write{}
	}
	c.batches.Add(1)
	c.writes.Add(uint64(len(writes)))
	start := time.Now()
	errs, err := c.s.Commit(context.Background(), writes)
	if err == nil && len(errs) != len(writes) {
		err = fmt.Errorf("store returned %d results for %d writes", len(errs), len(writes))
	}
	c.observe(len(writes), time.Since(start), errs, err)
	if err != nil {
		err = fmt.Errorf("group commit of %d writes: %w", len(writes), err)
	}
	for i, p := range batch {
		if err != nil {
			p.resolve(err)
		} else {
			p.resolve(errs[i])
		}
		batch[i] = nil
	}
	clear(writes) // drop references to state and KV buffers
	return writes
}
