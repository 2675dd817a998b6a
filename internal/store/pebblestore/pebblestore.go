package pebblestore

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
	"github.com/cockroachdb/pebble/vfs"

	"github.com/rivetkube/rivetkube/internal/store/boltstore"
)

// Store is the Pebble-backed store.Store: the store's logic
// (boltstore.Store) on the Pebble engine. It is safe for concurrent use.
type Store = boltstore.Store

// DefaultLockTimeout is how long Open waits for another process to release
// the data directory when Options.Timeout is zero.
const DefaultLockTimeout = 5 * time.Second

// Options configures Open.
type Options struct {
	// Timeout bounds the wait for the directory lock another process
	// holds. Zero means DefaultLockTimeout; negative waits forever.
	Timeout time.Duration
	// CacheSize is the block cache in bytes; zero means 32 MiB (8 MiB
	// thrashed: see docs/benchmarks.md, "Target 3 on Pebble").
	CacheSize int64
	// MemTableSize is the size of a memtable in bytes; zero means 4 MiB.
	MemTableSize uint64
	// WarmWAL, for a new store, fills and flushes two memtables of filler
	// before the first write (then deletes it; a few MiB, once): see
	// warmWAL.
	WarmWAL bool
}

// Open opens (creating if needed) the Pebble data directory dir. Only one
// process may hold it open at a time.
func Open(dir string, opts Options) (*Store, error) {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultLockTimeout
	}
	cacheSize := opts.CacheSize
	if cacheSize <= 0 {
		cacheSize = 32 << 20
	}
	cache := pebble.NewCache(cacheSize)
	defer cache.Unref() // the DB holds its own reference
	po := &pebble.Options{
		Cache:        cache,
		MemTableSize: opts.MemTableSize,
		Logger:       quietLogger{},
		// Bloom filters in every table: most reads are point reads
		// (getRecord, the key index, bucket markers) and many look for a
		// key that is absent (getOrCreate of a new key, an actor without
		// queue or schedules); without a filter each such read searches
		// every sorted table it could be in.
		Levels: []pebble.LevelOptions{{FilterPolicy: bloom.FilterPolicy(10)}},
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open pebble store %s: %w", dir, err)
	}
	// Take the directory lock first, waiting for another holder up to the
	// timeout (Pebble's Open fails at once on a held lock).
	deadline := time.Now().Add(timeout)
	var (
		lock *pebble.Lock
		err  error
	)
	for {
		lock, err = pebble.LockDirectory(dir, vfs.Default)
		if err == nil || (timeout > 0 && time.Now().After(deadline)) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("open pebble store %s: lock: %w", dir, err)
	}
	po.Lock = lock
	fresh := !IsPebbleDir(dir)
	db, err := pebble.Open(dir, po)
	if err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("open pebble store %s: %w", dir, err)
	}
	if fresh && opts.WarmWAL {
		err = warmWAL(db, po.MemTableSize)
	}
	var s *Store
	if err == nil {
		s, err = boltstore.New(&engine{db: db, lock: lock, path: dir})
	}
	if err != nil {
		_ = db.Close()
		_ = lock.Close()
		return nil, fmt.Errorf("open pebble store %s: %w", dir, err)
	}
	return s, nil
}

// warmKeys is the prefix of warmWAL's filler keys: 0xff sorts after every
// bucket (bucket names are ASCII), so no bucket ever sees them.
var warmKeys = []byte("\xffwarm")

// warmWAL makes a new store's WAL a recycled one. A sync of a WAL file
// that grows must also write the file's new size (on ext4 a journal
// commit besides the data); Pebble reuses the files of flushed WALs, which
// already have their size, so from then on a commit's sync writes data
// only. A new store would pay the growing kind until it had written two
// memtables; this writes them up front: filler, unsynced, deleted again
// before each flush, so the flush keeps none of it (only the range
// deletion) and no compaction has it to rewrite later. A crash before the
// end leaves at most filler, which no bucket reads.
func warmWAL(db *pebble.DB, memTable uint64) error {
	if memTable == 0 {
		memTable = 4 << 20
	}
	const chunk = 64 << 10
	filler := make([]byte, chunk)
	end := prefixEnd(warmKeys)
	for round := range 2 {
		for i := range memTable/chunk + 1 {
			k := fmt.Appendf(bytes.Clone(warmKeys), "%d-%d", round, i)
			if err := db.Set(k, filler, pebble.NoSync); err != nil {
				return fmt.Errorf("warm WAL: %w", err)
			}
		}
		if err := db.DeleteRange(warmKeys, end, pebble.NoSync); err != nil {
			return fmt.Errorf("warm WAL: %w", err)
		}
		if err := db.Flush(); err != nil {
			return fmt.Errorf("warm WAL: %w", err)
		}
	}
	return nil
}

// IsPebbleDir reports whether dir holds a Pebble store (its manifest
// pointer exists).
func IsPebbleDir(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "CURRENT"))
	return err == nil
}

// quietLogger drops Pebble's informational messages (compactions, WAL
// recycling) and keeps fatal ones.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	log.Printf("pebble: "+format, args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	log.Fatalf("pebble: "+format, args...)
}
