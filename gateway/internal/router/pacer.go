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
// The bucket starts empty, so a pacer never grants more than rate × the
// time since it began, and a dispatcher that ends and starts again (a
// new pacer) cannot start a second burst early. The dispatcher is, at
// every moment, either waiting for a token (paced) or not (stalled: held
// back by something other than the rate, such as a busy worker, listing
// the next page, every listed actor already moving, or the CPU). Tokens
// accrue while it is stalled, up to the burst, so for one pacer:
//
//	started ≤ rate × active
//	started ≥ rate × (active − stalled) − burst
//
// where active is the time since the pacer began. The first bound is the
// promise never to drain faster than asked; the second says the drain is
// as fast as asked whenever it is not held back (stalled time), which is
// what "the asked rate is honoured up to what the hardware allows" means.
// Summed over the pacers of a pool the first holds as is and the second
// loses a burst per dispatcher start. Tests check both against these
// counters (pacer_test.go on a fake clock, test/integration on real
// processes through the metrics). A rate change applies from then on.
type pacer struct {
	clock clock
	lim   *rate.Limiter

	mu      sync.Mutex
	began   time.Time
	started int64
	paced   time.Duration
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
	lim.AllowN(now, burstOf(r)) // empty the bucket: it starts full
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
	active := now.Sub(p.began)
	return drainStats{Rate: p.rate(), Burst: p.lim.Burst(), Started: p.started, Active: active, Paced: p.paced, Stalled: max(active-p.paced, 0)}
}
