// Command bench measures rivetkube end to end and prints a table of figures:
// loopback baselines, sequential action latency over HTTP and WebSocket,
// throughput, actor creation rate and memory per idle actor.
//
// It is a measurement, not a test: it never fails on a figure. The engine
// is the in-process local engine on a temporary data directory, so the
// clients and the engine share the machine's cores.
//
//	go run ./bench                    # everything, about 1–2 minutes
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
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/coder/websocket"

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
	createConc int
	idle       int
	encoding   string
	only       map[string]bool
	dataDir    string
	cpuProfile string
	memProfile string
}

var sections = []string{"base", "read", "write", "tput", "create", "mem"}

func main() {
	var o options
	var only string
	flag.DurationVar(&o.latDur, "lat", 3*time.Second, "duration of each sequential latency measurement")
	flag.DurationVar(&o.warmup, "warmup", 300*time.Millisecond, "warm-up before each measurement (not recorded)")
	flag.DurationVar(&o.tputDur, "tput", 5*time.Second, "duration of each throughput measurement")
	flag.IntVar(&o.callers, "callers", 64, "concurrent callers in the throughput measurements")
	flag.IntVar(&o.actors, "actors", 1000, "actors created (and spread over in the throughput measurement)")
	flag.IntVar(&o.createConc, "create-conc", 64, "concurrency of actor creation")
	flag.IntVar(&o.idle, "idle", 10000, "awake idle actors for the memory measurement")
	flag.StringVar(&o.encoding, "encoding", "bare", "client encoding: bare, cbor or json")
	flag.StringVar(&only, "only", "", "comma-separated sections to run ("+strings.Join(sections, ",")+"); default all")
	flag.StringVar(&o.dataDir, "data-dir", "", "engine data directory (default: a new temporary directory, removed after)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured sections to this file")
	flag.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile to this file at the end")
	flag.Parse()
	o.only = map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if !slices.Contains(sections, s) {
				fatalf("unknown section %q (want %s)", s, strings.Join(sections, ","))
			}
			o.only[s] = true
		}
	}
	if err := run(o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

func (o options) want(section string) bool { return len(o.only) == 0 || o.only[section] }

// row is one line of the result table.
type row struct{ name, p50, p99, extra string }

type table struct{ rows []row }

func (t *table) add(r row) {
	t.rows = append(t.rows, r)
	fmt.Fprintf(os.Stderr, "  %-48s %10s %10s  %s\n", r.name, r.p50, r.p99, r.extra)
}

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
		Log:     log,
		// Keep every actor awake for the whole run.
		Limits: rivet.Limits{SleepTimeout: time.Hour},
	})
	if err != nil {
		return err
	}
	defer eng.Close()

	// One HTTP client for the baseline and the Go client: keep-alive, with
	// enough idle connections per host for every concurrent caller (the
	// default transport keeps only 2, which would reconnect under load).
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 1024
	httpc := &http.Client{Transport: tr}

	cl, err := client.New(client.Config{Endpoint: eng.Endpoint(), Encoding: client.Encoding(o.encoding), HTTPClient: httpc})
	if err != nil {
		return err
	}

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	start := time.Now()
	fmt.Fprintf(os.Stderr, "running (data dir %s) ...\n", dir)
	var t table
	var baseHTTP, baseWS, readHTTP, create time.Duration

	if o.want("base") || o.want("read") {
		s, err := baselineHTTP(ctx, o, httpc)
		if err != nil {
			return fmt.Errorf("baseline http: %w", err)
		}
		baseHTTP = s.p(50)
		t.add(row{"loopback HTTP round trip (net/http)", fmtDur(s.p(50)), fmtDur(s.p(99)), s.countStr()})
		s, err = baselineWS(ctx, o)
		if err != nil {
			return fmt.Errorf("baseline websocket: %w", err)
		}
		baseWS = s.p(50)
		t.add(row{"loopback WebSocket round trip (coder/websocket)", fmtDur(s.p(50)), fmtDur(s.p(99)), s.countStr()})
		s, err = baselineFsync(o, dir)
		if err != nil {
			return fmt.Errorf("baseline fsync: %w", err)
		}
		t.add(row{"fsync of a 4 KiB write in the data dir", fmtDur(s.p(50)), fmtDur(s.p(99)), "a bbolt commit syncs twice; " + s.countStr()})
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
			notes := s.countStr()
			if act.section == "read" {
				readHTTP = s.p(50)
				notes = ratio(s.p(50), baseHTTP, "HTTP") + "; " + notes
			}
			t.add(row{fmt.Sprintf("%s action counter.%s, HTTP", kind, act.name), fmtDur(s.p(50)), fmtDur(s.p(99)), notes})

			conn, err := h.Connect(ctx)
			if err != nil {
				return fmt.Errorf("connect: %w", err)
			}
			s, err = sequential(o, func() error { return conn.Action(ctx, act.name, nil, act.args...) })
			conn.Close()
			if err != nil {
				return fmt.Errorf("%s over WebSocket: %w", act.name, err)
			}
			notes = s.countStr()
			if act.section == "read" {
				notes = ratio(s.p(50), baseWS, "WS") + "; " + notes
			}
			t.add(row{fmt.Sprintf("%s action counter.%s, WebSocket", kind, act.name), fmtDur(s.p(50)), fmtDur(s.p(99)), notes})
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
		t.add(row{fmt.Sprintf("throughput: %d callers, 1 actor (increment, HTTP)", o.callers), "", "", tputStr(n, d, cpu)})
	}

	var created []*client.Handle
	if o.want("create") || o.want("tput") {
		c0 := cpuTime()
		hs, d, err := createActors(ctx, o, cl, "bench-new")
		cpu := cpuTime() - c0
		if err != nil {
			return fmt.Errorf("create actors: %w", err)
		}
		created = hs
		create = d
		if o.want("create") {
			t.add(row{fmt.Sprintf("create %d actors (getOrCreate + first action, %d concurrent)", o.actors, o.createConc), "", "",
				fmt.Sprintf("%s total, %.0f actors/s, cpu %s/actor", fmtDur(d), float64(o.actors)/d.Seconds(), fmtDur(cpu/time.Duration(o.actors)))})
		}
	}

	if o.want("tput") {
		n, d, cpu, err := throughput(o, func(i int) error {
			return created[rand.IntN(len(created))].Action(ctx, "increment", nil, 1)
		})
		if err != nil {
			return fmt.Errorf("throughput over %d actors: %w", len(created), err)
		}
		t.add(row{fmt.Sprintf("throughput: %d callers, %d actors (increment, HTTP)", o.callers, len(created)), "", "", tputStr(n, d, cpu)})
	}

	if o.want("mem") {
		heap, stack, err := idleMemory(ctx, o, cl)
		if err != nil {
			return fmt.Errorf("idle actors: %w", err)
		}
		t.add(row{fmt.Sprintf("memory per awake idle actor (%d actors)", o.idle), "", "",
			fmt.Sprintf("%s heap + %s goroutine stacks = %s", fmtBytes(heap), fmtBytes(stack), fmtBytes(heap+stack))})
	}

	if o.memProfile != "" {
		f, err := os.Create(o.memProfile)
		if err != nil {
			return err
		}
		_ = pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
	}

	var targets []string
	if readHTTP > 0 && baseHTTP > 0 {
		targets = append(targets, fmt.Sprintf("read-only action p50 over HTTP within 3× the loopback HTTP round trip: %s (%.1f×)",
			metStr(readHTTP <= 3*baseHTTP), float64(readHTTP)/float64(baseHTTP)))
	}
	if create > 0 && o.actors == 1000 && o.want("create") {
		targets = append(targets, fmt.Sprintf("1,000 actors created in under a second: %s (%s)", metStr(create < time.Second), fmtDur(create)))
	}
	printReport(os.Stdout, o, t, targets, time.Since(start))
	return nil
}

