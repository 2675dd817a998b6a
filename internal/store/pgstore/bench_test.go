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

// BenchmarkCommitOne measures Commit of one state-only write (the
// committer's lone write) on one connection; its allocations are the
// store's own share of a durable write.
func BenchmarkCommitOne(b *testing.B) {
	url := pgtest.StartServer(b).NewDatabase(b)
	ctx := context.Background()
	s, err := Open(ctx, url, Options{MaxConns: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	a, err := s.CreateActor(ctx, store.ActorSpec{ID: "0123456789abcdef0123456789abcdef", Namespace: "default", Name: "counter", Key: []string{"k"}})
	if err != nil {
		b.Fatal(err)
	}
	a, err = s.Activate(ctx, a.ID, "r", 0)
	if err != nil {
		b.Fatal(err)
	}
	st := []byte{0xa1, 0x61, 0x6e, 0x05}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		errs, err := s.Commit(ctx, []store.Write{{ActorID: a.ID, Generation: a.Generation, State: st}})
		if err != nil || errs[0] != nil {
			b.Fatal(err, errs)
		}
	}
}
