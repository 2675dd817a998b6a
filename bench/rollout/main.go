// Command rollout measures a version rollout of the distributed engine:
// N awake actors on version 1, writers incrementing random actors the
// whole time, then version 2 comes up and the routing drains version 1
// into it at an asked rate. It prints actors moved per second against the
// rate asked, the calls and failures during the roll, call p50/p99 during
// the roll against steady state, and lost writes (acknowledged increments
// missing from the final counts; must be 0).
//
// It is a measurement, not a test: it never fails on a figure (it exits
// non-zero only when it cannot run). Everything runs on this machine: a
// throwaway PostgreSQL (internal/testutil/pgtest), one gateway
// (gateway.Start) and the runners of both versions (Registry.RunRunner on
// loopback ports) in this process, and the writers.
//
//	go run ./bench/rollout                           # 10,000 actors at 2,000/s
//	go run ./bench/rollout -actors 100000 -rate 2000 # the target size
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rivetkube/rivetkube/bench/internal/benchkit"
	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/examples/quickstart/actors"
	"github.com/rivetkube/rivetkube/gateway"
	"github.com/rivetkube/rivetkube/internal/admin"
	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/testutil/pgtest"
	"github.com/rivetkube/rivetkube/rivet"
)

type options struct {
	actors       int
	rate         float64
	writers      int
	runners      int
	createConc   int
	steady       time.Duration
	after        time.Duration
	drainWorkers int
	pgURL        string
	maxLoad      float64
	runnerConns  int
	cpuProfile   string
	pgStats      bool
	poll         time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.actors, "actors", 10_000, "awake actors on version 1 before the roll (100000 for the issue's target)")
	flag.Float64Var(&o.rate, "rate", 2000, "drain rate asked, actors per second")
	flag.IntVar(&o.writers, "writers", 16, "concurrent writers incrementing random actors through the roll")
	flag.IntVar(&o.runners, "runners", 2, "runners per version")
	flag.IntVar(&o.createConc, "create-conc", 64, "concurrency of the actor creation")
	flag.DurationVar(&o.steady, "steady", 5*time.Second, "steady-state measurement before the roll")
	flag.DurationVar(&o.after, "after", 2*time.Second, "writes kept on after the roll")
	flag.IntVar(&o.drainWorkers, "drain-workers", 768, "the gateway's concurrent moves (DrainWorkers)")
	flag.StringVar(&o.pgURL, "postgres", "", "use this PostgreSQL database instead of a throwaway server")
	flag.Float64Var(&o.maxLoad, "max-load", 2.5, "warn when the 1-minute load average is above this before measuring")
	flag.IntVar(&o.runnerConns, "runner-conns", 16, "PostgreSQL pool size of each runner")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the roll (this process: gateway, runners, writers) to this file")
	flag.BoolVar(&o.pgStats, "pg-stats", false, "load pg_stat_statements into the throwaway PostgreSQL and print the statements of the roll by total time")
	flag.DurationVar(&o.poll, "poll", 2*time.Second, "how often the pool status is read during the roll (each read counts the actors per runner in PostgreSQL; progress comes from the gateway's metrics)")
	flag.Parse()
	if o.actors < 1 || o.rate <= 0 || o.writers < 1 || o.runners < 1 || o.createConc < 1 {
		benchkit.Fatal("bench/rollout", fmt.Errorf("-actors, -rate, -writers, -runners and -create-conc must be positive"))
	}
	if err := run(o); err != nil {
		benchkit.Fatal("bench/rollout", err)
	}
}

const (
	token      = "bench-runner-token"
	adminToken = "bench-admin-token"
	pool       = "default"
)

// phase of a call, by when it started.
const (
	phaseSteady = iota
	phaseRoll
	phaseAfter
	phases
)

var phaseNames = [phases]string{"steady state", "during the roll", "after the roll"}

// writes is what the writers saw.
type writes struct {
	mu      sync.Mutex
	lat     [phases]*benchkit.Samples
	failed  [phases]int
	lastErr error
	acked   []atomic.Int64 // per actor, the highest acknowledged count
}

