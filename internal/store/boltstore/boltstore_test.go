package boltstore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/storetest"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "rivet.db"), Options{})
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
	path := filepath.Join(t.TempDir(), "rivet.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// bbolt takes an flock per open file description, so a second Open of
	// the same file (even in-process) must wait for the lock and time out.
	if s2, err := Open(path, Options{Timeout: 1}); err == nil {
		s2.Close()
		t.Fatal("second Open of a locked file succeeded")
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
	storetest.RunOnDisk(t, "rivet.db", openPath)
}
