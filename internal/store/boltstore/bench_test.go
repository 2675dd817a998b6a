package boltstore

import (
	"path/filepath"
	"testing"

	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/storetest"
)

// BenchmarkCommitter measures group commit over the bolt store; see
// storetest.BenchCommitter for the sub-benchmarks and metrics.
func BenchmarkCommitter(b *testing.B) {
	storetest.BenchCommitter(b, func(b *testing.B) store.Store {
		s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	})
}
