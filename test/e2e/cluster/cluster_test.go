package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
	"github.com/rivetkube/rivetkube/internal/admin"
)

// TestCluster runs the scenarios in order on one installation; a failed
// scenario skips the ones after it, and the uninstall always runs.
func TestCluster(t *testing.T) {
	cfg := loadConfig(t)
	s := newSuite(t, cfg)
	s.precheck(t)
	var host *pgHost
	if cfg.pgMode == "host" {
		host = startHostPostgres(t, cfg) // stopped after the teardown below
	}
	t.Cleanup(func() { s.teardown(t) })
	t.Logf("images: operator %s, gateway %s, runner v1 %s, v2 %s (pull policy %s); PostgreSQL %s; gateway reached by %s",
		cfg.operatorImage, cfg.gatewayImage, cfg.runnerImages[0], cfg.runnerImages[1], cfg.pullPolicy, cfg.pgMode,
		map[bool]string{true: "its ClusterIP (RIVETKUBE_E2E_DIRECT=1)", false: "port-forwarding to the gateway pods"}[cfg.direct])

	steps := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"install", s.install},
		{"engine", func(t *testing.T) { s.deployEngine(t, host) }},
		{"bad-image", s.badImage},
		{"bad-postgres", s.badPostgres},
		{"clients", s.clients},
		{"rollout", s.rollout},
		{"cli", s.cliScenario},
		{"runner-pod-deleted", s.runnerPodDeleted},
		{"autoscale", s.autoscale},
		{"progressive", s.progressive},
		{"rollback-bad-version", s.rollbackBadVersion},
		{"scale-to-zero", s.scaleToZero},
	}
	ok := true
	for _, st := range steps {
		if !ok {
			t.Run(st.name, func(t *testing.T) { t.Skip("skipped: an earlier scenario failed") })
			continue
		}
		start := time.Now()
		ok = t.Run(st.name, st.fn)
		t.Logf("scenario %s: %v (%s)", st.name, map[bool]string{true: "ok", false: "FAILED"}[ok], time.Since(start).Round(time.Second))
	}
	start := time.Now()
	t.Run("uninstall", s.uninstall)
	t.Logf("scenario uninstall: %s", time.Since(start).Round(time.Second))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.failures {
		t.Logf("FAILED %s", f)
	}
}

var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinitionList"}

// rivetCRDs lists the CRDs of group rivetkube.dev.
func (s *suite) rivetCRDs(ctx context.Context) ([]string, error) {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(crdGVK)
	if err := s.k.List(ctx, l); err != nil {
		return nil, err
	}
	var names []string
	for _, c := range l.Items {
		if strings.HasSuffix(c.GetName(), ".rivetkube.dev") {
			names = append(names, c.GetName())
		}
	}
	return names, nil
}

// precheck: the cluster answers and holds nothing of rivetkube yet.
func (s *suite) precheck(t *testing.T) {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	v, err := s.cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("cluster of %s does not answer: %v", s.cfg.kubeconfig, err)
	}
	t.Logf("cluster: Kubernetes %s", v.GitVersion)
	for _, n := range []string{ns, systemNS} {
		err := s.k.Get(ctx, objKey("", n), &corev1.Namespace{})
		if err == nil {
			t.Fatalf("namespace %s exists (left by an earlier run?): remove it with `helm uninstall %s -n %s; kubectl delete namespace %s %s` first",
				n, releaseName, systemNS, ns, systemNS)
		}
		if !apierrors.IsNotFound(err) {
			t.Fatalf("get namespace %s: %v", n, err)
		}
	}
	crds, err := s.rivetCRDs(ctx)
	if err != nil {
		t.Fatalf("list CRDs: %v", err)
	}
	if len(crds) > 0 {
		t.Fatalf("the cluster already has rivetkube CRDs %v: the suite installs its own and checks that the uninstall removes them; "+
			"use a cluster without rivetkube (kubectl delete crd -l app.kubernetes.io/part-of=rivetkube)", crds)
	}
}

