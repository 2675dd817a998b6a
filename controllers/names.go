package controller

import (
	"fmt"
	"strconv"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// Labels and annotations the operator sets.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelVersion   = "app.kubernetes.io/version"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelEngine, LabelPool and LabelRunnerVersion select the operator's
	// children; they are part of the Deployments' selectors.
	LabelEngine        = "rivetkube.dev/engine"
	LabelPool          = "rivetkube.dev/pool"
	LabelRunnerVersion = "rivetkube.dev/version"

	// AnnotationConfigHash rolls the gateway when its configuration changes.
	AnnotationConfigHash = "rivetkube.dev/config-hash"
	// AnnotationPodDeletionCost is the ReplicaSet's hint of which pod to
	// remove first.
	AnnotationPodDeletionCost = "controller.kubernetes.io/pod-deletion-cost"

	// FinalizerDrain keeps an ActorVersion until its actors moved away.
	FinalizerDrain = "rivetkube.dev/drain"

	managedBy = "rivetkube-operator"
	partOf    = "rivetkube"

	// GatewayPort and RunnerPort are the container ports.
	GatewayPort = 6420
	RunnerPort  = 6421
	// RunnerContainer is the container of a pool's template that runs the
	// ActorVersion's image.
	RunnerContainer = "runner"
)

// GatewayName names the gateway Deployment, Service and ConfigMap.
func GatewayName(engine *rivetv1.RivetEngine) string { return engine.Name + "-gateway" }

// RunnerTokenName names the generated runner-token Secret.
func RunnerTokenName(engine *rivetv1.RivetEngine) string { return engine.Name + "-runner-token" }

// RunnerDeploymentName names a version's runner Deployment.
func RunnerDeploymentName(pool string, version int64) string {
	return fmt.Sprintf("%s-v%d", pool, version)
}

// Endpoint is the engine's in-cluster URL.
func Endpoint(engine *rivetv1.RivetEngine) string {
	port := engine.Spec.Gateway.Service.Port
	if port == 0 {
		port = GatewayPort
	}
	return fmt.Sprintf("http://%s.%s.svc:%d", GatewayName(engine), engine.Namespace, port)
}

func gatewaySelector(engine *rivetv1.RivetEngine) map[string]string {
	return map[string]string{LabelName: "rivet-gateway", LabelInstance: engine.Name, LabelEngine: engine.Name}
}

func gatewayLabels(engine *rivetv1.RivetEngine) map[string]string {
	l := gatewaySelector(engine)
	l[LabelComponent] = "gateway"
	l[LabelPartOf] = partOf
	l[LabelManagedBy] = managedBy
	return l
}

func runnerSelector(pool string, version int64) map[string]string {
	return map[string]string{LabelName: "rivet-runner", LabelInstance: pool, LabelPool: pool, LabelRunnerVersion: strconv.FormatInt(version, 10)}
}

func runnerLabels(engine, pool string, version int64) map[string]string {
	l := runnerSelector(pool, version)
	l[LabelComponent] = "runner"
	l[LabelVersion] = strconv.FormatInt(version, 10)
	l[LabelEngine] = engine
	l[LabelPartOf] = partOf
	l[LabelManagedBy] = managedBy
	return l
}
