// Command observe measures what metrics and tracing cost per action: the
// same action loops run against an engine without metrics and one with
// them, each with tracing off (the global no-op provider, as when no
// OTEL_* variable is set) and on (every action sampled, spans batched and
// exported), in rounds that alternate between the four modes so that each
// sees the same machine conditions. It prints per mode the p50/p99 of
// sequential actions (read: getCount, which commits nothing; write:
// increment, one durable commit each), the CPU time per action, the
// throughput of concurrent readers (CPU-bound, so an overhead shows as a
// lower rate), and the difference from the mode with both off.
//
// The engines are the local engine's parts wired as runner/local wires them
// (embedded store with its group committer, runtime, edge over loopback
// HTTP), each on its own data directory, hosting the quickstart counter;
// the metrics collectors are nil (the documented "no metrics") or
// registered on a registry of their own. Traces go, by default, through
// the production path (internal/tracing.Setup from OTEL_* variables this
// command sets: OTLP/HTTP protobuf, batched) to an in-process OTLP
// endpoint that reads and discards them; -exporter memory uses an
// in-process exporter instead (spans batched, counted, dropped), which
// leaves out the protobuf encoding and the HTTP post.
//
// It is a measurement, not a test: it never fails on a figure. The clients
// run in the same process, so CPU per action includes theirs (the same in
// every mode: the differences are the engine's).
//
//	go run ./bench/observe                      # about 1 minute
//	go run ./bench/observe -rounds 5 -lat 3s    # longer, steadier
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/rivetkube/rivetkube/bench/internal/benchkit"
	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/examples/quickstart/actors"
	"github.com/rivetkube/rivetkube/gateway/edge"
	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/tracing"
	"github.com/rivetkube/rivetkube/runner"
	"github.com/rivetkube/rivetkube/runner/local"
)

type options struct {
	lat, warmup, tput time.Duration
	rounds, callers   int
	exporter          string
	only              map[string]bool
}

var sections = []string{"read", "write", "tput"}

// mode is one combination of metrics and tracing.
type mode struct {
	name             string
	metrics, tracing bool
}

var modes = []mode{{"off", false, false}, {"metrics", true, false}, {"tracing", false, true}, {"both", true, true}}

func main() {
	var o options
	var only string
	flag.DurationVar(&o.lat, "lat", 2*time.Second, "sequential calls per mode per round, for each of read and write")
	flag.DurationVar(&o.warmup, "warmup", 300*time.Millisecond, "warm-up per mode before the rounds (not recorded)")
	flag.DurationVar(&o.tput, "tput", 2*time.Second, "throughput measurement per mode per round")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every mode once, in turn")
	flag.IntVar(&o.callers, "callers", 16, "concurrent callers (each reading its own counter) in the throughput measurement")
	flag.StringVar(&o.exporter, "exporter", "otlp", "where spans go: otlp (OTLP/HTTP to an in-process endpoint, the production path) or memory (an in-process exporter)")
	flag.StringVar(&only, "only", "", "comma-separated sections ("+strings.Join(sections, ",")+"); default all")
	flag.Parse()
	var err error
	if o.only, err = benchkit.ParseOnly(only, sections); err != nil {
		benchkit.Fatal("observe", err)
	}
	if len(o.only) == 0 {
		for _, s := range sections {
			o.only[s] = true
		}
	}
	if o.exporter != "otlp" && o.exporter != "memory" {
		benchkit.Fatal("observe", fmt.Errorf("-exporter: want otlp or memory, got %q", o.exporter))
	}
	if err := run(o); err != nil {
		benchkit.Fatal("observe", err)
	}
}

// engine is one wired engine and a client of it.
type engine struct {
	reg    *prometheus.Registry // nil without metrics
	c      *client.Client
	close  func()
	actors int64 // counters made so far (keys are per engine)
}

