package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RunnerGauges is what a runtime reports at scrape time: counts it keeps
// anyway, read under its own locks instead of being tracked twice.
type RunnerGauges struct {
	Awake     int // live actor instances
	Suspended int // tasks waiting at wait points
	Queued    int // queue messages loaded by awake actors and not yet taken
}

// Runner holds the actor runtime's metrics (rivetkube_runner_*).
type Runner struct {
	activations *prometheus.CounterVec
	stops       *prometheus.CounterVec
	actions     *prometheus.CounterVec
	actionDur   *prometheus.HistogramVec
	schedules   prometheus.Counter
	frames      *prometheus.CounterVec

	awake, suspended, queued *prometheus.Desc

	mu     sync.Mutex
	source func() RunnerGauges
}

// NewRunner registers the runtime's collectors on reg.
func NewRunner(reg prometheus.Registerer) *Runner {
	r := &Runner{
		activations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "runner", Name: "activations_total",
			Help: "Actor activations (state loaded, onCreate/onWake run), by result (ok, error).",
		}, []string{"result"}),
		stops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "runner", Name: "stops_total",
			Help: "Actor instances stopped, by reason (sleep, destroy, shutdown: drain or process stop, failed: fenced or a failed commit).",
		}, []string{"reason"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "runner", Name: "actions_total",
			Help: "Actions run (HTTP, connection and scheduled), by outcome (ok, user_error, timeout, internal_error, error).",
		}, []string{"outcome"}),
		actionDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "runner", Name: "action_duration_seconds",
			Help:    "Time an action's code ran, wait points included, by outcome.",
			Buckets: latencyBuckets,
		}, []string{"outcome"}),
		schedules: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "runner", Name: "schedules_fired_total",
			Help: "Durable schedules that came due and ran.",
		}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "runner", Name: "link_frames_total",
			Help: "Gateway link frames, by direction (in, out) and frame kind.",
		}, []string{"direction", "kind"}),
		awake: prometheus.NewDesc(Namespace+"_runner_actors_awake",
			"Actor instances live in this process now.", nil, nil),
		suspended: prometheus.NewDesc(Namespace+"_runner_tasks_suspended",
			"Tasks waiting at wait points (calls to other actors, timers, Queue.Next, streaming writes).", nil, nil),
		queued: prometheus.NewDesc(Namespace+"_runner_queue_messages_waiting",
			"Durable queue messages loaded by awake actors and not taken yet.", nil, nil),
	}
	reg.MustRegister(r.activations, r.stops, r.actions, r.actionDur, r.schedules, r.frames, gaugeCollector{r})
	return r
}

// SetSource names the function Collect reads the gauges from (the runtime).
func (r *Runner) SetSource(fn func() RunnerGauges) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.source = fn
	r.mu.Unlock()
}

// Activation counts one activation.
func (r *Runner) Activation(err error) {
	if r == nil {
		return
	}
	if err != nil {
		r.activations.WithLabelValues("error").Inc()
	} else {
		r.activations.WithLabelValues("ok").Inc()
	}
}

// Stop counts one stopped instance.
func (r *Runner) Stop(reason string) {
	if r != nil {
		r.stops.WithLabelValues(reason).Inc()
	}
}

// Action counts one action with its outcome and duration.
func (r *Runner) Action(outcome string, d time.Duration) {
	if r == nil {
		return
	}
	r.actions.WithLabelValues(outcome).Inc()
	r.actionDur.WithLabelValues(outcome).Observe(d.Seconds())
}

// ScheduleFired counts one due schedule that ran.
func (r *Runner) ScheduleFired() {
	if r != nil {
		r.schedules.Inc()
	}
}

// LinkFrame counts one link frame; in says it was received.
func (r *Runner) LinkFrame(in bool, kind string) {
	if r == nil {
		return
	}
	dir := "out"
	if in {
		dir = "in"
	}
	r.frames.WithLabelValues(dir, kind).Inc()
}

// gaugeCollector reports the runtime's gauges at scrape time.
type gaugeCollector struct{ r *Runner }

func (g gaugeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.r.awake
	ch <- g.r.suspended
	ch <- g.r.queued
}

func (g gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	g.r.mu.Lock()
	fn := g.r.source
	g.r.mu.Unlock()
	var v RunnerGauges
	if fn != nil {
		v = fn()
	}
	ch <- prometheus.MustNewConstMetric(g.r.awake, prometheus.GaugeValue, float64(v.Awake))
	ch <- prometheus.MustNewConstMetric(g.r.suspended, prometheus.GaugeValue, float64(v.Suspended))
	ch <- prometheus.MustNewConstMetric(g.r.queued, prometheus.GaugeValue, float64(v.Queued))
}