// install: helm install of charts/rivetkube with the operator image under
// test, CRDs not kept on uninstall, and the operator running.
func (s *suite) install(t *testing.T) {
	ctx := ctxFor(t, 7*time.Minute)
	repo, tag := splitImage(s.cfg.operatorImage)
	s.mu.Lock()
	s.installed = true // from now on the teardown uninstalls
	s.mu.Unlock()
	out, err := s.helm(ctx, "install", releaseName, s.cfg.root+"/charts/rivetkube",
		"--namespace", systemNS, "--create-namespace", "--wait", "--timeout", "5m",
		"--set", "image.repository="+repo, "--set", "image.tag="+tag, "--set", "image.pullPolicy="+string(s.cfg.pullPolicy),
		"--set", "replicaCount=1", "--set", "crds.keep=false", "--set", "tests.enabled=false", "--set", "activePoll=1s",
		"--set", "logging.encoder=console")
	t.Logf("helm install:\n%s", out)
	if err != nil {
		s.fatalf(t, "helm install: %v", err)
	}
	s.eventually(t, "the operator Deployment to be available", 3*time.Minute, func(ctx context.Context) (bool, string, error) {
		d := &appsv1.Deployment{}
		if err := s.k.Get(ctx, objKey(systemNS, operatorDep), d); err != nil {
			return false, "", err
		}
		return d.Status.AvailableReplicas >= 1, fmt.Sprintf("available %d/%d", d.Status.AvailableReplicas, ptr.Deref(d.Spec.Replicas, 1)), nil
	})
	s.eventually(t, "three rivetkube CRDs", time.Minute, func(ctx context.Context) (bool, string, error) {
		crds, err := s.rivetCRDs(ctx)
		return len(crds) == 3, fmt.Sprint(crds), err
	})
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

var smallRequests = corev1.ResourceRequirements{Requests: corev1.ResourceList{
	corev1.ResourceCPU:    resource.MustParse("10m"),
	corev1.ResourceMemory: resource.MustParse("32Mi"),
}}

// Pool settings the scenarios rely on.
const (
	minRunners = 2
	maxRunners = 4
	// initialTarget keeps the autoscaler quiet until the autoscale scenario
	// lowers it.
	initialTarget = 1000
)

func (s *suite) newVersion(v int) *rivetv1.ActorVersion {
	return &rivetv1.ActorVersion{
		ObjectMeta: metav1.ObjectMeta{Name: versionName(v), Namespace: ns},
		Spec: rivetv1.ActorVersionSpec{
			PoolRef:         rivetv1.LocalRef{Name: poolName},
			Version:         int64(v),
			Image:           s.cfg.runnerImages[v-1],
			ImagePullPolicy: s.cfg.pullPolicy,
			// Runners share the database with everything else: keep pools small.
			Env: []corev1.EnvVar{{Name: "RIVETKUBE_POSTGRES_MAX_CONNS", Value: "8"}},
		},
	}
}

// deployEngine: PostgreSQL, the engine's Secrets, a RivetEngine, a
// RunnerPool and ActorVersion 1; the engine Ready, version 1 current with
// its runners registered, and the gateway reachable from this process.
func (s *suite) deployEngine(t *testing.T, host *pgHost) {
	ctx := ctxFor(t, 10*time.Minute)
	if err := s.k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	pgURL := s.deployPostgres(t, host)
	s.adminToken = randomHex(t, 32)
	for name, val := range map[string]string{"rivet-postgres": pgURL, "rivet-admin": s.adminToken} {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: map[string]string{"value": val}}
		if err := s.k.Create(ctx, sec); err != nil {
			t.Fatalf("create Secret %s: %v", name, err)
		}
	}
	engine := &rivetv1.RivetEngine{
		ObjectMeta: metav1.ObjectMeta{Name: engineName, Namespace: ns},
		Spec: rivetv1.RivetEngineSpec{
			Postgres:            rivetv1.PostgresSpec{URLSecretRef: rivetv1.SecretKeyRef{Name: "rivet-postgres", Key: "value"}, MaxConns: 12},
			AdminTokenSecretRef: rivetv1.SecretKeyRef{Name: "rivet-admin", Key: "value"},
			Gateway: rivetv1.GatewaySpec{
				Image:           s.cfg.gatewayImage,
				ImagePullPolicy: s.cfg.pullPolicy,
				Replicas:        ptr.To(int32(2)),
				Resources:       smallRequests,
			},
			Limits: rivetv1.EngineLimits{
				Lease:       &metav1.Duration{Duration: 5 * time.Second},
				WaitTimeout: &metav1.Duration{Duration: 30 * time.Second},
			},
		},
	}
	pool := &rivetv1.RunnerPool{
		ObjectMeta: metav1.ObjectMeta{Name: poolName, Namespace: ns},
		Spec: rivetv1.RunnerPoolSpec{
			EngineRef:   rivetv1.LocalRef{Name: engineName},
			MinReplicas: minRunners,
			MaxReplicas: maxRunners,
			Autoscaling: rivetv1.AutoscalingSpec{
				Mode:                         rivetv1.AutoscalingOperator,
				TargetActorsPerRunner:        initialTarget,
				ScaleUpStabilizationWindow:   &metav1.Duration{},
				ScaleDownStabilizationWindow: &metav1.Duration{Duration: 10 * time.Second},
			},
			Drain: rivetv1.DrainSpec{
				ActorsPerSecond:    20,
				Timeout:            &metav1.Duration{Duration: 30 * time.Second},
				PreStopSeconds:     ptr.To(int32(1)),
				DeleteDrainedAfter: &metav1.Duration{Duration: time.Hour},
			},
			Template: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "runner", Resources: smallRequests}}}},
		},
	}
	for _, o := range []client.Object{engine, pool, s.newVersion(1)} {
		if err := s.k.Create(ctx, o); err != nil {
			s.fatalf(t, "create %T %s: %v", o, o.GetName(), err)
		}
	}
	s.eventually(t, "RivetEngine Ready", 5*time.Minute, func(ctx context.Context) (bool, string, error) {
		e, err := s.getEngine(ctx)
		if err != nil {
			return false, "", err
		}
		return conditionTrue(e.Status.Conditions, rivetv1.ConditionReady),
			condition(e.Status.Conditions, rivetv1.ConditionReady) + "; gateway " + s.podSummary(ctx, ns, "app.kubernetes.io/component=gateway"), nil
	})
	s.eventually(t, "ActorVersion 1 Current with its runners ready", 5*time.Minute, func(ctx context.Context) (bool, string, error) {
		return s.versionServing(ctx, 1, minRunners)
	})
	s.connectGateway(t)
	s.eventually(t, "the gateway to route pool "+poolName+" to version 1 with its runners live", 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		st, err := s.admin.PoolStatus(ctx, poolName)
		if err != nil {
			return false, "", err
		}
		live := st.Versions["1"].LiveRunners
		return fmt.Sprint(st.Ready) == "[1]" && live == minRunners, fmt.Sprintf("ready %v, live runners of v1 %d", st.Ready, live), nil
	})
}

