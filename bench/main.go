// Command bench measures rivetkube end to end and prints a table of figures:
// loopback baselines, sequential action latency over HTTP and WebSocket,
// throughput, actor creation rate and memory per idle actor, and checks the
// local-engine targets of issue 16 against physical references (loopback
// round trips, one fsync) measured in the same run.
//
// It is a measurement, not a test: it never fails on a figure. The engine
// is the in-process local engine on a temporary data directory, so the
// clients and the engine share the machine's cores.
//
//	go run ./bench                    # everything, about 2–3 minutes
//	go run ./bench -only read,write   # a subset
//	go run ./bench -only read -cpuprofile cpu.prof
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/rivetkube/rivetkube/bench/internal/benchkit"
	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/testactors"
	"github.com/rivetkube/rivetkube/rivet"
)

type options struct {
	latDur     time.Duration
	warmup     time.Duration
	tputDur    time.Duration
	callers    int
	actors     int
	creates    int
	createConc int
	idle       int
	encoding   string
	only       map[string]bool
	dataDir    string
	store      string // -store: local.StorePebble, local.StoreBolt or ""
	cpuProfile string
	memProfile string
}

var sections = []string{"base", "read", "write", "await", "tput", "create", "mem"}

func main() {
	var o options
	var only string
	flag.DurationVar(&o.latDur, "lat", 3*time.Second, "duration of each sequential latency measurement")
	flag.DurationVar(&o.warmup, "warmup", 300*time.Millisecond, "warm-up before each measurement (not recorded)")
	flag.DurationVar(&o.tputDur, "tput", 5*time.Second, "duration of each throughput measurement")
	flag.IntVar(&o.callers, "callers", 64, "concurrent callers in the throughput measurements")
	flag.IntVar(&o.actors, "actors", 1000, "actors spread over in the throughput measurement")
	flag.IntVar(&o.creates, "creates", 5000, "actors created in the creation measurement (at least -actors)")
	flag.IntVar(&o.createConc, "create-conc", 64, "concurrency of actor creation")
	flag.IntVar(&o.idle, "idle", 100000, "awake idle actors for the memory measurement")
	flag.StringVar(&o.encoding, "encoding", "bare", "client encoding: bare, cbor or json")
	flag.StringVar(&only, "only", "", "comma-separated sections to run ("+strings.Join(sections, ",")+"); default all")
	flag.StringVar(&o.store, "store", "", "embedded store: pebble or bolt (default: what -data-dir holds, pebble for a new one)")
	flag.StringVar(&o.dataDir, "data-dir", "", "engine data directory (default: a new temporary directory, removed after)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured sections to this file")
	flag.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile to this file at the end")
	flag.Parse()
	o.creates = max(o.creates, o.actors)
	var err error
	if o.only, err = benchkit.ParseOnly(only, sections); err != nil {
		benchkit.Fatal("bench", err)
	}
	if err := run(o); err != nil {
		benchkit.Fatal("bench", err)
	}
}

func (o options) want(section string) bool { return len(o.only) == 0 || o.only[section] }

