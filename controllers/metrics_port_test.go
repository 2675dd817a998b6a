package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// TestMetricsListen checks that the gateway and the runners the operator
// starts serve metrics on MetricsPort, and that an ActorVersion's env can
// move the runners' listener.
func TestMetricsListen(t *testing.T) {
	t.Parallel()
	engine := &rivetv1.RivetEngine{ObjectMeta: metav1.ObjectMeta{Name: "eng", Namespace: "ns"}, Spec: rivetv1.RivetEngineSpec{
		Postgres:            rivetv1.PostgresSpec{URLSecretRef: rivetv1.SecretKeyRef{Name: "pg", Key: "url"}},
		AdminTokenSecretRef: rivetv1.SecretKeyRef{Name: "admin", Key: "token"},
	}}
	if got := gatewayConfigMap(engine).Data["RIVETKUBE_METRICS_LISTEN"]; got != ":9464" {
		t.Errorf("gateway RIVETKUBE_METRICS_LISTEN = %q", got)
	}
	d := gatewayDeployment(engine, rivetv1.SecretKeyRef{Name: "runner", Key: "token"}, "hash")
	found := false
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		found = found || (p.Name == "metrics" && p.ContainerPort == MetricsPort)
	}
	if !found {
		t.Errorf("gateway ports = %+v, want a metrics port", d.Spec.Template.Spec.Containers[0].Ports)
	}
	tests := []struct {
		name  string
		avEnv []corev1.EnvVar
		want  string
	}{
		{"default", nil, ":9464"},
		{"moved by the version", []corev1.EnvVar{{Name: "RIVETKUBE_METRICS_LISTEN", Value: ":9100"}}, ":9100"},
	}
	for _, tc := range tests {
		pool := &rivetv1.RunnerPool{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns"}}
		av := &rivetv1.ActorVersion{ObjectMeta: metav1.ObjectMeta{Name: "app-1", Namespace: "ns"}, Spec: rivetv1.ActorVersionSpec{
			PoolRef: rivetv1.LocalRef{Name: "app"}, Version: 1, Image: "example/app:1", Env: tc.avEnv,
		}}
		got := ""
		for _, e := range runnerDeployment(engine, pool, av, 1).Spec.Template.Spec.Containers[0].Env {
			if e.Name == "RIVETKUBE_METRICS_LISTEN" {
				got = e.Value
			}
		}
		if got != tc.want {
			t.Errorf("%s: runner RIVETKUBE_METRICS_LISTEN = %q, want %q", tc.name, got, tc.want)
		}
	}
}
