package boltstore

import (
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Engine is the ordered key/value engine under the store: nested buckets
// of sorted keys, with serialized, durable write transactions and
// consistent read transactions (bbolt's model, which the store's logic is
// written against). Open uses bbolt; internal/store/pebblestore supplies a
// Pebble engine that maps buckets to key prefixes.
//
// The contract is bbolt's: Update runs one write transaction at a time and
// returns only after it is durable (or rolled back when fn fails); View
// sees one consistent snapshot; slices a transaction returns are valid
// until it ends; a cursor or ForEach yields a nil value for a nested
// bucket; DeleteBucket of a missing bucket returns ErrBucketNotFound.
type Engine interface {
	Update(fn func(tx Tx) error) error
	View(fn func(tx Tx) error) error
	Path() string
	Close() error
}

// Tx is a transaction: the root of the top-level buckets.
type Tx interface {
	Bucket(name []byte) Bucket // nil when missing
	CreateBucketIfNotExists(name []byte) (Bucket, error)
}

// Bucket is a sorted key space holding values and nested buckets.
type Bucket interface {
	Get(key []byte) []byte // nil when missing or a nested bucket
	Put(key, value []byte) error
	Delete(key []byte) error
	Bucket(name []byte) Bucket // nil when missing
	CreateBucket(name []byte) (Bucket, error)
	CreateBucketIfNotExists(name []byte) (Bucket, error)
	DeleteBucket(name []byte) error
	Cursor() Cursor
	ForEach(fn func(k, v []byte) error) error
}

// Cursor walks a bucket's keys in order; every method returns a nil key
// past either end.
type Cursor interface {
	First() (k, v []byte)
	Last() (k, v []byte)
	Seek(seek []byte) (k, v []byte)
	Next() (k, v []byte)
	Prev() (k, v []byte)
	Delete() error // deletes the key the cursor is on
}

// Engine errors, shared by every engine so the store can test for them.
var (
	ErrBucketNotFound = berrors.ErrBucketNotFound
	ErrBucketExists   = berrors.ErrBucketExists
	ErrIncompatible   = berrors.ErrIncompatibleValue
)

// boltEngine is the bbolt Engine.
type boltEngine struct{ db *bolt.DB }

func (e boltEngine) Update(fn func(tx Tx) error) error {
	return e.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (e boltEngine) View(fn func(tx Tx) error) error {
	return e.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (e boltEngine) Path() string { return e.db.Path() }
func (e boltEngine) Close() error { return e.db.Close() }

type boltTx struct{ tx *bolt.Tx }

func (t boltTx) Bucket(name []byte) Bucket { return wrapBucket(t.tx.Bucket(name)) }

func (t boltTx) CreateBucketIfNotExists(name []byte) (Bucket, error) {
	b, err := t.tx.CreateBucketIfNotExists(name)
	return wrapBucket(b), err
}

type boltBucket struct{ b *bolt.Bucket }

// wrapBucket keeps a missing bucket a nil interface.
func wrapBucket(b *bolt.Bucket) Bucket {
	if b == nil {
		return nil
	}
	return boltBucket{b}
}

func (b boltBucket) Get(k []byte) []byte                      { return b.b.Get(k) }
func (b boltBucket) Put(k, v []byte) error                    { return b.b.Put(k, v) }
func (b boltBucket) Delete(k []byte) error                    { return b.b.Delete(k) }
func (b boltBucket) Bucket(name []byte) Bucket                { return wrapBucket(b.b.Bucket(name)) }
func (b boltBucket) DeleteBucket(name []byte) error           { return b.b.DeleteBucket(name) }
func (b boltBucket) Cursor() Cursor                           { return boltCursor{b.b.Cursor()} }
func (b boltBucket) ForEach(fn func(k, v []byte) error) error { return b.b.ForEach(fn) }

func (b boltBucket) CreateBucket(name []byte) (Bucket, error) {
	nb, err := b.b.CreateBucket(name)
	return wrapBucket(nb), err
}

func (b boltBucket) CreateBucketIfNotExists(name []byte) (Bucket, error) {
	nb, err := b.b.CreateBucketIfNotExists(name)
	return wrapBucket(nb), err
}

type boltCursor struct{ c *bolt.Cursor }

func (c boltCursor) First() ([]byte, []byte)        { return c.c.First() }
func (c boltCursor) Last() ([]byte, []byte)         { return c.c.Last() }
func (c boltCursor) Seek(k []byte) ([]byte, []byte) { return c.c.Seek(k) }
func (c boltCursor) Next() ([]byte, []byte)         { return c.c.Next() }
func (c boltCursor) Prev() ([]byte, []byte)         { return c.c.Prev() }
func (c boltCursor) Delete() error                  { return c.c.Delete() }