func run(o options) error {
	ctx := context.Background()
	dir := o.dataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "rivetkube-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	reg := testactors.Register(rivet.NewRegistry())
	eng, err := reg.StartLocal(ctx, rivet.EngineConfig{
		Listen:  "127.0.0.1:0",
		DataDir: dir,
		Store:   o.store,
		Log:     log,
		// Keep every actor awake for the whole run.
		Limits: rivet.Limits{SleepTimeout: time.Hour},
	})
	if err != nil {
		return err
	}
	defer eng.Close()

	// One keep-alive HTTP client for the baseline and the Go client.
	httpc := benchkit.KeepAliveClient()

	cl, err := client.New(client.Config{Endpoint: eng.Endpoint(), Encoding: client.Encoding(o.encoding), HTTPClient: httpc})
	if err != nil {
		return err
	}

	stopProfile, err := benchkit.StartCPUProfile(o.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()

	start := time.Now()
	fmt.Fprintf(os.Stderr, "running (data dir %s) ...\n", dir)
	t := benchkit.Table{Progress: os.Stderr, NameWidth: 48, ValueWidth: 10}
	var m figures

	// The physical references (loopback round trips, one fsync) are
	// measured in the same run as the figures the targets compare to them.
	if o.want("base") || o.want("read") || o.want("write") {
		s, err := baselineHTTP(ctx, o, httpc)
		if err != nil {
			return fmt.Errorf("baseline http: %w", err)
		}
		m.baseHTTP = s.P(50)
		t.AddSamples("loopback HTTP round trip (net/http)", s, countStr(s))
		s, err = baselineWS(ctx, o)
		if err != nil {
			return fmt.Errorf("baseline websocket: %w", err)
		}
		m.baseWS = s.P(50)
		t.AddSamples("loopback WebSocket round trip (coder/websocket)", s, countStr(s))
		s, err = baselineFsync(o, dir)
		if err != nil {
			return fmt.Errorf("baseline fsync: %w", err)
		}
		m.fsync = s.P(50)
		t.AddSamples("fsync of a 4 KiB write in the data dir", s, countStr(s))
	}

	if o.want("read") || o.want("write") {
		for _, act := range []struct {
			section, name string
			args          []any
		}{
			{"read", "getCount", nil},
			{"write", "increment", []any{1}},
		} {
			if !o.want(act.section) {
				continue
			}
			kind := "read-only"
			if act.section == "write" {
				kind = "durable write"
			}
			h := cl.GetOrCreate("counter", []string{"bench-seq-" + act.section})
			s, err := sequential(o, func() error { return h.Action(ctx, act.name, nil, act.args...) })
			if err != nil {
				return fmt.Errorf("%s over HTTP: %w", act.name, err)
			}
			notes := countStr(s)
			if act.section == "read" {
				m.readHTTP = s.P(50)
				notes = ratio(s.P(50), m.baseHTTP, "HTTP") + "; " + notes
			} else {
				m.writeHTTP = s.P(50)
			}
			t.AddSamples(fmt.Sprintf("%s action counter.%s, HTTP", kind, act.name), s, notes)

			conn, err := h.Connect(ctx)
			if err != nil {
				return fmt.Errorf("connect: %w", err)
			}
			s, err = sequential(o, func() error { return conn.Action(ctx, act.name, nil, act.args...) })
			conn.Close()
			if err != nil {
				return fmt.Errorf("%s over WebSocket: %w", act.name, err)
			}
			notes = countStr(s)
			if act.section == "read" {
				notes = ratio(s.P(50), m.baseWS, "WS") + "; " + notes
			}
			t.AddSamples(fmt.Sprintf("%s action counter.%s, WebSocket", kind, act.name), s, notes)
		}
	}

	if o.want("await") {
		if err := benchAwait(ctx, o, cl, &t); err != nil {
			return fmt.Errorf("await: %w", err)
		}
	}

	if o.want("tput") {
		h := cl.GetOrCreate("counter", []string{"bench-hot"})
		if err := h.Action(ctx, "increment", nil, 1); err != nil {
			return err
		}
		n, d, cpu, err := throughput(o, func(int) error { return h.Action(ctx, "increment", nil, 1) })
		if err != nil {
			return fmt.Errorf("throughput on one actor: %w", err)
		}
		t.Add(fmt.Sprintf("throughput: %d callers, 1 actor (increment, HTTP)", o.callers), "", "", tputStr(n, d, cpu))
	}

	var created []*client.Handle
	if o.want("create") || o.want("tput") {
		c0 := benchkit.SelfCPU()
		hs, d, err := createN(ctx, cl, "bench-new", o.creates, o.createConc)
		cpu := benchkit.SelfCPU() - c0
		if err != nil {
			return fmt.Errorf("create actors: %w", err)
		}
		created = hs[:o.actors]
		m.createRate = float64(o.creates) / d.Seconds()
		if o.want("create") {
			t.Add(fmt.Sprintf("create %d actors (getOrCreate + first action, %d concurrent)", o.creates, o.createConc), "", "",
				fmt.Sprintf("%s total, %.0f actors/s, cpu %s/actor", benchkit.FmtDur(d), m.createRate, benchkit.FmtDur(cpu/time.Duration(o.creates))))
		}
	}

	if o.want("tput") {
		n, d, cpu, err := throughput(o, func(i int) error {
			return created[rand.IntN(len(created))].Action(ctx, "increment", nil, 1)
		})
		if err != nil {
			return fmt.Errorf("throughput over %d actors: %w", len(created), err)
		}
		t.Add(fmt.Sprintf("throughput: %d callers, %d actors (increment, HTTP)", o.callers, len(created)), "", "", tputStr(n, d, cpu))
	}

	if o.want("mem") {
		mem, err := idleMemory(ctx, o, cl, eng)
		if err != nil {
			return fmt.Errorf("idle actors: %w", err)
		}
		m.mem = &mem
		t.Add(fmt.Sprintf("memory per awake idle actor (%d actors)", o.idle), "", "",
			fmt.Sprintf("%s heap + %s goroutine stacks = %s; %d awake, process RSS %s",
				fmtBytes(mem.heap), fmtBytes(mem.stack), fmtBytes(mem.heap+mem.stack), mem.awake, fmtMiB(mem.rss)))
	}

	if o.memProfile != "" {
		f, err := os.Create(o.memProfile)
		if err != nil {
			return err
		}
		_ = pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
	}

	t.Targets = append(t.Targets, m.targets(o)...)
	printReport(os.Stdout, o, &t, time.Since(start))
	return nil
}

// countStr is the CPU time per call of s (this process: client and engine
// together) and the number of calls.
func countStr(s *benchkit.Samples) string {
	if s.N() == 0 {
		return ""
	}
	return fmt.Sprintf("cpu %s/op, n=%d", benchkit.FmtDur(s.CPU.Self/time.Duration(s.N())), s.N())
}

// sequential calls fn back to back: a warm-up, then o.latDur recorded.
func sequential(o options, fn func() error) (*benchkit.Samples, error) {
	s, err := benchkit.Sequential(o.warmup, o.latDur, 1, benchkit.CPUMeter{}, fn)
	if err != nil {
		return nil, err
	}
	return s[0], nil
}

// throughput runs o.callers goroutines calling fn for o.tputDur (after a
// warm-up) and returns the calls completed in the measured window.
func throughput(o options, fn func(i int) error) (n int64, d time.Duration, cpu time.Duration, err error) {
	n, d, used, err := benchkit.Throughput(o.callers, o.warmup, o.tputDur, benchkit.CPUMeter{}, func(i int) (int, error) { return 1, fn(i) })
	return n, d, used.Self, err
}

func createN(ctx context.Context, cl *client.Client, prefix string, n, conc int) ([]*client.Handle, time.Duration, error) {
	hs := make([]*client.Handle, n)
	for i := range hs {
		hs[i] = cl.GetOrCreate("counter", []string{fmt.Sprintf("%s-%d", prefix, i)})
	}
	_, d, err := benchkit.ConcurrentEach(n, conc, benchkit.CPUMeter{}, func(i int) error { return hs[i].Action(ctx, "getCount", nil) })
	return hs, d, err
}

// idleMem is what idleMemory measured.
type idleMem struct {
	heap, stack int64 // growth per actor
	awake       int   // awake actors in the engine after the wake-up
	rss         int64 // resident set of the process, bytes
}

// idleMemory wakes o.idle counters and returns the growth of HeapInuse and
// StackInuse per actor, measured after GC in this process (client, gateway
// and runtime share it; the client holds nothing per actor once done), the
// number of awake actors and the process's resident set.
func idleMemory(ctx context.Context, o options, cl *client.Client, eng *rivet.LocalEngine) (idleMem, error) {
	before := memNow()
	if _, _, err := createN(ctx, cl, "bench-idle", o.idle, o.createConc); err != nil {
		return idleMem{}, err
	}
	after := memNow()
	n := int64(o.idle)
	return idleMem{
		heap:  (int64(after.HeapInuse) - int64(before.HeapInuse)) / n,
		stack: (int64(after.StackInuse) - int64(before.StackInuse)) / n,
		awake: eng.Awake(),
		rss:   benchkit.RSS(),
	}, nil
}

func memNow() runtime.MemStats {
	var m runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	debug.FreeOSMemory()
	runtime.ReadMemStats(&m)
	return m
}

// baselineHTTP measures a trivial net/http handler on loopback with the same
// http.Client the Go client uses. The request is a small POST, like an
// action call.
func baselineHTTP(ctx context.Context, o options, httpc *http.Client) (*benchkit.Samples, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte{0x00, 0x01, 0x02})
	})}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/ping"
	body := []byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}
	return sequential(o, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
		if err != nil {
			return err
		}
		resp, err := httpc.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return err
	})
}

