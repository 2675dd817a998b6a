package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
)

// benchActors creates and activates n actors and returns write templates.
func benchActors(b *testing.B, s store.Store, n int) []store.Write {
	b.Helper()
	ctx := context.Background()
	ns := newNS()
	ws := make([]store.Write, n)
	for i := range ws {
		id := fmt.Sprintf("bench-%s-%04d", ns, i)
		if _, err := s.CreateActor(ctx, store.ActorSpec{ID: id, Namespace: ns, Name: "counter", Key: []string{id}}); err != nil {
			b.Fatal(err)
		}
		a, err := s.Activate(ctx, id, "runner", 0)
		if err != nil {
			b.Fatal(err)
		}
		ws[i] = store.Write{ActorID: id, Generation: a.Generation}
	}
	return ws
}

var (
	benchState = make([]byte, 128)
	benchValue = make([]byte, 64)
)

// benchWrite is a typical action commit: a 128-byte state and one 64-byte
// KV put.
func benchWrite(tmpl store.Write, seq int) store.Write {
	w := tmpl
	w.State = benchState
	w.Puts = []store.KV{{Key: fmt.Appendf(nil, "k%03d", seq%100), Value: benchValue}}
	return w
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// BenchCommitter is the body of every store's BenchmarkCommitter. Its
// sub-benchmarks:
//   - group64: 64 submitters over 1,000 actors, each waiting until its
//     write is durable before it submits the next; reports writes/s, the
//     mean batch size and per-write latency percentiles.
//   - single: one submitter through the committer; ns/op is the latency
//     of one durable write.
//   - direct: Store.Commit with one write, without the committer.
//
// newStore is called once per sub-benchmark run and must register cleanup.
func BenchCommitter(b *testing.B, newStore func(b *testing.B) store.Store) {
	b.Run("group64", func(b *testing.B) {
		s := newStore(b)
		tmpls := benchActors(b, s, 1000)
		c := store.NewCommitter(s, store.CommitterOptions{})
		defer c.Close()

		const submitters = 64
		var (
			next atomic.Int64
			wg   sync.WaitGroup
			mu   sync.Mutex
			lat  []time.Duration
		)
		ctx := context.Background()
		b.ResetTimer()
		start := time.Now()
		for g := range submitters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for {
					n := int(next.Add(1)) - 1
					if n >= b.N {
						break
					}
					t0 := time.Now()
					p, err := c.Submit(ctx, benchWrite(tmpls[(g+n*submitters)%len(tmpls)], n))
					if err == nil {
						err = p.Err()
					}
					if err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		b.StopTimer()
		st := c.Stats()
		slices.Sort(lat)
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
		b.ReportMetric(float64(st.Writes)/float64(max(st.Batches, 1)), "writes/batch")
		b.ReportMetric(float64(percentile(lat, 0.5).Microseconds()), "p50-µs")
		b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "p99-µs")
	})

	b.Run("single", func(b *testing.B) {
		s := newStore(b)
		tmpls := benchActors(b, s, 1000)
		c := store.NewCommitter(s, store.CommitterOptions{})
		defer c.Close()
		ctx := context.Background()
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			p, err := c.Submit(ctx, benchWrite(tmpls[i%len(tmpls)], i))
			if err == nil {
				err = p.Err()
			}
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(percentile(lat, 0.5).Microseconds()), "p50-µs")
		b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "p99-µs")
	})

	b.Run("direct", func(b *testing.B) {
		s := newStore(b)
		tmpls := benchActors(b, s, 1000)
		ctx := context.Background()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			errs, err := s.Commit(ctx, []store.Write{benchWrite(tmpls[i%len(tmpls)], i)})
			if err == nil {
				err = errs[0]
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