func run(o options) error {
	ctx := context.Background()
	started := time.Now()
	load1, loadBefore, _ := benchkit.LoadAvg()
	fmt.Fprintf(os.Stderr, "load average before: %s\n", loadBefore)
	var notes []string
	if load1 > o.maxLoad {
		notes = append(notes, fmt.Sprintf("WARNING: 1-minute load average %.2f > %.1f before measuring: other processes compete for the %d CPUs; figures are pessimistic and noisy",
			load1, o.maxLoad, runtime.NumCPU()))
		fmt.Fprintln(os.Stderr, notes[len(notes)-1])
	}
	url := o.pgURL
	if url == "" {
		fmt.Fprintln(os.Stderr, "starting PostgreSQL ...")
		var popts pgtest.Options
		if o.pgStats {
			popts.Settings = []string{"shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all"}
		}
		srv, err := pgtest.LaunchWith(popts)
		if err != nil {
			return err
		}
		defer func() {
			if err := srv.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "stop postgres:", err)
			}
		}()
		url = srv.URL
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	gw, err := gateway.Start(ctx, gateway.Config{
		Listen: "127.0.0.1:0", PostgresURL: url, RunnerToken: token, AdminToken: adminToken,
		Version: "bench", Log: log, DrainWorkers: o.drainWorkers,
		Metrics: metrics.ListenerConfig{Addr: "127.0.0.1:0"},
	})
	if err != nil {
		return fmt.Errorf("start gateway: %w", err)
	}
	defer gw.Close()
	endpoint := "http://" + gw.Addr()
	adm := admin.New(endpoint, adminToken, nil)

	runCtx, stopRunners := context.WithCancel(ctx)
	var runnersWG sync.WaitGroup
	defer func() { stopRunners(); runnersWG.Wait() }()
	startRunners := func(version uint64) {
		for range o.runners {
			runnersWG.Add(1)
			go func() {
				defer runnersWG.Done()
				err := rivet.NewRegistry().Register(actors.Counter).RunRunner(runCtx, rivet.RunnerConfig{
					Endpoint: endpoint, Pool: pool, Version: version, Listen: "127.0.0.1:0",
					PostgresURL: url, Token: token, Lease: 5 * time.Second, MaxConns: int32(o.runnerConns),
					Limits: rivet.Limits{SleepTimeout: time.Hour}, Log: log, ShutdownTimeout: time.Minute,
				})
				if err != nil && runCtx.Err() == nil {
					fmt.Fprintln(os.Stderr, "runner:", err)
				}
			}()
		}
	}
	if _, err := adm.SetRouting(ctx, pool, admin.Routing{Ready: []uint64{1}}); err != nil {
		return fmt.Errorf("routing: %w", err)
	}
	startRunners(1)
	if err := waitLive(ctx, adm, 1, o.runners); err != nil {
		return err
	}
	cl, err := client.New(client.Config{Endpoint: endpoint, Encoding: client.EncodingBARE, HTTPClient: benchkit.KeepAliveClient()})
	if err != nil {
		return err
	}
	key := func(i int) []string { return []string{fmt.Sprint("roll-", i)} }

	fmt.Fprintf(os.Stderr, "waking %d actors on version 1 ...\n", o.actors)
	w := &writes{acked: make([]atomic.Int64, o.actors)}
	for p := range w.lat {
		w.lat[p] = &benchkit.Samples{}
	}
	created, createTime, err := benchkit.ConcurrentEach(o.actors, o.createConc, benchkit.CPUMeter{}, func(i int) error {
		n, err := client.Call[int64](ctx, cl.GetOrCreate(actors.Counter.Name(), key(i)), "increment", 1)
		if err == nil {
			w.acked[i].Store(n)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("wake actors: %w", err)
	}
	fmt.Fprintf(os.Stderr, "woken in %v (%.0f/s)\n", createTime.Round(time.Millisecond), float64(created.N())/createTime.Seconds())

	var phase atomic.Int32
	stop := make(chan struct{})
	var writersWG sync.WaitGroup
	for range o.writers {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := rand.IntN(o.actors)
				p := phase.Load()
				t0 := time.Now()
				cctx, cancel := context.WithTimeout(ctx, time.Minute)
				n, err := client.Call[int64](cctx, cl.GetOrCreate(actors.Counter.Name(), key(i)), "increment", 1)
				cancel()
				d := time.Since(t0)
				w.mu.Lock()
				if err != nil {
					w.failed[p]++
					w.lastErr = err
				} else {
					w.lat[p].Add(d)
				}
				w.mu.Unlock()
				if err == nil {
					for {
						old := w.acked[i].Load()
						if n <= old || w.acked[i].CompareAndSwap(old, n) {
							break
						}
					}
				}
			}
		}()
	}
	fmt.Fprintf(os.Stderr, "steady state for %v, starting version 2 ...\n", o.steady)
	startRunners(2)
	time.Sleep(o.steady)
	if err := waitLive(ctx, adm, 2, o.runners); err != nil {
		return err
	}
	before, err := adm.PoolStatus(ctx, pool)
	if err != nil {
		return err
	}
	onV1 := before.Version(1).Actors

	fmt.Fprintf(os.Stderr, "rolling %d actors to version 2 at %v/s ...\n", onV1, o.rate)
	var stats *pgStats
	if o.pgStats {
		if stats, err = openPGStats(ctx, url); err != nil {
			return err
		}
		defer stats.close()
	}
	stopProfile, err := benchkit.StartCPUProfile(o.cpuProfile)
	if err != nil {
		return err
	}
	phase.Store(phaseRoll)
	rollStart := time.Now()
	if _, err := adm.SetRouting(ctx, pool, admin.Routing{Ready: []uint64{2}, Draining: []uint64{1}, DrainRate: o.rate}); err != nil {
		return fmt.Errorf("routing: %w", err)
	}
	var best float64 // the fastest second
	type sample struct {
		at    time.Time
		moved float64
	}
	var samples []sample
	lastPrint, lastStatus := time.Now(), time.Now()
	// Progress is the leader's moved counter (a metrics read, cheap); the
	// pool status, whose read counts the actors per runner with an index
	// scan of every placed actor in PostgreSQL, is read only every -poll to
	// catch actors that requests placed on version 2 before their move.
	for {
		moved, err := movedCount(ctx, gw.MetricsAddr())
		if err != nil {
			return err
		}
		now := time.Now()
		samples = append(samples, sample{now, moved})
		for _, s := range samples {
			if dt := now.Sub(s.at); dt >= time.Second && dt < 1200*time.Millisecond {
				best = max(best, (moved-s.moved)/dt.Seconds())
			}
		}
		done := moved >= float64(onV1)
		if !done && now.Sub(lastStatus) >= o.poll {
			lastStatus = now
			st, err := adm.PoolStatus(ctx, pool)
			if err != nil {
				return err
			}
			done = st.Version(1).Actors == 0
		}
		if now.Sub(lastPrint) >= 5*time.Second {
			lastPrint = now
			fmt.Fprintf(os.Stderr, "  %v: %.0f moved\n", now.Sub(rollStart).Round(time.Second), moved)
		}
		if done {
			break
		}
		if now.Sub(rollStart) > time.Duration(float64(onV1)/o.rate*float64(time.Second))*20+5*time.Minute {
			return fmt.Errorf("roll not done after %v: %.0f of %d actors moved", now.Sub(rollStart), moved, onV1)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rollTime := time.Since(rollStart)
	phase.Store(phaseAfter)
	stopProfile()
	pacing, err := drainPacing(ctx, gw.MetricsAddr())
	if err != nil {
		return err
	}
	var statLines []string
	if stats != nil {
		if statLines, err = stats.top(ctx, 15); err != nil {
			return err
		}
	}
	time.Sleep(o.after)
	close(stop)
	writersWG.Wait()

	fmt.Fprintln(os.Stderr, "checking every actor's final count ...")
	var lost, lostActors atomic.Int64
	_, _, err = benchkit.ConcurrentEach(o.actors, o.createConc, benchkit.CPUMeter{}, func(i int) error {
		n, err := client.Call[int64](ctx, cl.Get(actors.Counter.Name(), key(i)), "getCount")
		if err != nil {
			return err
		}
		if a := w.acked[i].Load(); n < a {
			lost.Add(a - n)
			lostActors.Add(1)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("final counts: %w", err)
	}
	after, err := adm.PoolStatus(ctx, pool)
	if err != nil {
		return err
	}
	_, loadAfter, _ := benchkit.LoadAvg()

	out := os.Stdout
	fmt.Fprintf(out, "rollout benchmark: %d awake actors, version 1 -> 2, %d runners per version, %d writers, drain workers %d\n",
		o.actors, o.runners, o.writers, o.drainWorkers)
	fmt.Fprintf(out, "machine: %s; load average before %s, after %s; total %v\n",
		benchkit.Machine(fmt.Sprint(runtime.NumCPU())), loadBefore, loadAfter, time.Since(started).Round(time.Second))
	for _, n := range notes {
		fmt.Fprintln(out, n)
	}
	achieved := float64(onV1) / rollTime.Seconds()
	fmt.Fprintf(out, "%-34s %d actors in %v\n", "moved", onV1, rollTime.Round(time.Millisecond))
	fmt.Fprintf(out, "%-34s %.0f/s achieved for %.0f/s asked (%+.0f%%); fastest second %.0f/s\n", "drain rate", achieved, o.rate, (achieved/o.rate-1)*100, best)
	fmt.Fprintf(out, "%-34s %d on version 1, %d on version 2\n", "actors after", after.Version(1).Actors, after.Version(2).Actors)
	for p := range phases {
		s := w.lat[p]
		fmt.Fprintf(out, "%-34s %7d calls %5d failed   p50 %-9s p99 %-9s\n", "increment "+phaseNames[p], s.N(), w.failed[p], benchkit.FmtDur(s.P(50)), benchkit.FmtDur(s.P(99)))
	}
	for _, l := range pacing {
		fmt.Fprintln(out, l)
	}
	if steady := w.lat[phaseSteady].P(99); steady > 0 {
		fmt.Fprintf(out, "%-34s %.2f× steady state\n", "p99 during the roll", float64(w.lat[phaseRoll].P(99))/float64(steady))
	}
	fmt.Fprintf(out, "%-34s %d (on %d actors)\n", "lost acknowledged writes", lost.Load(), lostActors.Load())
	if w.lastErr != nil {
		fmt.Fprintf(out, "last failure: %v\n", w.lastErr)
	}
	if len(statLines) > 0 {
		fmt.Fprintln(out, "\nPostgreSQL statements during the roll (pg_stat_statements, by total time):")
		for _, l := range statLines {
			fmt.Fprintln(out, "  "+l)
		}
	}
	fmt.Fprintln(out, "\ntargets:")
	for _, t := range targets(o, w, onV1, rollTime, achieved, lost.Load()) {
		fmt.Fprintln(out, "  "+t)
	}
	return nil
}

// The targets.
const (
	targetActors = 100_000
	targetTime   = time.Minute
	targetP99    = 2.0  // p99 during the roll ≤ this × steady state
	targetRate   = 0.10 // achieved within ±10% of asked
)

// targets judges the run against the targets. The time target is
// for 100,000 actors; a smaller run is judged by the rate it implies.
func targets(o options, w *writes, moved int, took time.Duration, achieved float64, lost int64) []string {
	var out []string
	need := float64(targetActors) / targetTime.Seconds()
	if moved >= targetActors {
		out = append(out, benchkit.Target(took <= targetTime, "100,000 awake actors moved in ≤ 60 s: %d in %v (%.0f/s)",
			moved, took.Round(100*time.Millisecond), achieved))
	} else {
		out = append(out, benchkit.Target(achieved >= need, "100,000 awake actors moved in ≤ 60 s (≥ %.0f/s): %d in %v, %.0f/s; 100,000 would take %v at that rate (projected, N=%d)",
			need, moved, took.Round(100*time.Millisecond), achieved, time.Duration(float64(targetActors)/achieved*float64(time.Second)).Round(time.Second), moved))
	}
	failed := 0
	for p := range phases {
		failed += w.failed[p]
	}
	out = append(out, benchkit.Target(failed == 0, "0 failed client calls: %d failed of %d (%d during the roll)",
		failed, failed+w.lat[phaseSteady].N()+w.lat[phaseRoll].N()+w.lat[phaseAfter].N(), w.failed[phaseRoll]))
	steady, during := w.lat[phaseSteady].P(99), w.lat[phaseRoll].P(99)
	ratio := 0.0
	if steady > 0 {
		ratio = float64(during) / float64(steady)
	}
	out = append(out, benchkit.Target(steady > 0 && during > 0 && ratio <= targetP99, "call p99 during the roll ≤ 2× steady state: %s during, %s steady (%.2f×; %d calls during)",
		benchkit.FmtDur(during), benchkit.FmtDur(steady), ratio, w.lat[phaseRoll].N()))
	dev := achieved/o.rate - 1
	out = append(out, benchkit.Target(dev >= -targetRate && dev <= targetRate, "drain rate within ±10%% of asked: %.0f/s for %.0f/s (%+.1f%%)",
		achieved, o.rate, 100*dev))
	out = append(out, benchkit.Target(lost == 0, "0 lost acknowledged writes: %d", lost))
	return out
}

// waitLive waits until n live runners of version are registered.
func waitLive(ctx context.Context, adm *admin.Client, version uint64, n int) error {
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := adm.PoolStatus(ctx, pool)
		if err == nil && st.Version(version).LiveRunners >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d live runners of version %d not up after a minute (%v)", n, version, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
