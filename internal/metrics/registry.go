package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every metric name.
const Namespace = "rivetkube"

// NewRegistry returns a fresh registry with the Go runtime and process
// collectors registered.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// latencyBuckets cover 0.5 ms to about 30 s: actions and requests that wait
// at wait points may take long, local ones well under a millisecond.
var latencyBuckets = prometheus.ExponentialBucketsRange(0.0005, 30, 18)

// commitBuckets cover 0.1 ms (embedded store) to about 5 s.
var commitBuckets = prometheus.ExponentialBucketsRange(0.0001, 5, 16)
