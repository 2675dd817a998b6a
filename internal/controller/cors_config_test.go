package controller

import (
	"testing"

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
