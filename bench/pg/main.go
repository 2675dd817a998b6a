// Command pg measures the distributed engine on PostgreSQL against raw
// PostgreSQL on the same server, side by side in one run, and prints a
// table of figures with the targets of the distributed-engine benchmark:
//
//   - durable write action (counter.increment) p50/p99 and CPU against one
//     raw single-row upsert commit, a loopback HTTP round trip and a
//     read-only action;
//   - throughput, 64 callers over 1,000 actors, against the plain Go
//     service a user would otherwise write (net/http, one pgx upsert per
//     request) and raw upserts (64 goroutines through a pool, and 64-row
//     batches per transaction);
//   - wake from sleep (asleep actor → first action) against a raw point read;
//   - new actors per second (getOrCreate + first action, 64 concurrent);
//   - routing latency before and after 1,000,000 actors are added to the
//     directory (COPY into the actors table).
//
// It is a measurement, not a test: it never fails on a figure. Everything
// runs on this machine: a throwaway PostgreSQL 15 (internal/testutil/pgtest:
// fsync on, default settings), one gateway (gateway.Start) and one
// runner (Registry.RunRunner on a loopback port) in this process, and the
// clients. Engine and raw measurements alternate in short rounds, so both
// see the same machine.
//
//	go run ./bench/pg                               # everything, a few minutes
//	go run ./bench/pg -actors-in-directory 100000   # quicker directory step
//	go run ./bench/pg -only write,tput -cpuprofile cpu.prof
//	go run ./bench/pg -loop write-http -cpuprofile w.prof   # one loop alone
//	go run ./bench/pg -loop read-http -cpuprofile r.prof    # (compare per call)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	_ "net/http/pprof" // served with -pprof-addr
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rivetkube/rivetkube/bench/internal/benchkit"
	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/examples/quickstart/actors"
	"github.com/rivetkube/rivetkube/gateway"
	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/pgstore"
	"github.com/rivetkube/rivetkube/internal/testutil/pgtest"
	"github.com/rivetkube/rivetkube/rivet"
)

type options struct {
	lat         time.Duration
	warmup      time.Duration
	rounds      int
	tput        time.Duration
	callers     int
	actors      int
	newActors   int
	createConc  int
	wakeActors  int
	wakeRounds  int
	dirActors   int
	dirLat      time.Duration
	pgURL       string
	only        map[string]bool
	cpuProfile  string
	traceFile   string
	maxLoad     float64
	runnerConns int
	pprofAddr   string
	loop        string
}

var sections = []string{"write", "tput", "wake", "create", "dir"}

func main() {
	var o options
	var only string
	flag.DurationVar(&o.lat, "lat", 4*time.Second, "recorded time of each sequential latency measurement (split into rounds)")
	flag.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "warm-up before each measurement (not recorded)")
	flag.IntVar(&o.rounds, "rounds", 8, "rounds the engine and raw measurements alternate in")
	flag.DurationVar(&o.tput, "tput", 6*time.Second, "recorded time of each throughput measurement (split into rounds/2 rounds)")
	flag.IntVar(&o.callers, "callers", 64, "concurrent callers in the throughput measurements")
	flag.IntVar(&o.actors, "actors", 1000, "actors the throughput callers spread over")
	flag.IntVar(&o.newActors, "new-actors", 5000, "actors created in the creation-rate measurement")
	flag.IntVar(&o.createConc, "create-conc", 64, "concurrency of actor creation")
	flag.IntVar(&o.wakeActors, "wake-actors", 200, "actors put to sleep and woken per wake round")
	flag.IntVar(&o.wakeRounds, "wake-rounds", 3, "wake rounds")
	flag.IntVar(&o.dirActors, "actors-in-directory", 1_000_000, "actor rows added to the directory (COPY) between the before and after routing measurements")
	flag.DurationVar(&o.dirLat, "dir-lat", 3*time.Second, "recorded time of each routing latency measurement before and after")
	flag.StringVar(&o.pgURL, "postgres", "", "use this PostgreSQL database instead of a throwaway server (it gets the engine schema, a bench_raw table and many actor rows)")
	flag.StringVar(&only, "only", "", "comma-separated sections to run ("+strings.Join(sections, ",")+"); default all")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (client, gateway, runner) during the measurements")
	flag.StringVar(&o.traceFile, "trace", "", "write a runtime execution trace of the measurements (large: use with -only and a short -lat)")
	flag.Float64Var(&o.maxLoad, "max-load", 2.5, "warn when the 1-minute load average is above this before measuring")
	flag.IntVar(&o.runnerConns, "runner-conns", 16, "runner PostgreSQL pool size (the runner's documented default is 16)")
	flag.StringVar(&o.pprofAddr, "pprof-addr", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060) while running")
	flag.StringVar(&o.loop, "loop", "", "run one loop of the write section alone for -lat (after -warmup) and print its p50 and CPU per call, for profiling and A/B runs: one of "+strings.Join(loopNames, ","))
	flag.Parse()
	var err error
	if o.only, err = benchkit.ParseOnly(only, sections); err != nil {
		benchkit.Fatal("bench/pg", err)
	}
	if o.rounds < 1 {
		o.rounds = 1
	}
	if err := run(o); err != nil {
		benchkit.Fatal("bench/pg", err)
	}
}