// baselineFsync measures a 4 KiB overwrite plus fsync in the data dir: the
// disk's share of every durable write (a Pebble commit syncs its WAL
// once, a bbolt commit twice).
func baselineFsync(o options, dir string) (*benchkit.Samples, error) {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	i := 0
	o.latDur, o.warmup = min(o.latDur, time.Second), min(o.warmup, 100*time.Millisecond)
	return sequential(o, func() error {
		i++
		if _, err := f.WriteAt(buf, int64(i%16)*4096); err != nil {
			return err
		}
		return f.Sync()
	})
}

// baselineWS measures a coder/websocket echo on loopback.
func baselineWS(ctx context.Context, o options) (*benchkit.Samples, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, data, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, data); err != nil {
				return
			}
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	c, _, err := websocket.Dial(ctx, "ws://"+ln.Addr().String()+"/", &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, err
	}
	defer c.CloseNow()
	msg := []byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}
	return sequential(o, func() error {
		if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
			return err
		}
		_, _, err := c.Read(ctx)
		return err
	})
}

func tputStr(n int64, d, cpu time.Duration) string {
	if n == 0 {
		return "0 actions/s"
	}
	return fmt.Sprintf("%.0f actions/s, cpu %s/action", float64(n)/d.Seconds(), benchkit.FmtDur(cpu/time.Duration(n)))
}