// samples are latencies, sorted by p, and the CPU time this process
// (client and engine together) spent on them.
type samples struct {
	d      []time.Duration
	sorted bool
	cpu    time.Duration
}

func (s *samples) p(q float64) time.Duration {
	if len(s.d) == 0 {
		return 0
	}
	if !s.sorted {
		slices.Sort(s.d)
		s.sorted = true
	}
	i := int(float64(len(s.d)-1) * q / 100)
	return s.d[i]
}

func (s *samples) countStr() string {
	if len(s.d) == 0 {
		return ""
	}
	return fmt.Sprintf("cpu %s/op, n=%d", fmtDur(s.cpu/time.Duration(len(s.d))), len(s.d))
}

// cpuTime is the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sequential calls fn back to back: a warm-up, then o.latDur recorded.
func sequential(o options, fn func() error) (*samples, error) {
	for end := time.Now().Add(o.warmup); time.Now().Before(end); {
		if err := fn(); err != nil {
			return nil, err
		}
	}
	s := &samples{d: make([]time.Duration, 0, 1<<16)}
	c0 := cpuTime()
	for end := time.Now().Add(o.latDur); time.Now().Before(end); {
		t0 := time.Now()
		if err := fn(); err != nil {
			return nil, err
		}
		s.d = append(s.d, time.Since(t0))
	}
	s.cpu = cpuTime() - c0
	return s, nil
}