func (o options) want(s string) bool {
	if o.loop != "" {
		return s == "write"
	}
	return len(o.only) == 0 || o.only[s]
}

// report is the result table and the notes printed above it.
type report struct {
	benchkit.Table
	notes []string
}

func (r *report) target(ok bool, format string, args ...any) {
	r.Targets = append(r.Targets, fmt.Sprintf("%-8s ", metStr(ok))+fmt.Sprintf(format, args...))
}

const counterName = "counter"

// napper is a counter that sleeps after a short idle time and changes no
// state on wake, so its first action after a wake is a pure wake + read.
type napState struct {
	Count int64 `cbor:"count"`
}

const napTimeout = 200 * time.Millisecond

var napper = rivet.New("napper", rivet.Options[napState]{SleepTimeout: napTimeout}).
	Action("getCount", func(c *rivet.Ctx[napState]) (int64, error) { return c.State().Count, nil })

// env is the running system under measurement and the raw baselines.
type env struct {
	url string
	gw  *gateway.Gateway
	cl  *client.Client
	// httpc is the client's http.Client, shared by the HTTP baselines.
	httpc *http.Client
	raw   *pgx.Conn     // sequential raw baselines
	pool  *pgxpool.Pool // concurrent raw baselines and bench bookkeeping
	cpu   benchkit.CPUMeter
}

