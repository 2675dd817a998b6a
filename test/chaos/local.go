package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/testutil/proc"
	"github.com/rivetkube/rivetkube/test/chaos/chaosactors"
)

// runLocal kills the local engine (the chaos registry on the embedded
// store) with SIGKILL cfg.kills times under writes from cfg.workers
// clients; after each restart it reads every actor back (Final reads), so
// every acknowledged write is checked after every crash.
func runLocal(ctx context.Context, cfg config, dir, bin string) (int, error) {
	addr, err := freeAddr()
	if err != nil {
		return 2, err
	}
	data := filepath.Join(dir, "data")
	env := []string{
		"RIVETKUBE_DATA_DIR=" + data,
		"RIVETKUBE_LISTEN=" + addr,
		"RIVETKUBE_LOG_LEVEL=warn",
		chaosactors.LogEnv + "=" + filepath.Join(dir, "local.log"),
		chaosactors.RunnerEnv + "=local",
	}
	start := func() (*proc.Proc, error) { return proc.Launch("local-engine", bin, env, "http://"+addr+"/healthz") }
	p, err := start()
	if err != nil {
		return 2, err
	}
	defer func() {
		if p != nil {
			p.Stop(10 * time.Second)
		}
	}()

	h := newHistory()
	l := &load{h: h, actors: cfg.actors, seed: cfg.seed, endpoints: []string{"http://" + addr}, encodings: []client.Encoding{client.EncodingBARE}}
	rng := rand.New(rand.NewPCG(cfg.seed, 0x10ca1))
	var faults []FaultRecord
	unread := 0
	for i := 0; i < cfg.kills && ctx.Err() == nil; i++ {
		up := time.Duration(200+rng.IntN(1300)) * time.Millisecond
		down := time.Duration(rng.IntN(300)) * time.Millisecond
		loadCtx, cancel := context.WithTimeout(ctx, up)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); l.run(loadCtx, cfg.workers) }()
		<-loadCtx.Done()
		rec := FaultRecord{Kind: "local-kill", Target: "local-engine", At: h.now()}
		p.Kill() // the writes in flight end with unknown outcomes
		cancel()
		time.Sleep(down)
		p, err = start()
		if err != nil {
			return 2, fmt.Errorf("restart %d: %w", i+1, err)
		}
		rec.End = h.now()
		// Workers resend the writes they did not hear back about (to the
		// restarted engine) before they stop.
		wg.Wait()
		faults = append(faults, rec)
		unread += l.verify("http://"+addr, client.EncodingBARE, time.Minute)
		if (i+1)%10 == 0 {
			logf("local: %d kills, %d ops", i+1, len(h.Ops()))
		}
	}
	if ctx.Err() != nil {
		return 2, ctx.Err()
	}
	entries, err := readActivationLogs(dir)
	if err != nil {
		return 2, err
	}
	rep := analyse(h, entries, l.events, faults, h.start)
	rep.unread = unread
	rep.print(os.Stdout)
	rep.lastLine(os.Stdout)
	return rep.exitCode(cfg), nil
}
