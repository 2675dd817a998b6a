package boltstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func openGroup(t *testing.T) (*bolt.DB, *groupWriter) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	return db, &groupWriter{db: boltEngine{db}}
}

// TestGroupWriter runs concurrent calls, some of which fail: each call
// returns only once its transaction committed (a new read transaction sees
// its key), a failing call gets its own error and leaves nothing behind,
// the others commit, and concurrent calls share transactions.
func TestGroupWriter(t *testing.T) {
	t.Parallel()
	db, g := openGroup(t)
	const n = 200
	errBad := errors.New("bad call")
	var mu sync.Mutex
	txs := map[int]bool{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			key := []byte(fmt.Sprintf("k%03d", i))
			err := g.do(func(tx Tx) error {
				mu.Lock()
				txs[int(tx.(boltTx).tx.ID())] = true
				mu.Unlock()
				if err := tx.Bucket([]byte("b")).Put(key, []byte("v")); err != nil {
					return err
				}
				if i%17 == 0 {
					return errBad // after its put: the put must roll back
				}
				return nil
			})
			if i%17 == 0 {
				if !errors.Is(err, errBad) {
					t.Errorf("call %d: %v, want its own error", i, err)
				}
			} else if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
			// Acknowledged means committed: a new transaction sees it.
			_ = db.View(func(tx *bolt.Tx) error {
				got := tx.Bucket([]byte("b")).Get(key)
				if i%17 != 0 && got == nil {
					t.Errorf("call %d returned before its commit", i)
				}
				return nil
			})
		})
	}
	wg.Wait()
	_ = db.View(func(tx *bolt.Tx) error {
		for i := range n {
			got := tx.Bucket([]byte("b")).Get([]byte(fmt.Sprintf("k%03d", i)))
			if (got != nil) == (i%17 == 0) {
				t.Errorf("key %d present = %v", i, got != nil)
			}
		}
		return nil
	})
	t.Logf("%d calls in %d transactions (retries included)", n, len(txs))
	if len(txs) >= n {
		t.Errorf("%d calls ran in %d transactions: no call shared one", n, len(txs))
	}
}

// TestGroupWriterPanic: a panicking call reaches its own caller; the
// others in its group commit.
func TestGroupWriterPanic(t *testing.T) {
	t.Parallel()
	db, g := openGroup(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			defer func() {
				r := recover()
				if (r != nil) != (i == 7) {
					t.Errorf("call %d: recovered %v", i, r)
				}
			}()
			_ = g.do(func(tx Tx) error {
				if i == 7 {
					panic("boom")
				}
				return tx.Bucket([]byte("b")).Put([]byte{byte(i)}, []byte("v"))
			})
		})
	}
	wg.Wait()
	_ = db.View(func(tx *bolt.Tx) error {
		for i := range 20 {
			if got := tx.Bucket([]byte("b")).Get([]byte{byte(i)}); (got != nil) == (i == 7) {
				t.Errorf("key %d present = %v", i, got != nil)
			}
		}
		return nil
	})
}

// boltDB is the store's bbolt database, for tests that look inside it.
func (s *Store) boltDB() *bolt.DB { return s.db.(boltEngine).db }
