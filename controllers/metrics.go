package controller

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// Prometheus metrics of the operator, served with controller-runtime's own
// (reconcile counts and latencies, work queues) on the metrics endpoint.
var (
	poolActors = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rivetkube_pool_actors", Help: "Awake actors in a runner pool, as the gateway reports them.",
	}, []string{"namespace", "pool"})
	poolCurrentVersion = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rivetkube_pool_current_version", Help: "The version receiving new actors (0: none).",
	}, []string{"namespace", "pool"})
	poolDesiredReplicas = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rivetkube_pool_desired_replicas", Help: "Runners the current version should have.",
	}, []string{"namespace", "pool"})
	versionActors = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rivetkube_version_actors", Help: "Awake actors per version and phase.",
	}, []string{"namespace", "pool", "version", "phase"})
	gatewayErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rivetkube_gateway_admin_errors_total", Help: "Failed calls to a gateway's admin API.",
	}, []string{"namespace", "pool"})
)

func init() {
	metrics.Registry.MustRegister(poolActors, poolCurrentVersion, poolDesiredReplicas, versionActors, gatewayErrors)
}

// recordMetrics publishes a pool's status.
func recordMetrics(pool *rivetv1.RunnerPool) {
	ns, name := pool.Namespace, pool.Name
	poolActors.WithLabelValues(ns, name).Set(float64(pool.Status.Actors))
	poolCurrentVersion.WithLabelValues(ns, name).Set(float64(pool.Status.CurrentVersion))
	poolDesiredReplicas.WithLabelValues(ns, name).Set(float64(pool.Status.DesiredReplicas))
	versionActors.DeletePartialMatch(prometheus.Labels{"namespace": ns, "pool": name})
	for _, v := range pool.Status.Versions {
		if v.Rejected {
			continue
		}
		versionActors.WithLabelValues(ns, name, strconv.FormatInt(v.Version, 10), string(v.Phase)).Set(float64(v.Actors))
	}
}

// forgetMetrics removes a deleted pool's series.
func forgetMetrics(ns, name string) {
	l := prometheus.Labels{"namespace": ns, "pool": name}
	for _, g := range []*prometheus.GaugeVec{poolActors, poolCurrentVersion, poolDesiredReplicas, versionActors} {
		g.DeletePartialMatch(l)
	}
	gatewayErrors.DeletePartialMatch(l)
}
