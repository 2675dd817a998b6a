package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"math/rand/v2"

	"github.com/rivetkube/rivetkube/client"
)

type config struct {
	duration  time.Duration
	seed      uint64
	workers   int
	actors    int
	faults    []string
	selftest  bool
	local     bool
	kills     int
	gateways  int
	runners   int
	keepFiles bool
	minOps    int
	minFaults int
	faultGap  float64
}

func main() {
	var cfg config
	var faults string
	flag.DurationVar(&cfg.duration, "duration", 60*time.Second, "how long the load and the faults run")
	flag.Uint64Var(&cfg.seed, "seed", 0, "seed of the fault schedule and the workers (0: from the clock; printed)")
	flag.IntVar(&cfg.workers, "workers", 8, "client workers")
	flag.IntVar(&cfg.actors, "actors", 24, "counters (registers: half as many, queue actors: a quarter)")
	flag.StringVar(&faults, "faults", "all", "fault kinds, comma-separated (a kind named twice is drawn twice as often), or all or none: runner-kill,gateway-kill,runner-pause,pg-restart,drain,link-delay,link-drop")
	flag.BoolVar(&cfg.selftest, "selftest", false, "put a lying proxy in front of one gateway; pass only if the checks catch it")
	flag.BoolVar(&cfg.local, "local", false, "kill -9 the local engine (embedded store) under writes instead")
	flag.IntVar(&cfg.kills, "kills", 100, "with -local: how many times the engine is killed")
	flag.IntVar(&cfg.gateways, "gateways", 2, "gateway processes")
	flag.IntVar(&cfg.runners, "runners", 3, "runner processes")
	flag.BoolVar(&cfg.keepFiles, "keep", false, "keep the temp dir with the binaries and activation logs")
	flag.IntVar(&cfg.minOps, "min-ops", 0, "fail unless at least this many operations ran (CI)")
	flag.IntVar(&cfg.minFaults, "min-faults", 0, "fail unless at least this many faults were injected (CI)")
	flag.Float64Var(&cfg.faultGap, "fault-gap", 1, "scales the pause between faults (1.5 to 4 s at 1)")
	flag.DurationVar(&checkTimeout, "check-timeout", checkTimeout, "bound of porcupine's search per actor (past it the actor is inconclusive)")
	flag.Parse()
	var err error
	if cfg.faults, err = parseFaults(faults); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	if cfg.seed == 0 {
		cfg.seed = uint64(time.Now().UnixNano())
	}
	if cfg.workers < 1 || cfg.actors < 1 || cfg.gateways < 1 || cfg.runners < 1 || cfg.duration <= 0 || cfg.faultGap <= 0 || checkTimeout <= 0 {
		fmt.Fprintln(os.Stderr, "chaos: -workers, -actors, -gateways, -runners, -duration, -fault-gap and -check-timeout must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		if code == 0 {
			code = 2
		}
	}
	os.Exit(code)
}

func logf(format string, args ...any) {
	fmt.Printf("%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05.000")}, args...)...)
}

// repoRoot finds the module root from this source file or the working dir.
func repoRoot() string {
	if _, file, _, ok := runtime.Caller(0); ok {
		if root := filepath.Join(filepath.Dir(file), "..", ".."); fileExists(filepath.Join(root, "go.mod")) {
			return root
		}
	}
	return "."
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func run(ctx context.Context, cfg config) (int, error) {
	dir, err := os.MkdirTemp("", "rivetkube-chaos-")
	if err != nil {
		return 2, err
	}
	if !cfg.keepFiles {
		defer os.RemoveAll(dir)
	} else {
		logf("files in %s", dir)
	}
	logf("seed=%d duration=%v workers=%d actors=%d faults=%v selftest=%v local=%v", cfg.seed, cfg.duration, cfg.workers, cfg.actors, cfg.faults, cfg.selftest, cfg.local)
	gw, rn, err := buildBinaries(repoRoot(), dir)
	if err != nil {
		return 2, err
	}
	if cfg.local {
		return runLocal(ctx, cfg, dir, rn)
	}
	return runCluster(ctx, cfg, dir, gw, rn)
}

func runCluster(ctx context.Context, cfg config, dir, gw, rn string) (int, error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	c, err := startCluster(runCtx, dir, gw, rn, cfg.gateways, cfg.runners)
	if c != nil {
		defer c.stop()
	}
	if err != nil {
		return 2, err
	}
	logf("cluster up: postgres :%d, %d gateways, %d runners", c.pg.Port, len(c.gateways), len(c.runners))

	h := newHistory()
	l := &load{h: h, actors: cfg.actors, seed: cfg.seed}
	for _, g := range c.gateways {
		l.endpoints = append(l.endpoints, g.endpoint())
		l.encodings = append(l.encodings, client.EncodingBARE)
	}
	l.encodings[len(l.encodings)-1] = client.EncodingCBOR
	var lr *liar
	if cfg.selftest {
		if lr, err = newLiar(runCtx, c.gateways[0].endpoint(), 0.3, cfg.seed); err != nil {
			return 2, err
		}
		l.endpoints = append(l.endpoints, lr.endpoint())
		l.encodings = append(l.encodings, client.EncodingJSON)
		logf("selftest: lying proxy %s in front of %s", lr.endpoint(), c.gateways[0].name)
	}

	loadCtx, stopLoad := context.WithTimeout(runCtx, cfg.duration)
	defer stopLoad()
	in := &injector{c: c, h: h, kinds: cfg.faults, gap: cfg.faultGap, rng: rand.New(rand.NewPCG(cfg.seed, 0xfa17)), log: logf}
	done := make(chan struct{})
	go func() { defer close(done); in.run(loadCtx) }()
	go progress(loadCtx, h)
	l.run(loadCtx, cfg.workers)
	<-done
	if ctx.Err() != nil {
		return 2, ctx.Err()
	}

	// Quiesce: every process up, then read the final state through a
	// gateway the liar does not sit in front of.
	if err := c.waitRunners(len(c.liveRunners()), 60*time.Second); err != nil {
		logf("warning: %v", err)
	}
	if lr != nil {
		lr.swallow.Store(true)
		l.closingWrites(len(l.endpoints)-1, cfg.workers)
	}
	logf("load stopped; reading the final state")
	unread := l.verify(c.gateways[len(c.gateways)-1].endpoint(), client.EncodingBARE, 2*time.Minute)

	entries, err := readActivationLogs(dir)
	if err != nil {
		return 2, err
	}
	rep := analyse(h, entries, l.events, in.records(), h.start)
	rep.unread = unread
	if lr != nil {
		rep.lies = lr.lies.Load()
	}
	rep.print(os.Stdout)
	if cfg.selftest {
		if rep.f.Lost > 0 && rep.f.Violations > 0 {
			fmt.Printf("selftest: PASS (the liar told %d lies; the checks found lost=%d violations=%d)\n", rep.lies, rep.f.Lost, rep.f.Violations)
			rep.lastLine(os.Stdout)
			return 0, nil
		}
		fmt.Printf("selftest: FAIL (the liar told %d lies; the checks found lost=%d violations=%d)\n", rep.lies, rep.f.Lost, rep.f.Violations)
		rep.lastLine(os.Stdout)
		return 1, nil
	}
	rep.lastLine(os.Stdout)
	return rep.exitCode(cfg), nil
}

// progress prints a line every 10 s.
func progress(ctx context.Context, h *History) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ops := h.Ops()
			ok := 0
			for _, o := range ops {
				if o.Outcome == OK {
					ok++
				}
			}
			logf("progress: %d ops, %d ok", len(ops), ok)
		}
	}
}
