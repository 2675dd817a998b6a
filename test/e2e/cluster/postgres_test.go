package cluster

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/rivetkube/rivetkube/internal/testutil/pgtest"
)

// pgHost is the host-mode PostgreSQL, started before anything is installed
// (nil in incluster mode).
type pgHost struct {
	server *pgtest.Server
}

// startHostPostgres starts a throwaway PostgreSQL on this machine that also
// listens on the address pods reach the host at and trusts their network.
func startHostPostgres(t *testing.T, cfg *config) *pgHost {
	t.Helper()
	if _, ok := pgtest.BinDir(); !ok {
		t.Fatalf("RIVETKUBE_E2E_POSTGRES=host needs the PostgreSQL server binaries (postgresql-15, or %s)", pgtest.BinDirEnv)
	}
	if net.ParseIP(cfg.hostAddr) == nil {
		t.Fatalf("RIVETKUBE_E2E_HOST_ADDR=%q is not an IP address", cfg.hostAddr)
	}
	if !hostHasAddr(cfg.hostAddr) {
		t.Fatalf("no network interface of this machine has %s (RIVETKUBE_E2E_HOST_ADDR): host-mode PostgreSQL must run on the cluster's node, "+
			"where pods reach the host at that address (the local cluster's cni0 bridge is 10.88.0.1)", cfg.hostAddr)
	}
	s := pgtest.StartServerWith(t, pgtest.Options{ListenAddresses: []string{cfg.hostAddr}, TrustNetworks: []string{cfg.hostNet}})
	t.Logf("host PostgreSQL on %s:%d and 127.0.0.1:%d (data in %s), trusting %s", cfg.hostAddr, s.Port, s.Port, s.Dir, cfg.hostNet)
	return &pgHost{server: s}
}

func hostHasAddr(ip string) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.String() == ip {
			return true
		}
	}
	return false
}

const pgPassword = "rivetkube-e2e"

// deployPostgres makes "postgres.<ns>.svc:5432" reach a database and
// returns the URL the engine gets. Host mode: a Service without a selector
// and an EndpointSlice naming the host. Incluster mode: a postgres
// Deployment (cfg.pgImage) and its Service.
func (s *suite) deployPostgres(t *testing.T, host *pgHost) string {
	t.Helper()
	ctx := ctxFor(t, 5*time.Minute)
	labels := map[string]string{"app.kubernetes.io/name": "postgres", "app.kubernetes.io/instance": "rivetkube-e2e"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "postgres", Namespace: ns, Labels: labels},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "postgres", Port: 5432, TargetPort: intstr.FromInt32(5432), Protocol: corev1.ProtocolTCP}}},
	}
	if host != nil {
		if err := s.k.Create(ctx, svc); err != nil {
			t.Fatalf("create Service postgres: %v", err)
		}
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Name: "postgres-host", Namespace: ns, Labels: map[string]string{
				discoveryv1.LabelServiceName: "postgres",
				discoveryv1.LabelManagedBy:   "rivetkube-e2e",
			}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{s.cfg.hostAddr}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("postgres"), Port: ptr.To(int32(host.server.Port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
		}
		if err := s.k.Create(ctx, slice); err != nil {
			t.Fatalf("create EndpointSlice postgres-host: %v", err)
		}
		return fmt.Sprintf("postgres://postgres@postgres.%s.svc:5432/postgres?sslmode=disable", ns)
	}

	svc.Spec.Selector = labels
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "postgres", Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:            "postgres",
					Image:           s.cfg.pgImage,
					ImagePullPolicy: corev1.PullIfNotPresent,
					Args:            []string{"-c", "max_connections=300"},
					Env: []corev1.EnvVar{
						{Name: "POSTGRES_PASSWORD", Value: pgPassword},
						{Name: "PGDATA", Value: "/var/lib/postgresql/data/pgdata"},
					},
					Ports: []corev1.ContainerPort{{Name: "postgres", ContainerPort: 5432}},
					ReadinessProbe: &corev1.Probe{
						ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"pg_isready", "-U", "postgres", "-h", "127.0.0.1"}}},
						PeriodSeconds: 2,
					},
					VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/postgresql/data"}},
				}},
					Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
		},
	}
	if err := s.k.Create(ctx, dep); err != nil {
		t.Fatalf("create Deployment postgres: %v", err)
	}
	if err := s.k.Create(ctx, svc); err != nil {
		t.Fatalf("create Service postgres: %v", err)
	}
	s.eventually(t, "the in-cluster PostgreSQL to be ready", 5*time.Minute, func(ctx context.Context) (bool, string, error) {
		d := &appsv1.Deployment{}
		if err := s.k.Get(ctx, objKey(ns, "postgres"), d); err != nil {
			return false, "", err
		}
		return d.Status.ReadyReplicas >= 1, "ready replicas " + strconv.Itoa(int(d.Status.ReadyReplicas)), nil
	})
	u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", pgPassword), Host: "postgres." + ns + ".svc:5432", Path: "/postgres", RawQuery: "sslmode=disable"}
	return u.String()
}
