package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Gateway holds the client-facing edge's metrics
// (rivetkube_gateway_*).
type Gateway struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	websockets  prometheus.Gauge
	resolutions *prometheus.CounterVec
}

// NewGateway registers the gateway's collectors on reg.
func NewGateway(reg prometheus.Registerer) *Gateway {
	g := &Gateway{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "gateway", Name: "requests_total",
			Help: "Client HTTP requests answered, by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "gateway", Name: "request_duration_seconds",
			Help:    "Time to answer a client HTTP request, by route (WebSockets: until they close).",
			Buckets: latencyBuckets,
		}, []string{"route"}),
		websockets: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "gateway", Name: "websockets_open",
			Help: "Client WebSockets open now (connect and raw websocket routes).",
		}),
		resolutions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "gateway", Name: "actor_resolutions_total",
			Help: "Actor resolutions of /gateway routes, by method (id, get, getOrCreate) and source (cache: the binding cache answered, store, error).",
		}, []string{"method", "source"}),
	}
	reg.MustRegister(g.requests, g.duration, g.websockets, g.resolutions)
	return g
}

// Request records one answered request.
func (g *Gateway) Request(route string, code int, d time.Duration) {
	if g == nil {
		return
	}
	g.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	g.duration.WithLabelValues(route).Observe(d.Seconds())
}

// WebSocketOpened counts a WebSocket as open until WebSocketClosed.
func (g *Gateway) WebSocketOpened() {
	if g != nil {
		g.websockets.Inc()
	}
}

// WebSocketClosed undoes WebSocketOpened.
func (g *Gateway) WebSocketClosed() {
	if g != nil {
		g.websockets.Dec()
	}
}

// Resolution records one actor resolution; method is "id", "get" or
// "getOrCreate", source "cache", "store" or "error".
func (g *Gateway) Resolution(method, source string) {
	if g != nil {
		g.resolutions.WithLabelValues(method, source).Inc()
	}
}
