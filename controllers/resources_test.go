package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

func TestMergeEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		lists [][]corev1.EnvVar
		want  []string // name=value in order
	}{
		{"concatenates", [][]corev1.EnvVar{{{Name: "A", Value: "1"}}, {{Name: "B", Value: "2"}}}, []string{"A=1", "B=2"}},
		{"later wins in place", [][]corev1.EnvVar{{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}, {{Name: "A", Value: "x"}}}, []string{"A=x", "B=2"}},
		{"empty", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, e := range mergeEnv(tc.lists...) {
				got = append(got, e.Name+"="+e.Value)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestRunnerDeployment(t *testing.T) {
	t.Parallel()
	engine := &rivetv1.RivetEngine{ObjectMeta: metav1.ObjectMeta{Name: "eng", Namespace: "ns"}, Spec: rivetv1.RivetEngineSpec{
		Postgres:            rivetv1.PostgresSpec{URLSecretRef: rivetv1.SecretKeyRef{Name: "pg", Key: "url"}},
		AdminTokenSecretRef: rivetv1.SecretKeyRef{Name: "admin", Key: "token"},
	}}
	sidecar := corev1.Container{Name: "sidecar", Image: "busybox"}
	tests := []struct {
		name      string
		template  *corev1.PodTemplateSpec
		drain     rivetv1.DrainSpec
		avEnv     []corev1.EnvVar
		container int
		grace     int64
		preStop   bool
		envCheck  map[string]string
	}{
		{
			name: "no template: a runner container is added", container: 0, grace: 2 + 60 + 10, preStop: true,
			envCheck: map[string]string{"RIVET_POOL": "app", "RIVET_RUNNER_VERSION": "7", "RIVETKUBE_SHUTDOWN_TIMEOUT": "60s"},
		},
		{
			name:      "the container named runner is used",
			template:  &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{sidecar, {Name: "runner", Env: []corev1.EnvVar{{Name: "USER_VAR", Value: "u"}}}}}},
			drain:     rivetv1.DrainSpec{Timeout: &metav1.Duration{Duration: 120e9}, PreStopSeconds: ptr.To[int32](0)},
			container: 1, grace: 120 + 10, preStop: false,
			envCheck: map[string]string{"USER_VAR": "u", "RIVETKUBE_SHUTDOWN_TIMEOUT": "120s"},
		},
		{
			name:      "the version's env overrides",
			template:  &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Env: []corev1.EnvVar{{Name: "MODE", Value: "template"}}}}}},
			avEnv:     []corev1.EnvVar{{Name: "MODE", Value: "version"}, {Name: "RIVET_POOL", Value: "forced"}},
			container: 0, grace: 72, preStop: true,
			envCheck: map[string]string{"MODE": "version", "RIVET_POOL": "forced"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := &rivetv1.RunnerPool{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns"}, Spec: rivetv1.RunnerPoolSpec{Template: tc.template, Drain: tc.drain}}
			av := &rivetv1.ActorVersion{ObjectMeta: metav1.ObjectMeta{Name: "app-7", Namespace: "ns"}, Spec: rivetv1.ActorVersionSpec{
				PoolRef: rivetv1.LocalRef{Name: "app"}, Version: 7, Image: "example/app:7", Env: tc.avEnv,
			}}
			d := runnerDeployment(engine, pool, av, 3)
			if d.Name != "app-v7" || *d.Spec.Replicas != 3 {
				t.Fatalf("name %s replicas %d", d.Name, *d.Spec.Replicas)
			}
			c := d.Spec.Template.Spec.Containers[tc.container]
			if c.Image != "example/app:7" {
				t.Fatalf("image went to the wrong container: %+v", d.Spec.Template.Spec.Containers)
			}
			if tc.template != nil && tc.template.Spec.Containers[tc.container].Image != "" {
				t.Fatal("the pool's template was modified")
			}
			if got := *d.Spec.Template.Spec.TerminationGracePeriodSeconds; got != tc.grace {
				t.Errorf("grace = %d, want %d", got, tc.grace)
			}
			if got := c.Lifecycle != nil && c.Lifecycle.PreStop != nil; got != tc.preStop {
				t.Errorf("preStop = %v, want %v", got, tc.preStop)
			}
			env := map[string]string{}
			for _, e := range c.Env {
				env[e.Name] = e.Value
			}
			for k, v := range tc.envCheck {
				if env[k] != v {
					t.Errorf("env %s = %q, want %q", k, env[k], v)
				}
			}
			sel := d.Spec.Selector.MatchLabels
			for k, v := range sel {
				if d.Spec.Template.Labels[k] != v {
					t.Errorf("selector %s=%s does not match the template", k, v)
				}
			}
		})
	}
}
