package pebblestore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cockroachdb/pebble"

	"github.com/rivetkube/rivetkube/internal/store/boltstore"
)

// Value tags: the first byte of every stored value.
const (
	tagValue  = 0 // a key's value follows
	tagBucket = 1 // the key names a nested bucket
)

// engine is the boltstore.Engine on Pebble (see doc.go for the layout).
type engine struct {
	db   *pebble.DB
	lock *pebble.Lock // the directory lock, released after the DB closes
	path string
	// wmu keeps one write transaction at a time, as bbolt does: the store
	// reads, checks and writes in one transaction (fences, the key index,
	// queue counters) and relies on no other write landing in between.
	wmu sync.Mutex
}

var _ boltstore.Engine = (*engine)(nil)

// reader is what a transaction reads from: an indexed batch (reads see its
// own writes) or a snapshot.
type reader interface {
	Get(key []byte) ([]byte, io.Closer, error)
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

// Update runs fn in an indexed batch and commits it with one WAL sync.
func (e *engine) Update(fn func(tx boltstore.Tx) error) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	b := e.db.NewIndexedBatch()
	t := &tx{r: b, b: b}
	err := fn(t)
	if cerr := t.closeIters(); err == nil {
		err = cerr
	}
	if err == nil && !b.Empty() {
		err = b.Commit(pebble.Sync)
	}
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	return err
}

// View runs fn on a snapshot.
func (e *engine) View(fn func(tx boltstore.Tx) error) error {
	s := e.db.NewSnapshot()
	t := &tx{r: s}
	err := fn(t)
	if cerr := t.closeIters(); err == nil {
		err = cerr
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

func (e *engine) Path() string { return e.path }

func (e *engine) Close() error {
	// Every write was synced when it committed; Flush is not needed for
	// durability, only to make the next open replay less WAL.
	err := e.db.Close()
	if lerr := e.lock.Close(); err == nil {
		err = lerr
	}
	return err
}

// tx is one transaction; b is nil for a read-only one.
type tx struct {
	r     reader
	b     *pebble.Batch
	iters []*pebble.Iterator
}

var errReadOnly = errors.New("pebblestore: write in a read-only transaction")

func (t *tx) closeIters() error {
	var err error
	for _, it := range t.iters {
		if cerr := it.Close(); err == nil {
			err = cerr
		}
	}
	t.iters = nil
	return err
}

// root is the bucket of the top-level buckets: the empty prefix.
func (t *tx) root() *bucket { return &bucket{t: t} }

// Bucket returns a top-level bucket. Open creates every one the store
// uses, so it is not looked up.
func (t *tx) Bucket(name []byte) boltstore.Bucket {
	return &bucket{t: t, prefix: appendComponent(nil, name)}
}

func (t *tx) CreateBucketIfNotExists(name []byte) (boltstore.Bucket, error) {
	return t.root().CreateBucketIfNotExists(name)
}

// get returns a copy of the stored value of key, nil when missing.
func (t *tx) get(key []byte) ([]byte, error) {
	v, c, err := t.r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(v)
	if out == nil {
		out = []byte{}
	}
	return out, c.Close()
}

// bucket is a bucket at prefix (the encoded path of its names).
type bucket struct {
	t      *tx
	prefix []byte
}

func (b *bucket) key(k []byte) []byte {
	dst := make([]byte, len(b.prefix), len(b.prefix)+len(k)+4)
	copy(dst, b.prefix)
	return appendComponent(dst, k)
}

// Get returns the value of k; nil when missing or a bucket. A read error
// panics: the store's logic, written for bbolt, has no error to return
// (bbolt's reads are memory reads), and the group writer and the callers
// of View turn a panic into a failed transaction only where it is safe:
// see get's callers.
func (b *bucket) Get(k []byte) []byte {
	v, err := b.t.get(b.key(k))
	if err != nil {
		panic(fmt.Errorf("pebblestore: get: %w", err))
	}
	if len(v) == 0 || v[0] != tagValue {
		return nil
	}
	return v[1:]
}

func (b *bucket) Put(k, v []byte) error {
	if b.t.b == nil {
		return errReadOnly
	}
	val := make([]byte, 1+len(v))
	val[0] = tagValue
	copy(val[1:], v)
	return b.t.b.Set(b.key(k), val, nil)
}

func (b *bucket) Delete(k []byte) error {
	if b.t.b == nil {
		return errReadOnly
	}
	return b.t.b.Delete(b.key(k), nil)
}

// child returns the nested bucket name and whether it exists.
func (b *bucket) child(name []byte) (*bucket, bool, error) {
	k := b.key(name)
	v, err := b.t.get(k)
	if err != nil {
		return nil, false, err
	}
	if v != nil && (len(v) == 0 || v[0] != tagBucket) {
		return nil, false, boltstore.ErrIncompatible
	}
	return &bucket{t: b.t, prefix: k}, v != nil, nil
}

func (b *bucket) Bucket(name []byte) boltstore.Bucket {
	c, ok, err := b.child(name)
	if err != nil && !errors.Is(err, boltstore.ErrIncompatible) {
		panic(fmt.Errorf("pebblestore: bucket: %w", err))
	}
	if !ok {
		return nil
	}
	return c
}

func (b *bucket) CreateBucket(name []byte) (boltstore.Bucket, error) {
	c, ok, err := b.child(name)
	if err != nil {
		return nil, err
	}
	if ok {
		return nil, boltstore.ErrBucketExists
	}
	return c, b.mark(c)
}

func (b *bucket) CreateBucketIfNotExists(name []byte) (boltstore.Bucket, error) {
	c, ok, err := b.child(name)
	if err != nil || ok {
		return c, err
	}
	return c, b.mark(c)
}

func (b *bucket) mark(c *bucket) error {
	if b.t.b == nil {
		return errReadOnly
	}
	return b.t.b.Set(c.prefix, []byte{tagBucket}, nil)
}

// DeleteBucket drops the nested bucket and everything under it with one
// range deletion (its marker key included: the range starts at it).
func (b *bucket) DeleteBucket(name []byte) error {
	c, ok, err := b.child(name)
	if err != nil {
		return err
	}
	if !ok {
		return boltstore.ErrBucketNotFound
	}
	if b.t.b == nil {
		return errReadOnly
	}
	return b.t.b.DeleteRange(c.prefix, prefixEnd(c.prefix), nil)
}

func (b *bucket) Cursor() boltstore.Cursor { return &cursor{b: b} }

func (b *bucket) ForEach(fn func(k, v []byte) error) error {
	c := &cursor{b: b}
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return c.err
}

// cursor walks the direct entries of a bucket: a nested bucket's contents
// sort right after its marker and are skipped.
type cursor struct {
	b   *bucket
	it  *pebble.Iterator
	err error
	cur []byte // the stored key the cursor is on
	// onBucket: cur is a nested bucket's key, which Delete refuses (as
	// bbolt does).
	onBucket bool
}

// iter opens a new iterator: each positioning call from scratch (First,
// Last, Seek) takes a fresh one, so in a write transaction it sees the
// writes made so far.
func (c *cursor) iter() {
	// The lower bound leaves out the bucket's own marker key (the prefix
	// itself): every entry's key goes on with 0x00 or a higher byte.
	lower := append(bytes.Clone(c.b.prefix), 0)
	it, err := c.b.t.r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(c.b.prefix)})
	if err != nil {
		c.err = err
		panic(fmt.Errorf("pebblestore: iterator: %w", err))
	}
	c.b.t.iters = append(c.b.t.iters, it)
	c.it = it
}

