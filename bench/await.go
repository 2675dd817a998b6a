package main

import (
	"context"
	"fmt"
	"time"

	"github.com/rivetkube/rivetkube/bench/internal/benchkit"
	"github.com/rivetkube/rivetkube/client"
)

// benchAwait measures the await model: a read-only action on an actor
// while another of its actions waits at a wait point, against the same
// action on an idle actor; and the cost of one wait point (commit,
// release, resume) as the difference between a durable write with a wait
// point in the middle and a plain one.
func benchAwait(ctx context.Context, o options, cl *client.Client, t *benchkit.Table) error {
	idle := cl.GetOrCreate("waiter", []string{"bench-idle"})
	busy := cl.GetOrCreate("waiter", []string{"bench-busy"})
	for _, h := range []*client.Handle{idle, busy} {
		if err := h.Action(ctx, "log", nil); err != nil {
			return err
		}
	}
	sIdle, err := sequential(o, func() error { return idle.Action(ctx, "log", nil) })
	if err != nil {
		return err
	}
	t.AddSamples("read-only action waiter.log, idle actor, HTTP", sIdle, countStr(sIdle))

	// Keep one action of busy waiting for the whole measurement.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	waiting := make(chan error, 1)
	hold := o.warmup + o.latDur + 5*time.Second
	go func() {
		waiting <- busy.Action(wctx, "noteAndWait", nil, "bench", hold.Milliseconds())
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var log []string
		if err := busy.Action(ctx, "log", &log); err == nil && len(log) > 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the waiting action never reached its wait point")
		}
	}
	sBusy, err := sequential(o, func() error { return busy.Action(ctx, "log", nil) })
	if err != nil {
		return err
	}
	t.AddSamples("read-only action waiter.log while another action waits", sBusy,
		fmt.Sprintf("%.2f× the idle actor (target ≤ 1.2×); %s", float64(sBusy.P(50))/float64(sIdle.P(50)), countStr(sBusy)))
	t.Targets = append(t.Targets, target(float64(sBusy.P(50)) <= 1.2*float64(sIdle.P(50)),
		"read-only action p50 while another action waits ≤ 1.2× an idle actor's: %.2f× (%s vs %s)",
		float64(sBusy.P(50))/float64(sIdle.P(50)), benchkit.FmtDur(sBusy.P(50)), benchkit.FmtDur(sIdle.P(50))))
	cancel()
	<-waiting

	plain := cl.GetOrCreate("waiter", []string{"bench-bump"})
	sPlain, err := sequential(o, func() error { return plain.Action(ctx, "bump", nil) })
	if err != nil {
		return err
	}
	t.AddSamples("durable write waiter.bump, HTTP", sPlain, countStr(sPlain))
	sWait, err := sequential(o, func() error { return plain.Action(ctx, "bumpWait", nil) })
	if err != nil {
		return err
	}
	t.AddSamples("durable write with one wait point (waiter.bumpWait)", sWait,
		fmt.Sprintf("one wait point costs %s over the plain write; %s", benchkit.FmtDur(sWait.P(50)-sPlain.P(50)), countStr(sWait)))
	return nil
}
