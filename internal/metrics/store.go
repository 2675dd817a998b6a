package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Store holds the group committer's metrics (rivetkube_store_*).
type Store struct {
	commits *prometheus.CounterVec
	batch   prometheus.Histogram
	latency prometheus.Histogram
	fenced  prometheus.Counter
}

// NewStore registers the store's collectors on reg.
func NewStore(reg prometheus.Registerer) *Store {
	s := &Store{
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "store", Name: "commits_total",
			Help: "Group commits (one store transaction each), by result (ok, error).",
		}, []string{"result"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "store", Name: "commit_batch_size",
			Help:    "Writes (one per actor task) carried by one group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "store", Name: "commit_duration_seconds",
			Help:    "Time one group commit took in the store.",
			Buckets: commitBuckets,
		}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "store", Name: "fence_failures_total",
			Help: "Writes refused because their activation generation was stale (the actor moved on).",
		}),
	}
	reg.MustRegister(s.commits, s.batch, s.latency, s.fenced)
	return s
}

// Commit records one group commit of writes writes, fenced of which were
// refused as stale; err is the batch's error.
func (s *Store) Commit(writes, fenced int, d time.Duration, err error) {
	if s == nil {
		return
	}
	if err != nil {
		s.commits.WithLabelValues("error").Inc()
	} else {
		s.commits.WithLabelValues("ok").Inc()
	}
	s.batch.Observe(float64(writes))
	s.latency.Observe(d.Seconds())
	if fenced > 0 {
		s.fenced.Add(float64(fenced))
	}
}