// versionServing: version v is Current, the pool's current version, with
// want ready runner pods.
func (s *suite) versionServing(ctx context.Context, v, want int) (bool, string, error) {
	av, err := s.getVersion(ctx, v)
	if err != nil {
		return false, "", err
	}
	p, err := s.getPool(ctx)
	if err != nil {
		return false, "", err
	}
	pods, err := s.runnerPods(ctx, v, false)
	if err != nil {
		return false, "", err
	}
	ready := countReady(pods)
	status := fmt.Sprintf("v%d phase %q, pool current %d, ready pods %d/%d", v, av.Status.Phase, p.Status.CurrentVersion, ready, want)
	return av.Status.Phase == rivetv1.PhaseCurrent && p.Status.CurrentVersion == int64(v) && ready == want, status, nil
}

// connectGateway sets s.endpoint: the Service's ClusterIP with
// RIVETKUBE_E2E_DIRECT=1, else a local port forwarded to the gateway pods.
func (s *suite) connectGateway(t *testing.T) {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	svc := &corev1.Service{}
	if err := s.k.Get(ctx, objKey(ns, gatewayName), svc); err != nil {
		s.fatalf(t, "gateway Service: %v", err)
	}
	if s.cfg.direct {
		s.endpoint = fmt.Sprintf("http://%s:%d", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port)
	} else {
		remote := svc.Spec.Ports[0].TargetPort.IntValue()
		if remote == 0 {
			remote = 6420 // a named target port ("http"): the gateway container's
		}
		f, err := newForwarder(s, remote, t.Logf)
		if err != nil {
			t.Fatalf("port-forward: %v", err)
		}
		s.fwd = f
		s.endpoint = f.Endpoint()
	}
	s.admin = admin.New(s.endpoint, s.adminToken, nil)
	t.Logf("gateway endpoint for the clients: %s", s.endpoint)
	s.eventually(t, "GET /healthz through "+s.endpoint, time.Minute, func(ctx context.Context) (bool, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, "", err
		}
		resp.Body.Close()
		return resp.StatusCode/100 == 2, resp.Status, nil
	})
}

