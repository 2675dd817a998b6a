package pgstore

import (
	"context"
	"testing"

	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/storetest"
	"github.com/rivetkube/rivetkube/internal/testutil/pgtest"
)

// BenchmarkCommitter measures group commit over a throwaway PostgreSQL
// (fsync on); see storetest.BenchCommitter for the sub-benchmarks.
func BenchmarkCommitter(b *testing.B) {
	srv := pgtest.StartServer(b)
	url := srv.NewDatabase(b)
	storetest.BenchCommitter(b, func(b *testing.B) store.Store {
		s, err := Open(context.Background(), url, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	})
}