func ratio(d, base time.Duration, what string) string {
	if base <= 0 {
		return ""
	}
	return fmt.Sprintf("%.1f× loopback %s", float64(d)/float64(base), what)
}

func fmtBytes(n int64) string {
	if n >= 10*1024 || n <= -10*1024 {
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%d B", n)
}

func fmtMiB(n int64) string {
	if n <= 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}

// target formats one target line: MET or NOT MET, then the target and its
// figures (the format bench/pg prints).
func target(ok bool, format string, args ...any) string {
	st := "NOT MET"
	if ok {
		st = "MET"
	}
	return fmt.Sprintf("%-8s ", st) + fmt.Sprintf(format, args...)
}

func printReport(w io.Writer, o options, t *benchkit.Table, took time.Duration) {
	fmt.Fprintf(w, "rivetkube bench  %s\n", time.Now().Format(time.RFC3339))
	fmt.Fprintf(w, "machine: %s\n", benchkit.Machine(fmt.Sprintf("%d CPUs", runtime.NumCPU())))
	if _, la, ok := benchkit.LoadAvg(); ok {
		fmt.Fprintf(w, "load average at the end: %s (other processes on the machine skew the figures)\n", la)
	}
	st := o.store
	if st == "" {
		st = "the default store: pebble unless -data-dir holds a bbolt file"
	}
	fmt.Fprintf(w, "engine: in-process local engine (%s); client and engine share the CPUs\n", st)
	fmt.Fprintf(w, "client: Go client, encoding %s, keep-alive http.Client (MaxIdleConnsPerHost 1024)\n", o.encoding)
	fmt.Fprintf(w, "run took %s\n\n", took.Round(100*time.Millisecond))
	t.Print(w)
	fmt.Fprintln(w, "\ncpu/op is user+system CPU time of the whole process (client and engine) per call;")
	fmt.Fprintln(w, "it is less sensitive than latency to other processes competing for the cores.")
	fmt.Fprintln(w, "memory is HeapInuse and StackInuse growth after GC, divided by the actors woken;")
	fmt.Fprintln(w, "the engine runs in this process, so the figure includes its per-actor structures only.")
}