// deleteRivetObjects deletes the versions, the pool and the engine while
// the operator still runs (an ActorVersion's finalizer drains it first) and
// waits until they are gone.
func (s *suite) deleteRivetObjects(t *testing.T, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, o := range []client.Object{&rivetv1.ActorVersion{}, &rivetv1.RunnerPool{}, &rivetv1.RivetEngine{}} {
		if err := s.k.DeleteAllOf(ctx, o, client.InNamespace(ns)); err != nil && !apierrors.IsNotFound(err) && !isNoKind(err) {
			return fmt.Errorf("delete %T: %w", o, err)
		}
	}
	for {
		left := 0
		for _, l := range []client.ObjectList{&rivetv1.ActorVersionList{}, &rivetv1.RunnerPoolList{}, &rivetv1.RivetEngineList{}} {
			if err := s.k.List(ctx, l, client.InNamespace(ns)); err == nil {
				left += meta.LenList(l)
			}
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d rivetkube objects still there after %v", left, timeout)
		case <-time.After(time.Second):
		}
	}
}

func isNoKind(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "no matches for kind") || strings.Contains(err.Error(), "the server could not find the requested resource"))
}

func (s *suite) deleteNamespace(ctx context.Context, name string) error {
	err := s.k.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// uninstall: delete the engine's objects, the test namespace, helm
// uninstall; then nothing of rivetkube may be left: CRDs (crds.keep=false),
// ClusterRoles and bindings, the release's objects and pods, namespaces.
func (s *suite) uninstall(t *testing.T) {
	s.mu.Lock()
	installed := s.installed
	s.mu.Unlock()
	if !installed {
		t.Skip("nothing was installed")
	}
	s.checkOperatorLogs(t)
	if err := s.deleteRivetObjects(t, 3*time.Minute); err != nil {
		s.fatalf(t, "deleting RivetEngine, RunnerPool and ActorVersions: %v", err)
	}
	if s.fwd != nil {
		s.fwd.Close()
		s.fwd = nil
	}
	s.admin = nil
	ctx := ctxFor(t, 10*time.Minute)
	if err := s.deleteNamespace(ctx, ns); err != nil {
		t.Fatalf("delete namespace %s: %v", ns, err)
	}
	s.eventually(t, "namespace "+ns+" to be gone", 3*time.Minute, func(ctx context.Context) (bool, string, error) {
		g, err := s.gone(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		return g, "still there", err
	})
	out, err := s.helm(ctx, "uninstall", releaseName, "--namespace", systemNS, "--wait", "--timeout", "3m")
	t.Logf("helm uninstall:\n%s", out)
	if err != nil {
		s.fatalf(t, "helm uninstall: %v", err)
	}
	s.mu.Lock()
	s.installed = false
	s.mu.Unlock()

	s.eventually(t, "no rivetkube CRDs", 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		crds, err := s.rivetCRDs(ctx)
		return len(crds) == 0, fmt.Sprintf("CRDs %v", crds), err
	})
	s.eventually(t, "no pods in "+systemNS, 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		var pods corev1.PodList
		err := s.k.List(ctx, &pods, client.InNamespace(systemNS))
		return err == nil && len(pods.Items) == 0, fmt.Sprintf("%d pods", len(pods.Items)), err
	})
	left := s.leftovers(ctx)
	if len(left) > 0 {
		s.fatalf(t, "helm uninstall left objects behind:\n  %s", strings.Join(left, "\n  "))
	}
	if err := s.deleteNamespace(ctx, systemNS); err != nil {
		t.Fatalf("delete namespace %s: %v", systemNS, err)
	}
	s.eventually(t, "namespace "+systemNS+" to be gone", 3*time.Minute, func(ctx context.Context) (bool, string, error) {
		g, err := s.gone(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNS}})
		return g, "still there", err
	})
	if left := s.leftovers(ctx); len(left) > 0 {
		s.fatalf(t, "objects left after deleting the namespaces:\n  %s", strings.Join(left, "\n  "))
	}
	s.mu.Lock()
	s.uninstalled = true
	s.mu.Unlock()
}

