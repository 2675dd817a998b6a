// Package benchkit holds the measuring and printing helpers shared by the
// benchmark commands bench (local engine) and bench/pg (PostgreSQL engine):
// latency samples and their percentiles, CPU accounting (this process by
// getrusage, a watched process tree from /proc), the sequential, concurrent
// and throughput loops, the load average, machine details, and the result
// table with its duration formatting.
package benchkit

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Samples are latencies, sorted on demand by P, and the CPU time spent on
// them.
type Samples struct {
	d      []time.Duration
	sorted bool
	CPU    CPU
}

// Add records one latency.
func (s *Samples) Add(d time.Duration) { s.d = append(s.d, d); s.sorted = false }

// N is the number of latencies recorded.
func (s *Samples) N() int { return len(s.d) }

// P is the q-th percentile (q from 0 to 100): the sorted latency at index
// (n-1)·q/100, rounded down; 0 without samples.
func (s *Samples) P(q float64) time.Duration {
	if len(s.d) == 0 {
		return 0
	}
	if !s.sorted {
		slices.Sort(s.d)
		s.sorted = true
	}
	return s.d[int(float64(len(s.d)-1)*q/100)]
}

// Sequential measures fns one call at a time: a warm-up of each (not
// recorded), then total of recorded calls each, split into rounds that
// alternate between the functions so that every function sees the same
// machine conditions. The CPU time of each function's calls is read from
// cpu.
func Sequential(warmup, total time.Duration, rounds int, cpu CPUMeter, fns ...func() error) ([]*Samples, error) {
	rounds = max(rounds, 1)
	out := make([]*Samples, len(fns))
	for i, fn := range fns {
		out[i] = &Samples{d: make([]time.Duration, 0, 1<<14)}
		for end := time.Now().Add(warmup); time.Now().Before(end); {
			if err := fn(); err != nil {
				return nil, err
			}
		}
	}
	slice := total / time.Duration(rounds)
	for range rounds {
		for i, fn := range fns {
			c0 := cpu.Now()
			for end := time.Now().Add(slice); time.Now().Before(end); {
				t0 := time.Now()
				if err := fn(); err != nil {
					return nil, err
				}
				out[i].Add(time.Since(t0))
			}
			out[i].CPU = out[i].CPU.Add(cpu.Now().Sub(c0))
		}
	}
	return out, nil
}

// ConcurrentEach calls fn(0..n-1) with conc workers and returns each call's
// latency (with the CPU time of them all) and the total time. The first
// error stops the workers and is returned.
func ConcurrentEach(n, conc int, cpu CPUMeter, fn func(i int) error) (*Samples, time.Duration, error) {
	lat := make([]time.Duration, n)
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	t0, c0 := time.Now(), cpu.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t := time.Now()
				if err := fn(i); err != nil {
					errOnce.Do(func() { firstErr = err })
					next.Store(int64(n))
					return
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	return &Samples{d: lat, CPU: cpu.Now().Sub(c0)}, time.Since(t0), firstErr
}

// Throughput runs callers goroutines calling fn(i), i the caller's index,
// and counts the operations (fn's first result) completed during dur after
// a warm-up that is not counted. It returns that count, the measured time,
// the CPU time in it, and the first error, which stops every caller.
func Throughput(callers int, warmup, dur time.Duration, cpu CPUMeter, fn func(i int) (int, error)) (int64, time.Duration, CPU, error) {
	var (
		n        atomic.Int64
		counting atomic.Bool
		stop     atomic.Bool
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				k, err := fn(i)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					stop.Store(true)
					return
				}
				if counting.Load() {
					n.Add(int64(k))
				}
			}
		}()
	}
	time.Sleep(warmup)
	counting.Store(true)
	t0, c0 := time.Now(), cpu.Now()
	time.Sleep(dur)
	counting.Store(false)
	d, used := time.Since(t0), cpu.Now().Sub(c0)
	stop.Store(true)
	wg.Wait()
	return n.Load(), d, used, firstErr
}