func startEngine(dir string, withMetrics bool) (*engine, error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The local engine's embedded store (RIVETKUBE_STORE picks it).
	st, _, err := local.OpenStore(dir, os.Getenv("RIVETKUBE_STORE"))
	if err != nil {
		return nil, err
	}
	var (
		reg *prometheus.Registry
		gm  *metrics.Gateway
		rm  *metrics.Runner
		sm  *metrics.Store
	)
	if withMetrics {
		reg = metrics.NewRegistry()
		gm, rm, sm = metrics.NewGateway(reg), metrics.NewRunner(reg), metrics.NewStore(reg)
	}
	committer := store.NewCommitter(st, store.CommitterOptions{Metrics: sm})
	rt := runner.NewRuntime(runner.RuntimeConfig{Store: st, Committer: committer, Defs: []runner.Definition{actors.Counter},
		RunnerID: "bench", Log: log, Metrics: rm})
	gw := edge.New(edge.Config{Directory: st, Host: rt, Log: log, Version: "bench", CORS: edge.AllowAnyOrigin(), Metrics: gm})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		committer.Close()
		_ = st.Close()
		return nil, err
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	c, err := client.New(client.Config{Endpoint: "http://" + ln.Addr().String(), Encoding: client.EncodingBARE, HTTPClient: benchkit.KeepAliveClient()})
	if err != nil {
		return nil, err
	}
	return &engine{reg: reg, c: c, close: func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		rt.Close(ctx)
		committer.Close()
		_ = st.Close()
	}}, nil
}

// counter returns a handle of a new counter of e (created by its first call).
func (e *engine) counter() *client.Handle {
	n := atomic.AddInt64(&e.actors, 1)
	return e.c.GetOrCreate("counter", []string{fmt.Sprintf("obs-%d", n)})
}

// tracers switches the global tracer provider between off and on.
type tracers struct {
	on    trace.TracerProvider
	spans func() int64 // spans exported so far
	bytes func() int64 // OTLP bytes received so far (otlp only)
	stop  func(context.Context) error
}

// flush exports the spans the batcher holds.
func (t *tracers) flush(ctx context.Context) error {
	if f, ok := t.on.(interface{ ForceFlush(context.Context) error }); ok {
		return f.ForceFlush(ctx)
	}
	return nil
}

func (t *tracers) set(on bool) {
	if on {
		otel.SetTracerProvider(t.on)
	} else {
		otel.SetTracerProvider(noop.NewTracerProvider())
	}
}

// countingExporter counts the spans it is given and drops them.
type countingExporter struct{ n atomic.Int64 }

func (x *countingExporter) ExportSpans(_ context.Context, s []sdktrace.ReadOnlySpan) error {
	x.n.Add(int64(len(s)))
	return nil
}
func (x *countingExporter) Shutdown(context.Context) error { return nil }

// startTracing builds the "on" provider. otlp: an in-process OTLP/HTTP
// endpoint and tracing.Setup configured for it by the standard variables.
func startTracing(ctx context.Context, exporter string) (*tracers, error) {
	if exporter == "memory" {
		x := &countingExporter{}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(x), sdktrace.WithSampler(sdktrace.AlwaysSample()))
		otel.SetTextMapPropagator(propagation.TraceContext{})
		return &tracers{on: tp, spans: x.n.Load, bytes: func() int64 { return 0 }, stop: tp.Shutdown}, nil
	}
	var bytes, posts atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sink := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		bytes.Add(n)
		posts.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK) // an empty ExportTraceServiceResponse
	})}
	go func() { _ = sink.Serve(ln) }()
	for k, v := range map[string]string{
		"OTEL_TRACES_EXPORTER":               "otlp",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://" + ln.Addr().String() + "/v1/traces",
		"OTEL_TRACES_SAMPLER":                "always_on",
		"OTEL_SERVICE_NAME":                  "rivetkube-bench-observe",
	} {
		os.Setenv(k, v)
	}
	stop, err := tracing.Setup(ctx, "rivetkube-bench-observe")
	if err != nil {
		_ = sink.Close()
		return nil, err
	}
	return &tracers{on: otel.GetTracerProvider(), spans: func() int64 { return -1 }, bytes: bytes.Load, stop: func(ctx context.Context) error {
		err := stop(ctx)
		_ = sink.Close()
		return err
	}}, nil
}

