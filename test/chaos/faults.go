package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rivetkube/rivetkube/internal/admin"
)

// Fault kinds (the -faults flag).
const (
	FaultRunnerKill  = "runner-kill"
	FaultGatewayKill = "gateway-kill"
	FaultRunnerPause = "runner-pause"
	FaultPGRestart   = "pg-restart"
	FaultDrain       = "drain"
	FaultLinkDelay   = "link-delay"
	FaultLinkDrop    = "link-drop"
)

// AllFaults is every fault kind, the default of -faults.
var AllFaults = []string{FaultRunnerKill, FaultGatewayKill, FaultRunnerPause, FaultPGRestart, FaultDrain, FaultLinkDelay, FaultLinkDrop}

func parseFaults(s string) ([]string, error) {
	if s == "" || s == "none" {
		return nil, nil
	}
	if s == "all" {
		return AllFaults, nil
	}
	var out []string
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if !slices.Contains(AllFaults, k) {
			return nil, fmt.Errorf("unknown fault %q (known: %s)", k, strings.Join(AllFaults, ","))
		}
		out = append(out, k)
	}
	return out, nil
}

// step is one planned fault: everything random about it is drawn from the
// seeded generator before it runs, in a fixed order, so a seed always
// yields the same schedule.
type step struct {
	Kind   string
	Wait   time.Duration // before the fault
	Target int           // index into the candidates (modulo their number)
	Down   time.Duration // how long the process stays down / the fault lasts
	Delay  time.Duration // link delay per chunk
}

// schedule draws the i-th step of the seeded schedule.
func nextStep(rng *rand.Rand, kinds []string) step {
	return step{
		Kind:   kinds[rng.IntN(len(kinds))],
		Wait:   time.Duration(1500+rng.IntN(2500)) * time.Millisecond,
		Target: rng.IntN(1 << 20),
		Down:   time.Duration(300+rng.IntN(2200)) * time.Millisecond,
		Delay:  time.Duration(20+rng.IntN(180)) * time.Millisecond,
	}
}

// FaultRecord is a fault that happened.
type FaultRecord struct {
	Kind, Target string
	At, End      int64 // ns since the run started
	Err          string
}

type injector struct {
	c     *cluster
	h     *History
	kinds []string
	gap   float64 // scales step.Wait
	rng   *rand.Rand
	log   func(format string, args ...any)

	mu   sync.Mutex
	recs []FaultRecord
}

func (in *injector) records() []FaultRecord {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]FaultRecord(nil), in.recs...)
}

// run injects faults one after another until ctx ends; the fault under way
// is always healed (processes restarted, link restored) before it returns.
func (in *injector) run(ctx context.Context) {
	if len(in.kinds) == 0 {
		return
	}
	for n := 0; ; n++ {
		s := nextStep(in.rng, in.kinds)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(float64(s.Wait) * in.gap)):
		}
		rec := FaultRecord{Kind: s.Kind, At: in.h.now()}
		target, err := in.apply(s)
		rec.Target, rec.End = target, in.h.now()
		if err != nil {
			rec.Err = err.Error()
		}
		in.log("fault %d: %s %s down=%v (%v)%s", n+1, s.Kind, target, s.Down, time.Duration(rec.End-rec.At).Round(time.Millisecond), errSuffix(err))
		in.mu.Lock()
		in.recs = append(in.recs, rec)
		in.mu.Unlock()
	}
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " error: " + err.Error()
}

func (in *injector) apply(s step) (string, error) {
	c := in.c
	runners := c.liveRunners()
	r := runners[s.Target%len(runners)]
	switch s.Kind {
	case FaultRunnerKill:
		r.kill()
		time.Sleep(s.Down)
		return r.name, r.start()
	case FaultGatewayKill:
		g := c.gateways[s.Target%len(c.gateways)]
		g.kill()
		time.Sleep(s.Down)
		return g.name, g.start()
	case FaultRunnerPause:
		p := r.proc()
		p.Pause()
		time.Sleep(lease + time.Second + s.Down)
		p.Resume()
		return r.name, nil
	case FaultPGRestart:
		return "postgres", c.pg.RestartImmediate()
	case FaultLinkDelay:
		r.link.setDelay(s.Delay)
		time.Sleep(2 * s.Down)
		r.link.setDelay(0)
		return fmt.Sprintf("%s delay=%v", r.name, s.Delay), nil
	case FaultLinkDrop:
		r.link.setDrop(true)
		time.Sleep(s.Down)
		r.link.setDrop(false)
		return r.name, nil
	case FaultDrain:
		return c.drain(len(runners))
	}
	return "", fmt.Errorf("unknown fault %q", s.Kind)
}

// drain starts n runners of the next version, makes it the ready one,
// drains the old version and retires its runners once they host nothing.
func (c *cluster) drain(n int) (string, error) {
	c.mu.Lock()
	old := c.version
	c.version++
	v := c.version
	c.mu.Unlock()
	olds := c.liveRunners()
	for i := 0; i < n; i++ {
		if _, err := c.addRunner(v); err != nil {
			return "", err
		}
	}
	target := fmt.Sprintf("v%d->v%d", old, v)
	if err := c.waitRunners(len(olds)+n, 60*time.Second); err != nil {
		return target, err
	}
	ctx, cancel := context.WithTimeout(c.ctx, 90*time.Second)
	defer cancel()
	if err := c.setRouting(ctx, admin.Routing{Ready: []uint64{v}, Draining: []uint64{old}, DrainRate: 20}); err != nil {
		return target, err
	}
	for {
		st, err := c.status(ctx)
		if err == nil && st.Version(old).Actors == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return target, fmt.Errorf("version %d not drained: %w", old, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	for _, r := range olds {
		c.mu.Lock()
		r.retired = true
		c.mu.Unlock()
		r.proc().Stop(20 * time.Second)
	}
	return target, c.setRouting(ctx, admin.Routing{Ready: []uint64{v}, DrainRate: 20})
}
