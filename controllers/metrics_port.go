package controller

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// MetricsPort is where the gateways and runners the operator starts serve
// Prometheus metrics (RIVETKUBE_METRICS_LISTEN), in their own pod network
// namespace. The chart's PodMonitor scrapes it (monitoring.dataPlanePort).
// An ActorVersion's env may move or clear it for its runners.
const MetricsPort = 9464

// metricsListen is the RIVETKUBE_METRICS_LISTEN value for MetricsPort.
func metricsListen() string { return fmt.Sprintf(":%d", MetricsPort) }

// gatewayPorts are the gateway container's ports: clients, then metrics.
func gatewayPorts() []corev1.ContainerPort {
	return []corev1.ContainerPort{
		{Name: "http", ContainerPort: GatewayPort, Protocol: corev1.ProtocolTCP},
		{Name: "metrics", ContainerPort: MetricsPort, Protocol: corev1.ProtocolTCP},
	}
}