// result is one mode's measurements over all rounds.
type result struct {
	read, write  benchkit.Samples
	readCPU      time.Duration
	writeCPU     time.Duration
	tputOps      int64
	tputDur      time.Duration
	tputCPU      time.Duration
	spans, bytes int64 // exported while this mode ran
}

func run(o options) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "rivetkube-bench-observe-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	plain, err := startEngine(filepath.Join(dir, "plain"), false)
	if err != nil {
		return err
	}
	defer plain.close()
	measured, err := startEngine(filepath.Join(dir, "metrics"), true)
	if err != nil {
		return err
	}
	defer measured.close()
	tr, err := startTracing(ctx, o.exporter)
	if err != nil {
		return err
	}
	defer func() { tr.set(false); _ = tr.stop(context.Background()) }()

	engineOf := func(m mode) *engine {
		if m.metrics {
			return measured
		}
		return plain
	}
	// One counter per engine for the sequential loops, one per caller for
	// the throughput; all created and awake before anything is measured.
	seq := map[*engine]*client.Handle{}
	par := map[*engine][]*client.Handle{}
	for _, e := range []*engine{plain, measured} {
		seq[e] = e.counter()
		for range o.callers {
			par[e] = append(par[e], e.counter())
		}
		for _, h := range append([]*client.Handle{seq[e]}, par[e]...) {
			if _, err := client.Call[int64](ctx, h, "increment", 1); err != nil {
				return fmt.Errorf("create a counter: %w", err)
			}
		}
	}
	call := func(h *client.Handle, action string, args ...any) error {
		_, err := client.Call[int64](ctx, h, action, args...)
		return err
	}
	loops := []struct {
		section string
		fn      func(h *client.Handle) error
		pick    func(r *result) (*benchkit.Samples, *time.Duration)
	}{
		{"read", func(h *client.Handle) error { return call(h, "getCount") },
			func(r *result) (*benchkit.Samples, *time.Duration) { return &r.read, &r.readCPU }},
		{"write", func(h *client.Handle) error { return call(h, "increment", 1) },
			func(r *result) (*benchkit.Samples, *time.Duration) { return &r.write, &r.writeCPU }},
	}

	load0, loadAll, _ := benchkit.LoadAvg()
	fmt.Printf("machine: %s\nload before: %s (1-minute %.2f)\n", benchkit.Machine(fmt.Sprintf("%d CPUs", runtime.NumCPU())), loadAll, load0)
	fmt.Printf("modes: %d rounds of off, metrics, tracing, both; %v sequential per loop, %v with %d callers; spans to %s\n",
		o.rounds, o.lat, o.tput, o.callers, map[string]string{"otlp": "an in-process OTLP/HTTP endpoint (tracing.Setup)", "memory": "an in-process exporter"}[o.exporter])

	// Warm-up: every mode, every loop.
	for _, m := range modes {
		tr.set(m.tracing)
		e := engineOf(m)
		for _, l := range loops {
			for end := time.Now().Add(o.warmup); time.Now().Before(end); {
				if err := l.fn(seq[e]); err != nil {
					return fmt.Errorf("%s warm-up %s: %w", m.name, l.section, err)
				}
			}
		}
	}

	res := make([]result, len(modes))
	for round := range o.rounds {
		for i, m := range modes {
			tr.set(m.tracing)
			e := engineOf(m)
			s0, b0 := tr.spans(), tr.bytes()
			for _, l := range loops {
				if !o.only[l.section] {
					continue
				}
				samples, cpu := l.pick(&res[i])
				c0 := benchkit.SelfCPU()
				for end := time.Now().Add(o.lat); time.Now().Before(end); {
					t0 := time.Now()
					if err := l.fn(seq[e]); err != nil {
						return fmt.Errorf("%s %s: %w", m.name, l.section, err)
					}
					samples.Add(time.Since(t0))
				}
				*cpu += benchkit.SelfCPU() - c0
			}
			if o.only["tput"] {
				hs := par[e]
				n, d, used, err := benchkit.Throughput(len(hs), 200*time.Millisecond, o.tput, benchkit.CPUMeter{}, func(i int) (int, error) {
					return 1, call(hs[i], "getCount")
				})
				if err != nil {
					return fmt.Errorf("%s throughput: %w", m.name, err)
				}
				res[i].tputOps += n
				res[i].tputDur += d
				res[i].tputCPU += used.Self
			}
			if m.tracing {
				// Export this mode's last spans now, outside any measured
				// window, rather than during the next mode's.
				if err := tr.flush(ctx); err != nil {
					return fmt.Errorf("flush spans: %w", err)
				}
			}
			res[i].spans += tr.spans() - s0
			res[i].bytes += tr.bytes() - b0
		}
		fmt.Fprintf(os.Stderr, "round %d of %d done\n", round+1, o.rounds)
	}
	tr.set(false)
	load1, loadAll1, _ := benchkit.LoadAvg()

	t := &benchkit.Table{}
	base := res[0]
	perOp := func(cpu time.Duration, n int) time.Duration {
		if n == 0 {
			return 0
		}
		return cpu / time.Duration(n)
	}
	for i, m := range modes {
		r := res[i]
		for _, l := range loops {
			if !o.only[l.section] {
				continue
			}
			s, cpu := l.pick(&r)
			bs, bcpu := l.pick(&base)
			note := fmt.Sprintf("n=%d, cpu/action %s", s.N(), benchkit.FmtDur(perOp(*cpu, s.N())))
			if i > 0 {
				note += fmt.Sprintf("; vs off: p50 %s, cpu/action %s", signed(s.P(50)-bs.P(50)), signed(perOp(*cpu, s.N())-perOp(*bcpu, bs.N())))
			}
			t.AddSamples(fmt.Sprintf("%s %s (1 caller)", l.section, m.name), s, note)
		}
		if o.only["tput"] && r.tputDur > 0 {
			rate := float64(r.tputOps) / r.tputDur.Seconds()
			cpuOp := perOp(r.tputCPU, int(r.tputOps))
			note := fmt.Sprintf("%.0f actions/s, cpu/action %s", rate, benchkit.FmtDur(cpuOp))
			if i > 0 && base.tputOps > 0 {
				baseRate := float64(base.tputOps) / base.tputDur.Seconds()
				note += fmt.Sprintf("; vs off: rate %+.1f%%, cpu/action %s", 100*(rate/baseRate-1), signed(cpuOp-perOp(base.tputCPU, int(base.tputOps))))
			}
			t.Add(fmt.Sprintf("read %s (%d callers)", m.name, o.callers), "", "", note)
		}
	}
	fmt.Println()
	t.Print(os.Stdout)
	fmt.Println()
	for i, m := range modes {
		r := res[i]
		actions := int64(r.read.N()+r.write.N()) + r.tputOps
		switch {
		case !m.tracing:
		case o.exporter == "memory":
			fmt.Printf("%s: %d spans exported for %d actions (%.2f per action)\n", m.name, r.spans, actions, float64(r.spans)/float64(max(actions, 1)))
		default:
			fmt.Printf("%s: %d bytes of OTLP received for %d actions (%.0f bytes per action)\n", m.name, r.bytes, actions, float64(r.bytes)/float64(max(actions, 1)))
		}
	}
	if n, err := actionsCounted(measured.reg); err == nil {
		fmt.Printf("metrics engine: rivetkube_runner_actions_total = %.0f (the metrics and both modes' actions, warm-up included)\n", n)
	} else {
		fmt.Printf("metrics engine: %v\n", err)
	}
	fmt.Printf("load after: %s (1-minute %.2f)\n", loadAll1, load1)
	return nil
}

// actionsCounted sums rivetkube_runner_actions_total in reg: the proof that
// the metrics modes recorded.
func actionsCounted(reg *prometheus.Registry) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() == "rivetkube_runner_actions_total" {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum, nil
		}
	}
	return 0, fmt.Errorf("rivetkube_runner_actions_total not found")
}

// signed formats a difference of durations with its sign.
func signed(d time.Duration) string {
	if d < 0 {
		return "-" + benchkit.FmtDur(-d)
	}
	if d == 0 {
		return "0"
	}
	return "+" + benchkit.FmtDur(d)
}
