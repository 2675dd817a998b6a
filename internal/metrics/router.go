package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Router holds the metrics of the gateway's router: placement and the
// leader's drain (rivetkube_gateway_*).
type Router struct {
	conflicts *prometheus.CounterVec
	moved     *prometheus.CounterVec
	remaining *prometheus.GaugeVec
	leader    prometheus.Gauge
	// Scale to zero: requests held for a pool without a runner.
	held      prometheus.Gauge
	heldTotal *prometheus.CounterVec
	demand    *prometheus.CounterVec
	pacing    drainPacing
}

// NewRouter registers the router's collectors on reg.
func NewRouter(reg prometheus.Registerer) *Router {
	r := &Router{
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "gateway", Name: "placement_conflicts_total",
			Help: "Placements that lost their compare-and-set to another gateway or a drain, by source (request, drain).",
		}, []string{"source"}),
		moved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "gateway", Name: "drain_actors_moved_total",
			Help: "Actors the leader moved off draining runners and versions, by pool.",
		}, []string{"pool"}),
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "gateway", Name: "drain_actors_remaining",
			Help: "Actors still placed on draining runners and versions, by pool and version (set by the leader).",
		}, []string{"pool", "version"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "gateway", Name: "leader",
			Help: "1 while this gateway holds the leader lease (drain, due work, dead-runner removal).",
		}),
	}
	r.held = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "gateway", Name: "held_requests",
		Help: "Requests waiting for a runner of a pool that has none (a pool scaled to zero).",
	})
	r.heldTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "gateway", Name: "held_requests_total",
		Help: "Requests held for a pool without a runner, by outcome (runner_joined, timed_out, refused: too many held, cancelled: the client left).",
	}, []string{"outcome"})
	r.demand = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "gateway", Name: "pool_demand_total",
		Help: "Demand records written for pools without a live runner (what scales a pool up from zero), by pool.",
	}, []string{"pool"})
	reg.MustRegister(r.conflicts, r.moved, r.remaining, r.leader, r.held, r.heldTotal, r.demand)
	r.pacing = newDrainPacing(reg)
	return r
}

// Held counts a request starting (+1) or ending (-1) its wait for a
// runner of a pool that has none.
func (r *Router) Held(delta int) {
	if r != nil {
		r.held.Add(float64(delta))
	}
}

// HeldDone counts the outcome of a held request.
func (r *Router) HeldDone(outcome string) {
	if r != nil {
		r.heldTotal.WithLabelValues(outcome).Inc()
	}
}

// PoolDemand counts a demand record written for pool.
func (r *Router) PoolDemand(pool string) {
	if r != nil {
		r.demand.WithLabelValues(pool).Inc()
	}
}

// PlacementConflict counts a lost placement CAS; source is "request" or "drain".
func (r *Router) PlacementConflict(source string) {
	if r != nil {
		r.conflicts.WithLabelValues(source).Inc()
	}
}

// DrainMoved counts one actor moved off a draining runner of pool.
func (r *Router) DrainMoved(pool string) {
	if r != nil {
		r.moved.WithLabelValues(pool).Inc()
	}
}

// DrainRemaining replaces the per-version counts of actors left on
// draining runners of pool (versions missing from left are dropped).
func (r *Router) DrainRemaining(pool string, left map[uint64]int) {
	if r == nil {
		return
	}
	r.remaining.DeletePartialMatch(prometheus.Labels{"pool": pool})
	for v, n := range left {
		r.remaining.WithLabelValues(pool, strconv.FormatUint(v, 10)).Set(float64(n))
	}
}

// Leader records whether this gateway holds the leader lease.
func (r *Router) Leader(ok bool) {
	if r == nil {
		return
	}
	if ok {
		r.leader.Set(1)
	} else {
		r.leader.Set(0)
		r.remaining.Reset()
	}
}

// RemainingForTest reads the drain gauge of pool and version (tests).
func (r *Router) RemainingForTest(pool string, version uint64) float64 {
	return testGauge(r.remaining.WithLabelValues(pool, strconv.FormatUint(version, 10)))
}

// MovedForTest returns the moved counter of pool (tests).
func (r *Router) MovedForTest(pool string) prometheus.Counter {
	return r.moved.WithLabelValues(pool)
}
