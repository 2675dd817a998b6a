package pebblestore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble"

	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/storetest"
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "pebble"), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func openPath(path string) (store.Store, error) { return Open(path, Options{}) }

func TestOpenLocked(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "pebble")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s2, err := Open(dir, Options{Timeout: 1}); err == nil {
		s2.Close()
		t.Fatal("second Open of a locked directory succeeded")
	}
	if !IsPebbleDir(dir) {
		t.Fatal("IsPebbleDir = false for an open store")
	}
}

func TestMain(m *testing.M) {
	storetest.CrashChild(openPath)
	os.Exit(m.Run())
}

// TestOnDisk: a reopen keeps everything; a kill -9 of a writing process
// loses nothing it acknowledged.
func TestOnDisk(t *testing.T) {
	t.Parallel()
	storetest.RunOnDisk(t, "pebble", openPath)
}

// TestWarmWAL: a new store opened with WarmWAL works as any other, keeps
// its data across a reopen, and no filler key is left visible.
func TestWarmWAL(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "pebble")
	open := func(path string) (store.Store, error) { return Open(path, Options{WarmWAL: true}) }
	s, err := Open(dir, Options{WarmWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	e := s.Engine().(*engine)
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: warmKeys})
	if err != nil {
		t.Fatal(err)
	}
	if it.First() {
		t.Errorf("filler key %q left after the warm-up", it.Key())
	}
	_ = it.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	storetest.Reopen(t, dir, open)
}
