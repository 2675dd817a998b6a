package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// spec.gateway.corsOrigins reaches the gateway as RIVETKUBE_CORS_ORIGINS;
// without it the variable is absent and the gateway allows its own origin
// only.
func TestGatewayConfigMapCORSOrigins(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		origins []string
		want    string
		present bool
	}{
		{name: "unset", origins: nil},
		{name: "one", origins: []string{"https://app.example.com"}, want: "https://app.example.com", present: true},
		{name: "several", origins: []string{"https://app.example.com", "https://*.example.org"},
			want: "https://app.example.com,https://*.example.org", present: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &rivetv1.RivetEngine{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns"}}
			e.Spec.Gateway.CORSOrigins = tt.origins
			got, ok := gatewayConfigMap(e).Data["RIVETKUBE_CORS_ORIGINS"]
			if ok != tt.present || got != tt.want {
				t.Errorf("RIVETKUBE_CORS_ORIGINS = %q (present %v), want %q (present %v)", got, ok, tt.want, tt.present)
			}
		})
	}
}

// spec.clientTokensSecretRef reaches the gateway as RIVETKUBE_CLIENT_TOKENS
// from the Secret, never as a literal value.
func TestGatewayDeploymentClientTokens(t *testing.T) {
	t.Parallel()
	for _, ref := range []*rivetv1.SecretKeyRef{nil, {Name: "tokens", Key: "list"}} {
		e := &rivetv1.RivetEngine{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns"}}
		e.Spec.ClientTokensSecretRef = ref
		var found *corev1.EnvVar
		for _, c := range gatewayDeployment(e, rivetv1.SecretKeyRef{Name: "r", Key: "k"}, "h").Spec.Template.Spec.Containers {
			for i := range c.Env {
				if c.Env[i].Name == "RIVETKUBE_CLIENT_TOKENS" {
					found = &c.Env[i]
				}
			}
		}
		switch {
		case ref == nil && found != nil:
			t.Errorf("no secret ref, but RIVETKUBE_CLIENT_TOKENS is set: %+v", found)
		case ref != nil && (found == nil || found.Value != "" || found.ValueFrom == nil || found.ValueFrom.SecretKeyRef == nil ||
			found.ValueFrom.SecretKeyRef.Name != "tokens" || found.ValueFrom.SecretKeyRef.Key != "list"):
			t.Errorf("RIVETKUBE_CLIENT_TOKENS = %+v, want from secret tokens/list", found)
		}
	}
}
