package controller

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// TestAdminURL: the operator calls the gateway by its Service's ClusterIP
// (no DNS lookup whose NXDOMAIN from before the Service existed is cached),
// by name while the Service is missing or headless, and the test override
// wins over both.
func TestAdminURL(t *testing.T) {
	engine := &rivetv1.RivetEngine{ObjectMeta: metav1.ObjectMeta{Name: "eng", Namespace: "ns"}}
	svc := func(ip string, port int32) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "eng-gateway", Namespace: "ns"},
			Spec:       corev1.ServiceSpec{ClusterIP: ip, Ports: []corev1.ServicePort{{Name: "http", Port: port}}},
		}
	}
	byName := "http://eng-gateway.ns.svc:6420"
	for _, tc := range []struct {
		name string
		svc  *corev1.Service
		want string
	}{
		{"ClusterIP", svc("10.0.0.42", 6420), "http://10.0.0.42:6420"},
		{"other port", svc("10.0.0.42", 80), "http://10.0.0.42:80"},
		{"IPv6", svc("fd00::2a", 6420), "http://[fd00::2a]:6420"},
		{"headless", svc(corev1.ClusterIPNone, 6420), byName},
		{"no Service", nil, byName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fake.NewClientBuilder().WithScheme(scheme)
			if tc.svc != nil {
				b = b.WithObjects(tc.svc)
			}
			r := &base{Client: b.Build()}
			if got := r.adminURL(context.Background(), engine); got != tc.want {
				t.Fatalf("adminURL = %q, want %q", got, tc.want)
			}
		})
	}
	r := &base{Client: fake.NewClientBuilder().WithScheme(scheme).WithObjects(svc("10.0.0.42", 6420)).Build(),
		Opts: Options{GatewayURLOverride: func(*rivetv1.RivetEngine) string { return "http://127.0.0.1:1" }}}
	if got := r.adminURL(context.Background(), engine); got != "http://127.0.0.1:1" {
		t.Fatalf("with the override: %q", got)
	}
}
