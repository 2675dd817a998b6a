package controller

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// TestSchemaRejectsInvalidSpecs creates invalid objects against the real
// API server and checks the schema's message.
func TestSchemaRejectsInvalidSpecs(t *testing.T) {
	needK8s(t)
	e := &env{t: t, ctx: t.Context(), ns: "validation"}
	if err := k8sClient.Create(e.ctx, namespace("validation")); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		obj  func() client.Object
		want string
	}{
		{"pool min above max", func() client.Object {
			p := pool("p-minmax", "e")
			p.Spec.MinReplicas, p.Spec.MaxReplicas = 5, 2
			return p
		}, "minReplicas must not exceed maxReplicas"},
		{"pool unknown autoscaling mode", func() client.Object {
			p := pool("p-mode", "e")
			p.Spec.Autoscaling.Mode = "magic"
			return p
		}, `Unsupported value: "magic"`},
		{"pool name too long", func() client.Object {
			return pool(strings.Repeat("p", 41), "e")
		}, "metadata.name must be at most 40 characters"},
		{"pool drain timeout out of range", func() client.Object {
			p := pool("p-drain", "e")
			p.Spec.Drain.Timeout = &metav1.Duration{Duration: 0}
			return p
		}, "timeout must be between 1s and 1h"},
		{"pool scaleToZeroAfter too short", func() client.Object {
			p := pool("p-zero-short", "e")
			p.Spec.Autoscaling.ScaleToZeroAfter = &metav1.Duration{Duration: 500 * 1e6}
			return p
		}, "scaleToZeroAfter must be between 1s and 24h"},
		{"pool scaleToZeroAfter too long", func() client.Object {
			p := pool("p-zero-long", "e")
			p.Spec.Autoscaling.ScaleToZeroAfter = &metav1.Duration{Duration: 25 * 3600 * 1e9}
			return p
		}, "scaleToZeroAfter must be between 1s and 24h"},
		{"version zero", func() client.Object { return version("v0", "p", 0) }, "should be greater than or equal to 1"},
		{"version image too long", func() client.Object {
			v := version("vimg", "p", 1)
			v.Spec.Image = strings.Repeat("i", 600)
			return v
		}, "Too long"},
		{"version without image", func() client.Object {
			v := version("vnoimg", "p", 1)
			v.Spec.Image = ""
			return v
		}, "spec.image"},
		{"engine lease too short", func() client.Object {
			en := e.engine("e-lease")
			en.Spec.Limits.Lease = &metav1.Duration{Duration: 100 * 1e6}
			return en
		}, "lease must be between 500ms and 10m"},
		{"engine without admin token", func() client.Object {
			en := e.engine("e-admin")
			en.Spec.AdminTokenSecretRef = rivetv1.SecretKeyRef{}
			return en
		}, "spec.adminTokenSecretRef.name"},
		{"engine with negative replicas", func() client.Object {
			en := e.engine("e-replicas")
			en.Spec.Gateway.Replicas = ptr.To[int32](-1)
			return en
		}, "spec.gateway.replicas"},
		{"engine bad service type", func() client.Object {
			en := e.engine("e-svc")
			en.Spec.Gateway.Service.Type = "Magic"
			return en
		}, `Unsupported value: "Magic"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.obj()
			o.SetNamespace("validation")
			err := k8sClient.Create(t.Context(), o)
			if err == nil {
				t.Fatalf("created an invalid object; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}

	// Immutable fields.
	v := version("immutable", "p", 3)
	v.Namespace = "validation"
	if err := k8sClient.Create(t.Context(), v); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*rivetv1.ActorVersion)
		want   string
	}{
		{"version", func(a *rivetv1.ActorVersion) { a.Spec.Version = 4 }, "version is immutable"},
		{"pool", func(a *rivetv1.ActorVersion) { a.Spec.PoolRef.Name = "other" }, "poolRef is immutable"},
	} {
		t.Run("immutable "+tc.name, func(t *testing.T) {
			a := &rivetv1.ActorVersion{}
			if err := k8sClient.Get(t.Context(), client.ObjectKeyFromObject(v), a); err != nil {
				t.Fatal(err)
			}
			tc.mutate(a)
			err := k8sClient.Update(t.Context(), a)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("update error = %v, want one containing %q", err, tc.want)
			}
		})
	}
	// An allowed change still goes through (the rules are not blanket).
	a := &rivetv1.ActorVersion{}
	if err := k8sClient.Get(t.Context(), client.ObjectKeyFromObject(v), a); err != nil {
		t.Fatal(err)
	}
	a.Spec.Image = "example/app:rollback"
	if err := k8sClient.Update(t.Context(), a); err != nil {
		t.Fatalf("image update rejected: %v", err)
	}
	// Defaults are applied by the schema.
	p := pool("defaults", "e")
	p.Namespace = "validation"
	p.Spec.Autoscaling = rivetv1.AutoscalingSpec{}
	p.Spec.Drain = rivetv1.DrainSpec{}
	if err := k8sClient.Create(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if p.Spec.Autoscaling.Mode != rivetv1.AutoscalingOperator || p.Spec.Autoscaling.TargetActorsPerRunner != 100 ||
		p.Spec.Drain.ActorsPerSecond != 50 || p.Spec.Drain.Timeout == nil || p.Spec.Drain.Timeout.Duration.String() != "1m0s" {
		t.Fatalf("defaults not applied: %+v %+v", p.Spec.Autoscaling, p.Spec.Drain)
	}
}

// TestSamplesAreValid creates every sample of config/samples (dry run)
// against the real API server.
func TestSamplesAreValid(t *testing.T) {
	needK8s(t)
	files, err := filepath.Glob(filepath.Join("..", "config", "samples", "rivetkube_*.yaml"))
	if err != nil || len(files) != 3 {
		t.Fatalf("samples: %v %v", files, err)
	}
	if err := k8sClient.Create(t.Context(), namespace("samples")); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &u.Object); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		u.SetNamespace("samples")
		if err := k8sClient.Create(t.Context(), u, client.DryRunAll); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}
