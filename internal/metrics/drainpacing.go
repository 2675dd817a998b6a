package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// drainPacing is the leader's accounting of the drain's token bucket
// (gateway/internal/router/pacer.go): moves started, time the pool's
// dispatcher ran, and the part of it spent held back by something other
// than the rate (workers, listing, nothing to start). With rate r and
// burst b over any run: started ≤ r × active + b and
// started ≥ r × (active − stalled) − b.
type drainPacing struct {
	started, active, stalled *prometheus.CounterVec
	rate, burst              *prometheus.GaugeVec
	step                     *prometheus.HistogramVec
}

func newDrainPacing(reg prometheus.Registerer) drainPacing {
	p := drainPacing{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "gateway", Name: "drain_moves_started_total",
			Help: "Moves the leader's drain started (one token of the pool's bucket each), by pool.",
		}, []string{"pool"}),
		active: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "gateway", Name: "drain_active_seconds_total",
			Help: "Time a drain dispatcher ran for the pool.",
		}, []string{"pool"}),
		stalled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "gateway", Name: "drain_stalled_seconds_total",
			Help: "Part of drain_active_seconds_total the dispatcher was not waiting for a token: held back by a busy worker, the next page, moves in flight or the CPU.",
		}, []string{"pool"}),
		rate: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "gateway", Name: "drain_rate",
			Help: "The drain rate the leader applies to the pool, actors per second.",
		}, []string{"pool"}),
		burst: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "gateway", Name: "drain_burst",
			Help: "The depth of the pool's drain bucket, actors.",
		}, []string{"pool"}),
		step: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "gateway", Name: "drain_move_step_seconds",
			Help:    "Duration of each step of a drain move: stop (on the old runner: onSleep, final commit), place (the batched placement write), wake (activation on the new runner).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"step"}),
	}
	reg.MustRegister(p.started, p.active, p.stalled, p.rate, p.burst, p.step)
	return p
}

// DrainPacing adds a drain dispatcher's accounting since its last report:
// moves started, time active and time stalled, with the rate and burst in
// force.
func (r *Router) DrainPacing(pool string, rate float64, burst int, started int64, active, stalled time.Duration) {
	if r == nil {
		return
	}
	p := r.pacing
	p.rate.WithLabelValues(pool).Set(rate)
	p.burst.WithLabelValues(pool).Set(float64(burst))
	p.started.WithLabelValues(pool).Add(float64(started))
	p.active.WithLabelValues(pool).Add(active.Seconds())
	p.stalled.WithLabelValues(pool).Add(stalled.Seconds())
}

// DrainMoveStep records the duration of one step of a drain move: "stop",
// "place" or "wake".
func (r *Router) DrainMoveStep(step string, d time.Duration) {
	if r != nil {
		r.pacing.step.WithLabelValues(step).Observe(d.Seconds())
	}
}

// DrainPacingForTest reads pool's drain accounting (tests): moves started,
// seconds active and seconds stalled.
func (r *Router) DrainPacingForTest(pool string) (started, active, stalled float64) {
	p := r.pacing
	return testCounter(p.started.WithLabelValues(pool)), testCounter(p.active.WithLabelValues(pool)), testCounter(p.stalled.WithLabelValues(pool))
}

func testCounter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