func (c *cursor) First() ([]byte, []byte) {
	c.iter()
	return c.entry(c.it.First(), true)
}

func (c *cursor) Last() ([]byte, []byte) {
	c.iter()
	return c.entry(c.it.Last(), false)
}

func (c *cursor) Seek(k []byte) ([]byte, []byte) {
	c.iter()
	return c.entry(c.it.SeekGE(append(bytes.Clone(c.b.prefix), escape(k)...)), true)
}

func (c *cursor) Next() ([]byte, []byte) {
	if c.it == nil || c.cur == nil {
		return nil, nil
	}
	return c.entry(c.it.Next(), true)
}

func (c *cursor) Prev() ([]byte, []byte) {
	if c.it == nil || c.cur == nil {
		return nil, nil
	}
	return c.entry(c.it.Prev(), false)
}

func (c *cursor) Delete() error {
	if c.cur == nil {
		return nil
	}
	if c.onBucket {
		return boltstore.ErrIncompatible
	}
	if c.b.t.b == nil {
		return errReadOnly
	}
	return c.b.t.b.Delete(c.cur, nil)
}

// entry decodes the position the iterator moved to; forward says which
// way it moved, to step over the contents of nested buckets.
func (c *cursor) entry(valid, forward bool) ([]byte, []byte) {
	for valid {
		key := c.it.Key()
		name, rest, ok := splitComponent(key[len(c.b.prefix):])
		if !ok {
			c.err = fmt.Errorf("pebblestore: bad key %x", key)
			panic(c.err)
		}
		if len(rest) > 0 {
			// Inside a nested bucket: go to its marker (backwards) or past
			// its contents (forwards).
			marker := key[:len(key)-len(rest)]
			if forward {
				valid = c.it.SeekGE(prefixEnd(marker))
			} else {
				valid = c.it.SeekGE(bytes.Clone(marker))
				forward = true // from the marker on, as after a seek
			}
			continue
		}
		c.cur = bytes.Clone(key)
		v := c.it.Value()
		c.onBucket = len(v) > 0 && v[0] == tagBucket
		if c.onBucket {
			return name, nil
		}
		if len(v) == 0 {
			return name, []byte{}
		}
		return name, bytes.Clone(v[1:])
	}
	c.cur = nil
	if err := c.it.Error(); err != nil {
		c.err = err
		panic(fmt.Errorf("pebblestore: iterate: %w", err))
	}
	return nil, nil
}