func run(o options) error {
	ctx := context.Background()
	started := time.Now()
	if o.pprofAddr != "" {
		go func() { fmt.Fprintln(os.Stderr, "pprof:", http.ListenAndServe(o.pprofAddr, nil)) }()
	}
	load1, loadStr, _ := benchkit.LoadAvg()
	fmt.Fprintf(os.Stderr, "load average before: %s\n", loadStr)
	rep := report{Table: benchkit.Table{Progress: os.Stderr, NameWidth: 58, ValueWidth: 9}}
	if load1 > o.maxLoad {
		msg := fmt.Sprintf("WARNING: 1-minute load average %.2f > %.1f before measuring: other processes compete for the %d CPUs; figures are pessimistic and noisy",
			load1, o.maxLoad, runtime.NumCPU())
		fmt.Fprintln(os.Stderr, msg)
		rep.notes = append(rep.notes, msg)
	}

	url := o.pgURL
	if url == "" {
		fmt.Fprintln(os.Stderr, "starting PostgreSQL ...")
		srv, err := pgtest.Launch()
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
	const token = "bench-runner-token"
	gw, err := gateway.Start(ctx, gateway.Config{
		Listen: "127.0.0.1:0", PostgresURL: url, RunnerToken: token, Version: "bench", Log: log,
	})
	if err != nil {
		return fmt.Errorf("start gateway: %w", err)
	}
	defer gw.Close()
	endpoint := "http://" + gw.Addr()

	reg := rivet.NewRegistry().Register(actors.Counter, napper)
	runCtx, stopRunner := context.WithCancel(ctx)
	runnerDone := make(chan error, 1)
	go func() {
		runnerDone <- reg.RunRunner(runCtx, rivet.RunnerConfig{
			Endpoint: endpoint, Pool: "default", Version: 1, Listen: "127.0.0.1:0",
			PostgresURL: url, Token: token, Lease: 5 * time.Second, MaxConns: int32(o.runnerConns),
			// Counters stay awake for the whole run; napper sleeps on its own.
			Limits: rivet.Limits{SleepTimeout: time.Hour}, Log: log,
			ShutdownTimeout: 30 * time.Second,
		})
	}()
	defer func() {
		stopRunner()
		if err := <-runnerDone; err != nil {
			fmt.Fprintln(os.Stderr, "runner:", err)
		}
	}()

	httpc := benchkit.KeepAliveClient()
	cl, err := client.New(client.Config{Endpoint: endpoint, Encoding: client.EncodingBARE, HTTPClient: httpc})
	if err != nil {
		return err
	}
	e := &env{url: url, gw: gw, cl: cl, httpc: httpc}
	if e.raw, err = pgx.Connect(ctx, url); err != nil {
		return err
	}
	defer e.raw.Close(ctx)
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return err
	}
	pcfg.MaxConns = int32(max(o.callers, 4))
	if e.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return err
	}
	defer e.pool.Close()
	if err := e.setupRaw(ctx, o); err != nil {
		return fmt.Errorf("raw table: %w", err)
	}
	if err := e.waitReady(ctx); err != nil {
		return err
	}
	pgInfo := e.pgInfo(ctx)
	e.cpu = benchkit.CPUMeter{Root: findPostmaster(ctx, e.raw)}

	stopProfile, err := benchkit.StartCPUProfile(o.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	stopTrace, err := benchkit.StartTrace(o.traceFile)
	if err != nil {
		return err
	}
	defer stopTrace()

	fmt.Fprintln(os.Stderr, "measuring ...")
	if o.want("write") {
		if err := e.benchWrite(ctx, o, &rep); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	var created []*client.Handle
	if o.want("create") || o.want("tput") {
		if created, err = e.benchCreate(ctx, o, &rep); err != nil {
			return fmt.Errorf("create: %w", err)
		}
	}
	if o.want("tput") {
		if err := e.benchThroughput(ctx, o, &rep, created); err != nil {
			return fmt.Errorf("throughput: %w", err)
		}
	}
	if o.want("wake") {
		if err := e.benchWake(ctx, o, &rep); err != nil {
			return fmt.Errorf("wake: %w", err)
		}
	}
	if o.want("dir") && o.dirActors > 0 {
		if err := e.benchDirectory(ctx, o, &rep); err != nil {
			return fmt.Errorf("directory: %w", err)
		}
	}
	_, loadEnd, _ := benchkit.LoadAvg()
	printReport(os.Stdout, o, &rep, pgInfo, loadStr, loadEnd, started, time.Since(started))
	return nil
}

// setupRaw creates the baseline table, shaped like actor_state, with
// o.actors rows (the throughput key space) plus one for the latency loops.
func (e *env) setupRaw(ctx context.Context, o options) error {
	if _, err := e.pool.Exec(ctx, `DROP TABLE IF EXISTS bench_raw;
		CREATE TABLE bench_raw (id text PRIMARY KEY, v bytea NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	_, err := e.pool.Exec(ctx, `INSERT INTO bench_raw (id, v) SELECT 'k' || i, '\xa165636f756e7400'::bytea FROM generate_series(0, $1) i`, max(o.actors, o.callers))
	return err
}

func (e *env) waitReady(ctx context.Context) error {
	h := e.cl.GetOrCreate(counterName, []string{"bench-ready"})
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := h.Action(ctx, "getCount", nil)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("runner not serving after 30s: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) pgInfo(ctx context.Context) string {
	var parts []string
	for _, s := range []string{"server_version", "fsync", "synchronous_commit", "wal_sync_method", "shared_buffers", "max_connections"} {
		var v string
		if err := e.raw.QueryRow(ctx, "SELECT current_setting($1)", s).Scan(&v); err == nil {
			parts = append(parts, s+"="+v)
		}
	}
	return strings.Join(parts, ", ")
}

// rawValue is what the raw upserts write: the CBOR of a counter's state,
// {"count": n} with a 4-byte n, so both sides write rows of the same size.
var rawValue = []byte{0xa1, 0x65, 'c', 'o', 'u', 'n', 't', 0x1a, 0, 0, 0, 1}

const rawUpsert = `INSERT INTO bench_raw (id, v) VALUES ($1, $2)
	ON CONFLICT (id) DO UPDATE SET v = excluded.v, updated_at = now()`

const rawBatchUpsert = `INSERT INTO bench_raw (id, v) SELECT * FROM unnest($1::text[], $2::bytea[])
	ON CONFLICT (id) DO UPDATE SET v = excluded.v, updated_at = now()`

func (e *env) rawCommit(ctx context.Context) error {
	_, err := e.raw.Exec(ctx, rawUpsert, "k0", rawValue)
	return err
}

func (e *env) rawRead(ctx context.Context) error {
	var v []byte
	return e.raw.QueryRow(ctx, `SELECT v FROM bench_raw WHERE id = $1`, "k1").Scan(&v)
}

// ---- durable write latency ----

// loopNames name the loops of benchWrite, in its order, for -loop.
var loopNames = []string{"raw", "store", "write-http", "write-ws", "loopback", "read-http", "store-direct", "read-after-gap", "gap"}

// gap is the idle time before each call of the read-after-gap loop.
const gap = 500 * time.Microsecond

func (e *env) benchWrite(ctx context.Context, o options, rep *report) error {
	h := e.cl.GetOrCreate(counterName, []string{"bench-write"})
	if err := h.Action(ctx, "increment", nil, 1); err != nil {
		return err
	}
	conn, err := h.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// The runner's write path alone: the group committer over the store,
	// one write at a time, for an actor placed on a runner that does not
	// exist (nothing routes to it).
	st, err := pgstore.Open(ctx, e.url, pgstore.Options{MaxConns: 2, SkipMigrate: true})
	if err != nil {
		return err
	}
	defer st.Close()
	committer := store.NewCommitter(st, store.CommitterOptions{})
	defer committer.Close()
	spec := store.ActorSpec{ID: "bench-store-direct", Namespace: "bench", Name: counterName, Key: []string{"bench-store-direct"}, Pool: "none"}
	if _, err := st.CreateActor(ctx, spec); err != nil {
		return err
	}
	a, err := st.Activate(ctx, spec.ID, "bench-no-runner", 0)
	if err != nil {
		return err
	}
	loop, err := startLoopback()
	if err != nil {
		return err
	}
	defer loop.Close()
	read := e.cl.GetOrCreate(counterName, []string{"bench-read"})
	var n uint32
	storeWrite := func() error {
		n++
		state := append([]byte{0xa1, 0x65, 'c', 'o', 'u', 'n', 't', 0x1a}, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		p, err := committer.Submit(ctx, store.Write{ActorID: spec.ID, Generation: a.Generation, State: state})
		if err != nil {
			return err
		}
		return p.Err()
	}
	// The same write without the committer: pgstore.Commit on this
	// goroutine (what the committer's goroutine hand-offs cost).
	storeDirect := func() error {
		n++
		state := append([]byte{0xa1, 0x65, 'c', 'o', 'u', 'n', 't', 0x1a}, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		errs, err := st.Commit(ctx, []store.Write{{ActorID: spec.ID, Generation: a.Generation, State: state}})
		if err != nil {
			return err
		}
		return errs[0]
	}

	fns := []func() error{
		func() error { return e.rawCommit(ctx) },
		storeWrite,
		func() error { return h.Action(ctx, "increment", nil, 1) },
		func() error { return conn.Action(ctx, "increment", nil, 1) },
		func() error { return loop.call(ctx, e.httpc) },
		func() error { return read.Action(ctx, "getCount", nil) },
		storeDirect,
		// A read-only action after an idle gap as long as a commit, and the
		// gap alone: what an action costs when the process went idle before
		// it (threads asleep, caches taken by other processes), as every
		// durable write's reply does after its commit.
		func() error { time.Sleep(gap); return read.Action(ctx, "getCount", nil) },
		func() error { time.Sleep(gap); return nil },
	}
	if o.loop != "" {
		i := slices.Index(loopNames, o.loop)
		if i < 0 {
			return fmt.Errorf("-loop %q: want one of %s", o.loop, strings.Join(loopNames, ","))
		}
		s, err := benchkit.Sequential(o.warmup, o.lat, 1, e.cpu, fns[i])
		if err != nil {
			return err
		}
		rep.AddSamples("loop "+o.loop, s[0], countStr(s[0]))
		return nil
	}
	s, err := benchkit.Sequential(o.warmup, o.lat, o.rounds, e.cpu, fns...)
	if err != nil {
		return err
	}
	raw, stS, httpS, wsS, loopS, readS := s[0], s[1], s[2], s[3], s[4], s[5]
	directS, coldS, gapS := s[6], s[7], s[8]
	rep.AddSamples("loopback HTTP round trip (net/http, same http.Client)", loopS, countStr(loopS))
	rep.AddSamples("read-only action counter.getCount, HTTP (getOrCreate)", readS,
		fmt.Sprintf("%.2f× loopback p50; %s", float64(readS.P(50))/float64(loopS.P(50)), countStr(readS)))
	rep.AddSamples("raw PostgreSQL single-row upsert commit (autocommit)", raw, countStr(raw))
	rep.AddSamples("store only: group committer + pgstore.Commit, 1 write", stS,
		fmt.Sprintf("%s p50; %s", ratioStr(stS.P(50), raw.P(50)), countStr(stS)))
	rep.AddSamples("store only: pgstore.Commit on the caller (no committer)", directS,
		fmt.Sprintf("%s p50; %s", ratioStr(directS.P(50), raw.P(50)), countStr(directS)))
	coldCPU := cpuPerOp(coldS) - cpuPerOp(gapS)
	rep.AddSamples(fmt.Sprintf("read-only action after a %s idle gap, HTTP", benchkit.FmtDur(gap)), coldS,
		fmt.Sprintf("p50 includes the gap; cpu/op %s without the gap's own %s (%.2f× the back-to-back read); n=%d",
			benchkit.FmtDur(coldCPU), benchkit.FmtDur(cpuPerOp(gapS)), float64(coldCPU)/float64(max(cpuPerOp(readS), 1)), coldS.N()))
	rep.AddSamples("durable write counter.increment, HTTP (getOrCreate)", httpS,
		fmt.Sprintf("%s p50, %s p99; %s", ratioStr(httpS.P(50), raw.P(50)), ratioStr(httpS.P(99), raw.P(99)), countStr(httpS)))
	rep.AddSamples("durable write counter.increment, WebSocket connection", wsS,
		fmt.Sprintf("%s p50, %s p99; %s", ratioStr(wsS.P(50), raw.P(50)), ratioStr(wsS.P(99), raw.P(99)), countStr(wsS)))
	bound := raw.P(50) + loopS.P(50) + 200*time.Microsecond
	rep.target(httpS.P(50) <= bound, "durable write p50 (HTTP) ≤ raw commit p50 + loopback HTTP p50 + 200µs: %s vs %s (= %s + %s + 200µs; p99 %s)",
		benchkit.FmtDur(httpS.P(50)), benchkit.FmtDur(bound), benchkit.FmtDur(raw.P(50)), benchkit.FmtDur(loopS.P(50)), benchkit.FmtDur(httpS.P(99)))
	wCPU, rCPU := cpuPerOp(httpS), cpuPerOp(readS)
	rep.target(wCPU <= 2*rCPU, "CPU per durable write action ≤ 2× CPU per read-only action (client, gateway, runner; HTTP): %s vs %s (%.2f×; %.2f× a read after an idle gap)",
		benchkit.FmtDur(wCPU), benchkit.FmtDur(rCPU), float64(wCPU)/float64(max(rCPU, 1)), float64(wCPU)/float64(max(coldCPU, 1)))
	return nil
}

// ---- creation rate ----

func (e *env) benchCreate(ctx context.Context, o options, rep *report) ([]*client.Handle, error) {
	n := max(o.newActors, o.actors)
	hs := make([]*client.Handle, n)
	for i := range hs {
		hs[i] = e.cl.GetOrCreate(counterName, []string{fmt.Sprintf("bench-new-%d", i)})
	}
	s, d, err := benchkit.ConcurrentEach(n, o.createConc, e.cpu, func(i int) error { return hs[i].Action(ctx, "getCount", nil) })
	if err != nil {
		return nil, err
	}
	rate := float64(n) / d.Seconds()
	if o.want("create") {
		rep.AddSamples(fmt.Sprintf("new actor: getOrCreate + first action (%d concurrent)", o.createConc), s,
			fmt.Sprintf("%d actors in %s: %.0f actors/s; %s", n, benchkit.FmtDur(d), rate, perOp(s.CPU, int64(n))))
		rep.target(rate >= 4000, "new actors ≥ 4,000/s (getOrCreate + first action, %d concurrent): %.0f/s", o.createConc, rate)
	}
	return hs[:o.actors], nil
}

// ---- throughput ----

func (e *env) benchThroughput(ctx context.Context, o options, rep *report, hs []*client.Handle) error {
	if len(hs) == 0 {
		return errors.New("no actors")
	}
	nkeys := max(o.actors, o.callers)
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
	}
	plain, err := startPlainService(ctx, e.url, o.callers)
	if err != nil {
		return fmt.Errorf("plain service: %w", err)
	}
	defer plain.Close()
	perm := slices.Clone(keys) // used by the single raw batch caller only
	vals := make([][]byte, o.callers)
	for i := range vals {
		vals[i] = rawValue
	}
	runs := []tputRun{
		{name: "raw pool", callers: o.callers, fn: func(int) (int, error) {
			_, err := e.pool.Exec(ctx, rawUpsert, keys[rand.IntN(len(keys))], rawValue)
			return 1, err
		}},
		{name: "raw batch", callers: 1, fn: func(int) (int, error) {
			// o.callers distinct random rows per transaction (one multi-row
			// upsert may not touch a row twice): a partial shuffle of perm.
			for i := range o.callers {
				j := i + rand.IntN(len(perm)-i)
				perm[i], perm[j] = perm[j], perm[i]
			}
			_, err := e.pool.Exec(ctx, rawBatchUpsert, perm[:o.callers], vals)
			return o.callers, err
		}},
		{name: "plain service", callers: o.callers, fn: func(int) (int, error) {
			return 1, plain.set(ctx, e.httpc, keys[rand.IntN(o.actors)])
		}},
		{name: "engine", callers: o.callers, fn: func(int) (int, error) {
			return 1, hs[rand.IntN(len(hs))].Action(ctx, "increment", nil, 1)
		}},
	}
	rounds := max(o.rounds/2, 1)
	res, err := throughputRounds(o, e.cpu, rounds, o.tput/time.Duration(rounds), runs)
	if err != nil {
		return err
	}
	pool, batch, svc, eng := res[0].rate, res[1].rate, res[2].rate, res[3].rate
	rep.Add(fmt.Sprintf("raw upsert, %d goroutines, 1 row per commit (pool of %d)", o.callers, o.callers), "", "",
		fmt.Sprintf("%.0f rows/s; %s", pool, perOp(res[0].cpu, res[0].n)))
	rep.Add(fmt.Sprintf("raw upsert, %d rows per commit, one commit at a time", o.callers), "", "",
		fmt.Sprintf("%.0f rows/s; %s", batch, perOp(res[1].cpu, res[1].n)))
	rep.Add(fmt.Sprintf("plain Go service: net/http + one pgx upsert per request (pool of %d), %d callers over %d keys", o.callers, o.callers, o.actors), "", "",
		fmt.Sprintf("%.0f requests/s; %s", svc, perOp(res[2].cpu, res[2].n)))
	rep.Add(fmt.Sprintf("engine increments, %d callers over %d actors, HTTP", o.callers, len(hs)), "", "",
		fmt.Sprintf("%.0f actions/s = %.2f× the plain service, %.0f%% of raw 1-row commits; %s", eng, eng/svc, 100*eng/pool, perOp(res[3].cpu, res[3].n)))
	rep.target(eng >= 2*svc, "throughput, %d callers over %d actors ≥ 2× the plain Go service: %.0f vs %.0f/s (%.2f×)", o.callers, len(hs), eng, svc, eng/svc)
	return nil
}

// ---- wake from sleep ----

func (e *env) benchWake(ctx context.Context, o options, rep *report) error {
	hs := make([]*client.Handle, o.wakeActors)
	for i := range hs {
		hs[i] = e.cl.GetOrCreate("napper", []string{fmt.Sprintf("bench-nap-%d", i)})
	}
	if _, _, err := benchkit.ConcurrentEach(len(hs), 16, e.cpu, func(i int) error { return hs[i].Action(ctx, "getCount", nil) }); err != nil {
		return err
	}
	// The runner's activation reads alone, on the store, for one of them.
	st, err := pgstore.Open(ctx, e.url, pgstore.Options{MaxConns: 2, SkipMigrate: true})
	if err != nil {
		return err
	}
	defer st.Close()
	napID, err := hs[0].Resolve(ctx)
	if err != nil {
		return err
	}
	loadActivation := func() error {
		_, err := st.LoadActivation(ctx, napID, 256)
		return err
	}
	activationReads := func() error {
		a, err := st.GetActor(ctx, napID)
		if err != nil {
			return err
		}
		if _, err := st.ListQueue(ctx, napID, 0, nil, 256); err != nil {
			return err
		}
		if _, err := st.ListSchedules(ctx, napID); err != nil {
			return err
		}
		_, err = st.LoadState(ctx, napID, a.Generation)
		return err
	}
	wake := &benchkit.Samples{}
	read := &benchkit.Samples{}
	reads := &benchkit.Samples{}
	loads := &benchkit.Samples{}
	for round := range o.wakeRounds {
		if err := e.waitAsleep(ctx, "napper"); err != nil {
			return err
		}
		for _, h := range hs {
			t0 := time.Now()
			if err := h.Action(ctx, "getCount", nil); err != nil {
				return fmt.Errorf("wake round %d: %w", round, err)
			}
			wake.Add(time.Since(t0))
			// Raw point reads between the wakes, so both see the same machine.
			for range 4 {
				t0 := time.Now()
				if err := e.rawRead(ctx); err != nil {
					return err
				}
				read.Add(time.Since(t0))
			}
			t0 = time.Now()
			if err := activationReads(); err != nil {
				return err
			}
			reads.Add(time.Since(t0))
			t0 = time.Now()
			if err := loadActivation(); err != nil {
				return err
			}
			loads.Add(time.Since(t0))
		}
	}
	rep.AddSamples("raw PostgreSQL point read (SELECT by primary key)", read, countStr(read))
	rep.AddSamples("store only: activation reads one by one (actor, queue, schedules, state)", reads,
		fmt.Sprintf("%s p50; %s", ratioStr(reads.P(50), read.P(50)), countStr(reads)))
	rep.AddSamples("store only: LoadActivation (what the runner reads)", loads,
		fmt.Sprintf("%s p50; %s", ratioStr(loads.P(50), read.P(50)), countStr(loads)))
	rep.AddSamples("wake from sleep: asleep actor → first action (HTTP)", wake,
		fmt.Sprintf("%s p50; %s", ratioStr(wake.P(50), read.P(50)), countStr(wake)))
	rep.target(wake.P(50) <= time.Millisecond, "wake from sleep p50 ≤ 1ms (HTTP): %s (LoadActivation %s, raw point read %s)",
		benchkit.FmtDur(wake.P(50)), benchkit.FmtDur(loads.P(50)), benchkit.FmtDur(read.P(50)))
	return nil
}

// waitAsleep waits until no actor of this name is placed on a runner.
func (e *env) waitAsleep(ctx context.Context, name string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		var n int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM actors WHERE name = $1 AND runner_id <> '' AND destroyed_at IS NULL`, name).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d %s actors still awake after 60s", n, name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---- directory size ----

func (e *env) benchDirectory(ctx context.Context, o options, rep *report) error {
	hot := e.cl.GetOrCreate(counterName, []string{"bench-dir-hot"})
	if err := hot.Action(ctx, "getCount", nil); err != nil {
		return err
	}
	get := e.cl.Get(counterName, []string{"bench-dir-hot"})
	measure := func() ([]*benchkit.Samples, error) {
		return benchkit.Sequential(o.warmup, o.dirLat, o.rounds, e.cpu,
			func() error { return e.rawRead(ctx) },
			func() error { return hot.Action(ctx, "getCount", nil) },
			func() error { _, err := get.Resolve(ctx); return err },
		)
	}
	var before0 int64
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM actors`).Scan(&before0); err != nil {
		return err
	}
	before, err := measure()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "  inserting %d actor rows (COPY) ...\n", o.dirActors)
	t0 := time.Now()
	if err := e.copyActors(ctx, o.dirActors); err != nil {
		return fmt.Errorf("copy actors: %w", err)
	}
	copyDur := time.Since(t0)
	// Settle the bulk load before measuring, as it would be long after in
	// production: statistics, visibility map, and the WAL it produced.
	t1 := time.Now()
	for _, q := range []string{"VACUUM (ANALYZE) actors", "CHECKPOINT"} {
		if _, err := e.pool.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	settle := time.Since(t1)
	var total int64
	var size string
	if err := e.pool.QueryRow(ctx, `SELECT count(*), pg_size_pretty(pg_total_relation_size('actors')) FROM actors`).Scan(&total, &size); err != nil {
		return err
	}
	after, err := measure()
	if err != nil {
		return err
	}
	// Resolution of keys spread over the whole directory (cold index pages).
	cold := &benchkit.Samples{}
	c0 := time.Now()
	for time.Since(c0) < o.dirLat {
		h := e.cl.Get(counterName, []string{fmt.Sprintf("dir-%d", rand.IntN(o.dirActors))})
		t := time.Now()
		if _, err := h.Resolve(ctx); err != nil {
			return err
		}
		cold.Add(time.Since(t))
	}

	rep.Add(fmt.Sprintf("directory: %d actors before; COPY %d rows", before0, o.dirActors), "", "",
		fmt.Sprintf("COPY %s (%.0f rows/s), VACUUM ANALYZE + CHECKPOINT %s; actors table now %d rows, %s with indexes",
			benchkit.FmtDur(copyDur), float64(o.dirActors)/copyDur.Seconds(), benchkit.FmtDur(settle), total, size))
	names := []string{"raw point read (control)", "action on an awake actor (counter.getCount, HTTP)", "resolve key: GET /actors?name&key"}
	for i, name := range names {
		b, a := before[i], after[i]
		rep.AddSamples(name+", before", b, countStr(b))
		rep.AddSamples(fmt.Sprintf("%s, after +%d", name, o.dirActors), a,
			fmt.Sprintf("p50 %s, p99 %s; %s", changeStr(a.P(50), b.P(50)), changeStr(a.P(99), b.P(99)), countStr(a)))
	}
	rep.AddSamples(fmt.Sprintf("resolve a random key of the %d added (cold)", o.dirActors), cold, countStr(cold))
	for i := 1; i < 3; i++ {
		b, a := before[i].P(50), after[i].P(50)
		ch := float64(a)/float64(b) - 1
		ctl := float64(after[0].P(50))/float64(before[0].P(50)) - 1
		rep.target(ch <= 0.2, "%s p50 unchanged with +%d actors (within +20%%): %s → %s (%+.0f%%; raw read control %+.0f%%)",
			names[i], o.dirActors, benchkit.FmtDur(b), benchkit.FmtDur(a), 100*ch, 100*ctl)
	}
	return nil
}

// copyActors adds n sleeping, initialized counter rows with keys
// ["dir-<i>"] straight into the actors table with COPY (setup, not a
// measurement of the engine's creation path).
func (e *env) copyActors(ctx context.Context, n int) error {
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	i := 0
	var id [16]byte
	_, err = conn.Conn().CopyFrom(ctx, pgx.Identifier{"actors"},
		[]string{"id", "namespace", "name", "key_serialized", "pool", "crash_policy", "initialized"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i >= n {
				return nil, nil
			}
			for j := 0; j < 16; j += 8 {
				v := rand.Uint64()
				for k := range 8 {
					id[j+k] = byte(v >> (8 * k))
				}
			}
			row := []any{fmt.Sprintf("%x", id), "default", counterName, store.EncodeKey([]string{"dir-" + strconv.Itoa(i)}), "default", "sleep", true}
			i++
			return row, nil
		}))
	return err
}

// ---- measurement helpers ----

// perOp formats the CPU per operation: this process's (client, gateway,
// runner) and the PostgreSQL server's.
func perOp(c benchkit.CPU, n int64) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf("cpu/op %s here + %s PostgreSQL", benchkit.FmtDur(c.Self/time.Duration(n)), benchkit.FmtDur(c.Tree/time.Duration(n)))
}

// cpuPerOp is this process's CPU time per operation of s.
func cpuPerOp(s *benchkit.Samples) time.Duration {
	if s.N() == 0 {
		return 0
	}
	return s.CPU.Self / time.Duration(s.N())
}

// countStr is the CPU per operation of s, if it was measured, and the
// number of operations.
func countStr(s *benchkit.Samples) string {
	if s.CPU == (benchkit.CPU{}) {
		return fmt.Sprintf("n=%d", s.N())
	}
	return fmt.Sprintf("%s; n=%d", perOp(s.CPU, int64(s.N())), s.N())
}

// findPostmaster finds the server's main process from a backend of conn.
func findPostmaster(ctx context.Context, conn *pgx.Conn) int {
	var backend int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(backend) + "/status")
	if err != nil {
		return 0 // a server on another machine or in another PID namespace
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

type tputRun struct {
	name    string
	callers int
	fn      func(i int) (int, error)
}

type tputResult struct {
	rate float64 // per second
	n    int64
	cpu  benchkit.CPU
}

// throughputRounds runs each of runs for slice per round (after a warm-up
// that is not counted), alternating, and returns each one's rate per second
// over all its rounds.
func throughputRounds(o options, cpu benchkit.CPUMeter, rounds int, slice time.Duration, runs []tputRun) ([]tputResult, error) {
	out := make([]tputResult, len(runs))
	d := make([]time.Duration, len(runs))
	for range rounds {
		for i, r := range runs {
			k, dur, used, err := benchkit.Throughput(r.callers, o.warmup, slice, cpu, r.fn)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", r.name, err)
			}
			out[i].n += k
			out[i].cpu = out[i].cpu.Add(used)
			d[i] += dur
		}
	}
	for i := range runs {
		out[i].rate = float64(out[i].n) / d[i].Seconds()
	}
	return out, nil
}

// ---- formatting ----

func ratioStr(d, base time.Duration) string {
	if base <= 0 {
		return ""
	}
	return fmt.Sprintf("%.2f× raw", float64(d)/float64(base))
}

func changeStr(after, before time.Duration) string {
	if before <= 0 {
		return ""
	}
	return fmt.Sprintf("%+.0f%%", 100*(float64(after)/float64(before)-1))
}

func metStr(ok bool) string {
	if ok {
		return "MET"
	}
	return "NOT MET"
}

func nproc() string {
	if out, err := exec.Command("nproc").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	return strconv.Itoa(runtime.NumCPU())
}

func printReport(w io.Writer, o options, rep *report, pgInfo, loadBefore, loadAfter string, started time.Time, took time.Duration) {
	fmt.Fprintf(w, "rivetkube distributed-engine benchmark (go run ./bench/pg)  %s\n", started.Format(time.RFC3339))
	fmt.Fprintf(w, "machine: %s\n", benchkit.Machine("nproc "+nproc()))
	fmt.Fprintf(w, "PostgreSQL: %s\n", pgInfo)
	fmt.Fprintf(w, "load average: %s before, %s after\n", loadBefore, loadAfter)
	fmt.Fprintf(w, "setup: one gateway (gateway.Start) and one runner (Registry.RunRunner, pool of %d conns) in this process,\n", o.runnerConns)
	fmt.Fprintf(w, "       Go client (BARE, keep-alive), throwaway PostgreSQL on the same machine, all on loopback\n")
	fmt.Fprintf(w, "run took %s\n", took.Round(100*time.Millisecond))
	for _, n := range rep.notes {
		fmt.Fprintln(w, n)
	}
	fmt.Fprintln(w)
	rep.Print(w)
	fmt.Fprintln(w, "\nLatency pairs alternate engine and raw calls in rounds; raw calls use one pgx connection")
	fmt.Fprintln(w, "(extended protocol, cached statements). The directory rows are COPYed straight into the")
	fmt.Fprintln(w, "actors table (setup), followed by VACUUM ANALYZE and CHECKPOINT before measuring again.")
}