// checkOperatorLogs fails t when the operator was refused by the API
// server (missing RBAC shows only in its log: the API server rejects an
// Event, a status write, a list).
func (s *suite) checkOperatorLogs(t *testing.T) {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	pods, err := s.cs.CoreV1().Pods(systemNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=operator"})
	if err != nil {
		t.Errorf("list operator pods: %v", err)
		return
	}
	for _, p := range pods.Items {
		raw, err := s.cs.CoreV1().Pods(systemNS).GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			t.Errorf("operator log of %s: %v", p.Name, err)
			continue
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.Contains(line, "forbidden") {
				t.Errorf("operator %s was refused by the API server (RBAC): %s", p.Name, line)
			}
		}
	}
}

// leftovers lists what of rivetkube is still in the cluster: cluster-wide
// objects labelled part-of=rivetkube or named after the release, and in the
// release's namespace anything but what Kubernetes itself puts there (the
// default ServiceAccount, kube-root-ca.crt) and the operator's
// leader-election Lease (runtime state, not part of the release).
func (s *suite) leftovers(ctx context.Context) []string {
	var left []string
	add := func(kind, name string) { left = append(left, kind+" "+name) }
	part := client.MatchingLabels{partOfLabel: "rivetkube"}
	var crs rbacv1.ClusterRoleList
	if err := s.k.List(ctx, &crs); err == nil {
		for _, o := range crs.Items {
			if o.Labels[partOfLabel] == "rivetkube" || strings.HasPrefix(o.Name, releaseName) {
				add("ClusterRole", o.Name)
			}
		}
	}
	var crbs rbacv1.ClusterRoleBindingList
	if err := s.k.List(ctx, &crbs); err == nil {
		for _, o := range crbs.Items {
			if o.Labels[partOfLabel] == "rivetkube" || strings.HasPrefix(o.Name, releaseName) {
				add("ClusterRoleBinding", o.Name)
			}
		}
	}
	if crds, err := s.rivetCRDs(ctx); err == nil {
		for _, c := range crds {
			add("CustomResourceDefinition", c)
		}
	}
	var pods corev1.PodList
	if err := s.k.List(ctx, &pods, part); err == nil {
		for _, o := range pods.Items {
			add("Pod", o.Namespace+"/"+o.Name)
		}
	}
	var deps appsv1.DeploymentList
	if err := s.k.List(ctx, &deps, part); err == nil {
		for _, o := range deps.Items {
			add("Deployment", o.Namespace+"/"+o.Name)
		}
	}
	var svcs corev1.ServiceList
	if err := s.k.List(ctx, &svcs, part); err == nil {
		for _, o := range svcs.Items {
			add("Service", o.Namespace+"/"+o.Name)
		}
	}
	var nss corev1.NamespaceList
	if err := s.k.List(ctx, &nss); err == nil {
		for _, o := range nss.Items {
			if o.Name == ns {
				add("Namespace", o.Name)
			}
		}
	}
	// The release namespace, while it exists.
	in := client.InNamespace(systemNS)
	var sas corev1.ServiceAccountList
	if err := s.k.List(ctx, &sas, in); err == nil {
		for _, o := range sas.Items {
			if o.Name != "default" {
				add("ServiceAccount", systemNS+"/"+o.Name)
			}
		}
	}
	var cms corev1.ConfigMapList
	if err := s.k.List(ctx, &cms, in); err == nil {
		for _, o := range cms.Items {
			if o.Name != "kube-root-ca.crt" {
				add("ConfigMap", systemNS+"/"+o.Name)
			}
		}
	}
	var secs corev1.SecretList
	if err := s.k.List(ctx, &secs, in); err == nil {
		for _, o := range secs.Items {
			add("Secret", systemNS+"/"+o.Name)
		}
	}
	var roles rbacv1.RoleList
	if err := s.k.List(ctx, &roles, in); err == nil {
		for _, o := range roles.Items {
			add("Role", systemNS+"/"+o.Name)
		}
	}
	var rbs rbacv1.RoleBindingList
	if err := s.k.List(ctx, &rbs, in); err == nil {
		for _, o := range rbs.Items {
			add("RoleBinding", systemNS+"/"+o.Name)
		}
	}
	var nsSvcs corev1.ServiceList
	if err := s.k.List(ctx, &nsSvcs, in); err == nil {
		for _, o := range nsSvcs.Items {
			if o.Labels[partOfLabel] != "rivetkube" {
				add("Service", systemNS+"/"+o.Name)
			}
		}
	}
	return left
}

