package controller

import (
	"fmt"
	"maps"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// Drain defaults (the CRD defaults them too; these cover objects written
// before a default existed).
const (
	defaultDrainTimeout   = 60
	defaultPreStopSeconds = 2
	// graceMargin is added to the drain timeout and preStop pause in the
	// pod's terminationGracePeriodSeconds so the kubelet does not kill a
	// runner that is still committing its actors' state.
	graceMargin = 10
)

func drainTimeoutSeconds(pool *rivetv1.RunnerPool) int64 {
	if t := pool.Spec.Drain.Timeout; t != nil {
		return max(int64(t.Seconds()), 1)
	}
	return defaultDrainTimeout
}

func runnerTokenRef(engine *rivetv1.RivetEngine) rivetv1.SecretKeyRef {
	if engine.Spec.RunnerTokenSecretRef != nil {
		return *engine.Spec.RunnerTokenSecretRef
	}
	return rivetv1.SecretKeyRef{Name: RunnerTokenName(engine), Key: "token"}
}

// runnerDeployment renders the Deployment of one ActorVersion: the pool's
// template with the version's image and overrides, the runner environment
// and drain settings, and the replicas the pool's plan gives the version.
func runnerDeployment(engine *rivetv1.RivetEngine, pool *rivetv1.RunnerPool, av *rivetv1.ActorVersion, replicas int32) *appsv1.Deployment {
	var tpl corev1.PodTemplateSpec
	if pool.Spec.Template != nil {
		tpl = *pool.Spec.Template.DeepCopy()
	}
	v := av.Spec.Version
	i := -1
	for j, c := range tpl.Spec.Containers {
		if c.Name == RunnerContainer {
			i = j
		}
	}
	if i < 0 && len(tpl.Spec.Containers) > 0 {
		i = 0
	}
	if i < 0 {
		tpl.Spec.Containers = append(tpl.Spec.Containers, corev1.Container{Name: RunnerContainer})
		i = 0
	}
	c := &tpl.Spec.Containers[i]
	c.Image = av.Spec.Image
	if av.Spec.ImagePullPolicy != "" {
		c.ImagePullPolicy = av.Spec.ImagePullPolicy
	}
	if len(av.Spec.Args) > 0 {
		c.Args = av.Spec.Args
	}
	if av.Spec.Resources != nil {
		c.Resources = *av.Spec.Resources
	}
	drain := drainTimeoutSeconds(pool)
	preStop := int64(ptr.Deref(pool.Spec.Drain.PreStopSeconds, defaultPreStopSeconds))
	operatorEnv := []corev1.EnvVar{
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "RIVET_ENDPOINT", Value: Endpoint(engine)},
		{Name: "RIVET_POOL", Value: pool.Name},
		{Name: "RIVET_RUNNER_VERSION", Value: strconv.FormatInt(v, 10)},
		{Name: "RIVET_RUNNER_LISTEN", Value: fmt.Sprintf(":%d", RunnerPort)},
		{Name: "RIVET_RUNNER_ADDRESS", Value: fmt.Sprintf("$(POD_IP):%d", RunnerPort)},
		secretEnv("RIVETKUBE_POSTGRES_URL", engine.Spec.Postgres.URLSecretRef),
		secretEnv("RIVETKUBE_RUNNER_TOKEN", runnerTokenRef(engine)),
		{Name: "RIVETKUBE_LEASE", Value: durationOr(engine.Spec.Limits.Lease, "5s")},
		{Name: "RIVETKUBE_SHUTDOWN_TIMEOUT", Value: fmt.Sprintf("%ds", drain)},
		{Name: "RIVETKUBE_METRICS_LISTEN", Value: metricsListen()},
	}
	if engine.Spec.Limits.MaxMessageSize != nil {
		operatorEnv = append(operatorEnv, corev1.EnvVar{Name: "RIVETKUBE_MAX_MESSAGE_SIZE", Value: strconv.FormatInt(*engine.Spec.Limits.MaxMessageSize, 10)})
	}
	if engine.Spec.InspectorTokenSecretRef != nil {
		operatorEnv = append(operatorEnv, secretEnv("RIVETKUBE_INSPECTOR_TOKEN", *engine.Spec.InspectorTokenSecretRef))
	}
	c.Env = mergeEnv(operatorEnv, c.Env, av.Spec.Env)
	hasPort := false
	for _, p := range c.Ports {
		hasPort = hasPort || p.Name == "runner"
	}
	if !hasPort {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: "runner", ContainerPort: RunnerPort, Protocol: corev1.ProtocolTCP})
	}
	if c.ReadinessProbe == nil {
		c.ReadinessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("runner")}},
			PeriodSeconds: 5, TimeoutSeconds: 2, FailureThreshold: 3,
		}
	}
	if preStop > 0 && (c.Lifecycle == nil || c.Lifecycle.PreStop == nil) {
		if c.Lifecycle == nil {
			c.Lifecycle = &corev1.Lifecycle{}
		}
		c.Lifecycle.PreStop = &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: preStop}}
	}
	tpl.Spec.TerminationGracePeriodSeconds = ptr.To(preStop + drain + graceMargin)

	labels := runnerLabels(engine.Name, pool.Name, v)
	tpl.Labels = mergeMaps(tpl.Labels, labels)
	return &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{
			Name: RunnerDeploymentName(pool.Name, v), Namespace: av.Namespace, Labels: labels,
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: runnerSelector(pool.Name, v)},
			Template: tpl,
		},
	}
}

// mergeEnv concatenates environment lists; a later entry with the same name
// replaces an earlier one in place, so $(VAR) references keep their order.
func mergeEnv(lists ...[]corev1.EnvVar) []corev1.EnvVar {
	var out []corev1.EnvVar
	at := map[string]int{}
	for _, l := range lists {
		for _, e := range l {
			if i, ok := at[e.Name]; ok {
				out[i] = e
				continue
			}
			at[e.Name] = len(out)
			out = append(out, e)
		}
	}
	return out
}

func mergeMaps(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, b)
	return out
}
