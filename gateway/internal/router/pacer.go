package router

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// pacer paces one pool's drain: a token bucket at the pool's rate (depth
// drainBurst seconds of it, at least one actor) read through a clock, and
// the accounting that shows whether the rate was honoured.
//
// The dispatcher is, at every moment, either waiting for a token (paced),
// or blocked on something else (stalled: a free worker, listing the next
// page, a pause with every listed actor already moving), or doing a few
// microseconds of bookkeeping. Tokens accrue while it is stalled, up to the
// burst, so:
//
//	started ≤ rate × active + burst
//	started ≥ rate × (active − stalled) − burst
//
// where active is the time since the pacer began. The first bound is the
// promise never to drain faster than asked; the second says the drain is
// as fast as asked whenever it is not held back by the hardware (stalled
// time), which is what "the asked rate is honoured up to what the hardware
// allows" means. Both are checked by tests against these counters
// (drain_test.go with a fake clock, test/integration on real processes
// through the metrics).
type pacer struct {
	clock clock
	lim   *rate.Limiter

	mu      sync.Mutex
	began   time.Time
	started int64
	paced   time.Duration
	stalled time.Duration
}

// clock is the time source of the drain's pacing (fake in tests).
type clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newPacer(c clock, r float64) *pacer {
	now := c.Now()
	lim := rate.NewLimiter(rate.Limit(r), burstOf(r))
	lim.SetBurstAt(now, burstOf(r)) // the bucket starts full at now, not at the process start
	return &pacer{clock: c, lim: lim, began: now}
}

// setRate changes the rate and the burst from now on.
func (p *pacer) setRate(r float64) {
	if float64(p.lim.Limit()) == r {
		return
	}
	now := p.clock.Now()
	p.lim.SetLimitAt(now, rate.Limit(r))
	p.lim.SetBurstAt(now, burstOf(r))
}

func (p *pacer) rate() float64 { return float64(p.lim.Limit()) }

// take waits for one token and counts a move started.
func (p *pacer) take(ctx context.Context) error {
	now := p.clock.Now()
	res := p.lim.ReserveN(now, 1)
	if !res.OK() {
		return context.Canceled // burst 0 cannot happen (burstOf ≥ 1)
	}
	if d := res.DelayFrom(now); d > 0 {
		if err := p.clock.Sleep(ctx, d); err != nil {
			res.CancelAt(p.clock.Now())
			return err
		}
	}
	waited := p.clock.Now().Sub(now)
	p.mu.Lock()
	p.started++
	p.paced += waited
	p.mu.Unlock()
	return nil
}

// stall runs fn (something the dispatcher blocks on other than the bucket)
// and counts its time as stalled.
func (p *pacer) stall(fn func() error) error {
	t0 := p.clock.Now()
	err := fn()
	d := p.clock.Now().Sub(t0)
	p.mu.Lock()
	p.stalled += d
	p.mu.Unlock()
	return err
}

// drainStats is a pacer's accounting (see pacer).
type drainStats struct {
	Rate    float64
	Burst   int
	Started int64
	Active  time.Duration
	Paced   time.Duration
	Stalled time.Duration
}

func (p *pacer) stats() drainStats {
	now := p.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	return drainStats{Rate: p.rate(), Burst: p.lim.Burst(), Started: p.started, Active: now.Sub(p.began), Paced: p.paced, Stalled: p.stalled}
}
