package controller

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

func ctrlSetOwner(owner, obj client.Object, scheme *runtime.Scheme) error {
	if err := controllerutil.SetControllerReference(owner, obj, scheme); err != nil {
		return fmt.Errorf("owner reference on %s: %w", obj.GetName(), err)
	}
	return nil
}

// gatewayConfigMap is the gateway's non-secret configuration, read as
// environment variables.
func gatewayConfigMap(engine *rivetv1.RivetEngine) *corev1.ConfigMap {
	l := engine.Spec.Limits
	data := map[string]string{
		"RIVETKUBE_LISTEN":       fmt.Sprintf(":%d", GatewayPort),
		"RIVETKUBE_LOG_FORMAT":   orDefault(engine.Spec.Gateway.LogFormat, "json"),
		"RIVETKUBE_LEASE":        durationOr(l.Lease, "5s"),
		"RIVETKUBE_WAIT_TIMEOUT": durationOr(l.WaitTimeout, "30s"),
	}
	data["RIVETKUBE_METRICS_LISTEN"] = metricsListen()
	// Only a non-default value is written, so engines that keep the
	// default did not see their gateways roll when the field appeared.
	if c := l.ColdStartTimeout; c != nil && c.Duration != 60*time.Second {
		data["RIVETKUBE_COLD_START_TIMEOUT"] = c.Duration.String()
	}
	if l.MaxMessageSize != nil {
		data["RIVETKUBE_MAX_MESSAGE_SIZE"] = strconv.FormatInt(*l.MaxMessageSize, 10)
	}
	if o := engine.Spec.Gateway.CORSOrigins; len(o) > 0 {
		data["RIVETKUBE_CORS_ORIGINS"] = strings.Join(o, ",")
	}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: GatewayName(engine), Namespace: engine.Namespace, Labels: gatewayLabels(engine)},
		Data:       data,
	}
}

// configHash fingerprints configuration so a change rolls the pods.
func configHash(data map[string]string) string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\n", k, data[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func secretEnv(name string, ref rivetv1.SecretKeyRef) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name}, Key: ref.Key,
	}}}
}

// gatewayDeployment runs the gateway; an init container applies the schema
// migrations (gateway migrate) before the gateway serves.
func gatewayDeployment(engine *rivetv1.RivetEngine, runnerToken rivetv1.SecretKeyRef, cfgHash string) *appsv1.Deployment {
	g := engine.Spec.Gateway
	pg := secretEnv("RIVETKUBE_POSTGRES_URL", engine.Spec.Postgres.URLSecretRef)
	env := []corev1.EnvVar{
		pg,
		secretEnv("RIVETKUBE_ADMIN_TOKEN", engine.Spec.AdminTokenSecretRef),
		secretEnv("RIVETKUBE_RUNNER_TOKEN", runnerToken),
	}
	if engine.Spec.InspectorTokenSecretRef != nil {
		env = append(env, secretEnv("RIVETKUBE_INSPECTOR_TOKEN", *engine.Spec.InspectorTokenSecretRef))
	}
	if engine.Spec.ClientTokensSecretRef != nil {
		env = append(env, secretEnv("RIVETKUBE_CLIENT_TOKENS", *engine.Spec.ClientTokensSecretRef))
	}
	maxConns := engine.Spec.Postgres.MaxConns
	if maxConns == 0 {
		maxConns = 32
	}
	sc := &corev1.SecurityContext{
		RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem: ptr.To(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	probe := func(period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
			PeriodSeconds: period, TimeoutSeconds: 2, FailureThreshold: 3,
		}
	}
	labels := gatewayLabels(engine)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: GatewayName(engine), Namespace: engine.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(ptr.Deref(g.Replicas, 2)),
			Selector: &metav1.LabelSelector{MatchLabels: gatewaySelector(engine)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{AnnotationConfigHash: cfgHash}},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: ptr.To(false),
					InitContainers: []corev1.Container{{
						Name: "migrate", Image: g.Image, ImagePullPolicy: g.ImagePullPolicy,
						// The PostgreSQL error reaches the pod status (podfailure.go).
						Args: []string{"migrate"}, Env: []corev1.EnvVar{pg}, TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
						EnvFrom:         []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: GatewayName(engine)}}}},
						SecurityContext: sc,
					}},
					Containers: []corev1.Container{{
						Name: "gateway", Image: g.Image, ImagePullPolicy: g.ImagePullPolicy, TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
						Args:            []string{"--postgres-max-conns", strconv.Itoa(int(maxConns))},
						Ports:           gatewayPorts(),
						Env:             env,
						EnvFrom:         []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: GatewayName(engine)}}}},
						Resources:       g.Resources,
						ReadinessProbe:  probe(5),
						LivenessProbe:   probe(10),
						SecurityContext: sc,
					}},
				},
			},
		},
	}
}

func gatewayService(engine *rivetv1.RivetEngine) *corev1.Service {
	s := engine.Spec.Gateway.Service
	port := s.Port
	if port == 0 {
		port = GatewayPort
	}
	return &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: GatewayName(engine), Namespace: engine.Namespace,
			Labels: gatewayLabels(engine), Annotations: s.Annotations},
		Spec: corev1.ServiceSpec{
			Type:     orDefault(s.Type, corev1.ServiceTypeClusterIP),
			Selector: gatewaySelector(engine),
			Ports:    []corev1.ServicePort{{Name: "http", Port: port, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}
}

func runnerTokenSecret(engine *rivetv1.RivetEngine) (*corev1.Secret, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generate runner token: %w", err)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: RunnerTokenName(engine), Namespace: engine.Namespace, Labels: gatewayLabels(engine)},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"token": []byte(hex.EncodeToString(b))},
	}, nil
}

// deploymentFailed returns why a Deployment's rollout failed, or "".
func deploymentFailed(d *appsv1.Deployment) string {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return c.Message
		}
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
			return c.Message
		}
	}
	return ""
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func durationOr(d *metav1.Duration, def string) string {
	if d == nil {
		return def
	}
	return d.Duration.String()
}