// teardown removes what a failed or interrupted run left, best effort;
// with RIVETKUBE_E2E_KEEP=1 a failed run's objects stay for inspection.
func (s *suite) teardown(t *testing.T) {
	if s.fwd != nil {
		s.fwd.Close()
	}
	s.mu.Lock()
	done, installed := s.uninstalled, s.installed
	s.mu.Unlock()
	if done {
		return
	}
	if s.cfg.keep && t.Failed() {
		t.Logf("RIVETKUBE_E2E_KEEP=1: leaving namespaces %s and %s and the release %s in place", ns, systemNS, releaseName)
		return
	}
	t.Log("teardown: removing what the suite created")
	if err := s.deleteRivetObjects(t, 2*time.Minute); err != nil {
		t.Logf("teardown: %v; removing finalizers", err)
		s.dropFinalizers()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if installed {
		out, err := s.helm(ctx, "uninstall", releaseName, "--namespace", systemNS, "--wait", "--timeout", "2m")
		if err != nil {
			t.Logf("teardown: helm uninstall: %v\n%s", err, out)
		}
	}
	for _, n := range []string{ns, systemNS} {
		if err := s.deleteNamespace(ctx, n); err != nil {
			t.Logf("teardown: delete namespace %s: %v", n, err)
		}
	}
	for _, n := range []string{ns, systemNS} {
		for ctx.Err() == nil {
			if g, _ := s.gone(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); g {
				break
			}
			time.Sleep(time.Second)
		}
	}
	if crds, _ := s.rivetCRDs(ctx); len(crds) > 0 {
		for _, c := range crds {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
			u.SetName(c)
			_ = s.k.Delete(ctx, u)
		}
	}
}

// dropFinalizers lets rivetkube objects go when no operator can finish them.
func (s *suite) dropFinalizers() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var avs rivetv1.ActorVersionList
	if err := s.k.List(ctx, &avs, client.InNamespace(ns)); err == nil {
		for i := range avs.Items {
			a := &avs.Items[i]
			patch := client.MergeFrom(a.DeepCopy())
			a.Finalizers = nil
			_ = s.k.Patch(ctx, a, patch)
		}
	}
}