// throughput runs o.callers goroutines calling fn for o.tputDur (after a
// warm-up) and returns the calls completed in the measured window.
func throughput(o options, fn func(i int) error) (n64 int64, d time.Duration, cpu time.Duration, err error) {
	var (
		n        atomic.Int64
		counting atomic.Bool
		stop     atomic.Bool
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for i := range o.callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if err := fn(i); err != nil {
					errOnce.Do(func() { firstErr = err })
					stop.Store(true)
					return
				}
				if counting.Load() {
					n.Add(1)
				}
			}
		}()
	}
	time.Sleep(o.warmup)
	counting.Store(true)
	t0, c0 := time.Now(), cpuTime()
	time.Sleep(o.tputDur)
	counting.Store(false)
	d, cpu = time.Since(t0), cpuTime()-c0
	stop.Store(true)
	wg.Wait()
	return n.Load(), d, cpu, firstErr
}

// createActors creates o.actors counters (getOrCreate + first action) with
// o.createConc workers and returns their handles and the time it took.
func createActors(ctx context.Context, o options, cl *client.Client, prefix string) ([]*client.Handle, time.Duration, error) {
	return createN(ctx, cl, prefix, o.actors, o.createConc)
}

func createN(ctx context.Context, cl *client.Client, prefix string, n, conc int) ([]*client.Handle, time.Duration, error) {
	hs := make([]*client.Handle, n)
	for i := range hs {
		hs[i] = cl.GetOrCreate("counter", []string{fmt.Sprintf("%s-%d", prefix, i)})
	}
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	t0 := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := hs[i].Action(ctx, "getCount", nil); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return hs, time.Since(t0), firstErr
}

// idleMemory wakes o.idle counters and returns the growth of HeapInuse and
// StackInuse per actor, measured after GC in this process (client, gateway
// and runtime share it; the client holds nothing per actor once done).
func idleMemory(ctx context.Context, o options, cl *client.Client) (heap, stack int64, err error) {
	before := memNow()
	if _, _, err := createN(ctx, cl, "bench-idle", o.idle, o.createConc); err != nil {
		return 0, 0, err
	}
	after := memNow()
	n := int64(o.idle)
	return (int64(after.HeapInuse) - int64(before.HeapInuse)) / n, (int64(after.StackInuse) - int64(before.StackInuse)) / n, nil
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
func baselineHTTP(ctx context.Context, o options, httpc *http.Client) (*samples, error) {
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
// disk's share of every durable write (a bbolt commit syncs twice).
func baselineFsync(o options, dir string) (*samples, error) {
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
func baselineWS(ctx context.Context, o options) (*samples, error) {
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
	return fmt.Sprintf("%.0f actions/s, cpu %s/action", float64(n)/d.Seconds(), fmtDur(cpu/time.Duration(n)))
}

func ratio(d, base time.Duration, what string) string {
	if base <= 0 {
		return ""
	}
	return fmt.Sprintf("%.1f× loopback %s", float64(d)/float64(base), what)
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return ""
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

func fmtBytes(n int64) string {
	if n >= 10*1024 || n <= -10*1024 {
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%d B", n)
}

func goVersion() string {
	if out, err := exec.Command("go", "version").Output(); err == nil {
		return strings.TrimSpace(string(out)) + " (built with " + runtime.Version() + ")"
	}
	return runtime.Version()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
		}
	}
	return "unknown"
}

func metStr(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func printReport(w io.Writer, o options, t table, targets []string, took time.Duration) {
	fmt.Fprintf(w, "rivetkube bench  %s\n", time.Now().Format(time.RFC3339))
	fmt.Fprintf(w, "machine: %d CPUs (%s), GOMAXPROCS=%d, %s/%s, %s\n",
		runtime.NumCPU(), cpuModel(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, goVersion())
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(la))
		if len(f) >= 3 {
			fmt.Fprintf(w, "load average at the end: %s %s %s (other processes on the machine skew the figures)\n", f[0], f[1], f[2])
		}
	}
	fmt.Fprintf(w, "engine: in-process local engine (bbolt on a temp dir); client and engine share the CPUs\n")
	fmt.Fprintf(w, "client: Go client, encoding %s, keep-alive http.Client (MaxIdleConnsPerHost 1024)\n", o.encoding)
	fmt.Fprintf(w, "run took %s\n\n", took.Round(100*time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measurement\tp50\tp99\tnotes")
	fmt.Fprintln(tw, "-----------\t---\t---\t-----")
	for _, r := range t.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.name, r.p50, r.p99, r.extra)
	}
	tw.Flush()
	if len(targets) > 0 {
		fmt.Fprintln(w, "\ntargets:")
		for _, s := range targets {
			fmt.Fprintln(w, "  "+s)
		}
	}
	fmt.Fprintln(w, "\ncpu/op is user+system CPU time of the whole process (client and engine) per call;")
	fmt.Fprintln(w, "it is less sensitive than latency to other processes competing for the cores.")
	fmt.Fprintln(w, "memory is HeapInuse and StackInuse growth after GC, divided by the actors woken;")
	fmt.Fprintln(w, "the engine runs in this process, so the figure includes its per-actor structures only.")
}
