package controller

import (
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

func TestRivetEngineCreatesGateway(t *testing.T) {
	e := newEnv(t)
	en := e.engine("eng")
	en.Spec.RunnerTokenSecretRef = nil // the operator generates one
	e.create(en)

	// Children: ConfigMap, Deployment with the migration init container,
	// Service, generated runner token.
	e.waitFor("gateway deployment and service", 20*time.Second, func() (bool, string) {
		var svc corev1.Service
		return e.deployment("eng-gateway") != nil && k8sClient.Get(e.ctx, e.key("eng-gateway"), &svc) == nil, "absent"
	})
	d := e.deployment("eng-gateway")
	if !metav1.IsControlledBy(d, e.getEngine("eng")) {
		t.Errorf("deployment owner refs = %+v", d.OwnerReferences)
	}
	if d.Labels[LabelName] != "rivet-gateway" || d.Labels[LabelInstance] != "eng" || d.Labels[LabelManagedBy] != "rivetkube-operator" {
		t.Errorf("deployment labels = %v", d.Labels)
	}
	spec := d.Spec.Template.Spec
	if len(spec.InitContainers) != 1 || !slices.Equal(spec.InitContainers[0].Args, []string{"migrate"}) || spec.InitContainers[0].Image != "rivetkube/gateway:test" {
		t.Errorf("init containers = %+v, want the migration", spec.InitContainers)
	}
	gw := spec.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, v := range gw.Env {
		env[v.Name] = v
	}
	if ref := env["RIVETKUBE_POSTGRES_URL"].ValueFrom; ref == nil || ref.SecretKeyRef.Name != "pg" || ref.SecretKeyRef.Key != "url" {
		t.Errorf("postgres env = %+v", env["RIVETKUBE_POSTGRES_URL"])
	}
	if ref := env["RIVETKUBE_ADMIN_TOKEN"].ValueFrom; ref == nil || ref.SecretKeyRef.Name != "admin" {
		t.Errorf("admin token env = %+v", env["RIVETKUBE_ADMIN_TOKEN"])
	}
	if ref := env["RIVETKUBE_RUNNER_TOKEN"].ValueFrom; ref == nil || ref.SecretKeyRef.Name != "eng-runner-token" {
		t.Errorf("runner token env = %+v", env["RIVETKUBE_RUNNER_TOKEN"])
	}
	if gw.ReadinessProbe == nil || gw.ReadinessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("readiness probe = %+v", gw.ReadinessProbe)
	}
	var cm corev1.ConfigMap
	if err := k8sClient.Get(e.ctx, e.key("eng-gateway"), &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Data["RIVETKUBE_LEASE"] != "5s" || cm.Data["RIVETKUBE_WAIT_TIMEOUT"] != "30s" || cm.Data["RIVETKUBE_LOG_FORMAT"] != "json" {
		t.Errorf("config = %v", cm.Data)
	}
	var svc corev1.Service
	if err := k8sClient.Get(e.ctx, e.key("eng-gateway"), &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.Ports[0].Port != 6420 || svc.Spec.Selector[LabelInstance] != "eng" {
		t.Errorf("service = %+v", svc.Spec)
	}
	var tok corev1.Secret
	if err := k8sClient.Get(e.ctx, e.key("eng-runner-token"), &tok); err != nil || len(tok.Data["token"]) < 32 {
		t.Errorf("runner token secret: %v %d bytes", err, len(tok.Data["token"]))
	}

	// Not ready until a gateway replica is available.
	e.waitFor("status", 10*time.Second, func() (bool, string) {
		en := e.getEngine("eng")
		c := meta.FindStatusCondition(en.Status.Conditions, rivetv1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && en.Status.Endpoint == "http://eng-gateway."+e.ns+".svc:6420", condString(en.Status.Conditions)
	})
	e.makeAvailable("eng-gateway")
	e.waitFor("engine ready", 10*time.Second, func() (bool, string) {
		en := e.getEngine("eng")
		return meta.IsStatusConditionTrue(en.Status.Conditions, rivetv1.ConditionReady) &&
			meta.IsStatusConditionFalse(en.Status.Conditions, rivetv1.ConditionProgressing) &&
			meta.IsStatusConditionFalse(en.Status.Conditions, rivetv1.ConditionDegraded) &&
			en.Status.ObservedGeneration == en.Generation && en.Status.ReadyReplicas == 1, condString(en.Status.Conditions)
	})

	// A configuration change rolls the pods (new config hash).
	hash := e.deployment("eng-gateway").Spec.Template.Annotations[AnnotationConfigHash]
	en = e.getEngine("eng")
	patch := client.MergeFrom(en.DeepCopy())
	en.Spec.Limits.Lease = &metav1.Duration{Duration: 3 * time.Second}
	if err := k8sClient.Patch(e.ctx, en, patch); err != nil {
		t.Fatal(err)
	}
	e.waitFor("rolled config", 10*time.Second, func() (bool, string) {
		h := e.deployment("eng-gateway").Spec.Template.Annotations[AnnotationConfigHash]
		return h != hash, h
	})

	e.assertIdempotent()
}

func TestRivetEngineMissingSecretIsDegraded(t *testing.T) {
	e := newEnv(t)
	en := e.engine("nosecret")
	en.Spec.Postgres.URLSecretRef.Name = "missing"
	e.create(en)
	e.waitFor("degraded", 10*time.Second, func() (bool, string) {
		en := e.getEngine("nosecret")
		c := meta.FindStatusCondition(en.Status.Conditions, rivetv1.ConditionDegraded)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == "SecretNotFound", condString(en.Status.Conditions)
	})
	if e.deployment("nosecret-gateway") != nil {
		t.Fatal("gateway deployed without its PostgreSQL secret")
	}
}

func (e *env) getEngine(name string) *rivetv1.RivetEngine {
	e.t.Helper()
	en := &rivetv1.RivetEngine{}
	if err := k8sClient.Get(e.ctx, e.key(name), en); err != nil {
		e.t.Fatal(err)
	}
	return en
}

func condString(cs []metav1.Condition) string {
	s := ""
	for _, c := range cs {
		s += c.Type + "=" + string(c.Status) + "(" + c.Reason + ": " + c.Message + ") "
	}
	return s
}

// assertIdempotent runs every reconciler once more on every object of the
// namespace and checks that no object changed (resourceVersions equal).
func (e *env) assertIdempotent() {
	e.t.Helper()
	snapshot := func() map[string]string {
		out := map[string]string{}
		lists := []client.ObjectList{
			&rivetv1.RivetEngineList{}, &rivetv1.RunnerPoolList{}, &rivetv1.ActorVersionList{},
			&appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.ConfigMapList{}, &corev1.SecretList{},
		}
		for _, l := range lists {
			if err := k8sClient.List(e.ctx, l, client.InNamespace(e.ns)); err != nil {
				e.t.Fatal(err)
			}
			items, _ := meta.ExtractList(l)
			for _, it := range items {
				o := it.(client.Object)
				out[l.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName()+" "+typeName(l)] = o.GetResourceVersion()
			}
		}
		return out
	}
	// Let the manager's own passes settle first.
	var before map[string]string
	e.waitFor("a quiet second", 30*time.Second, func() (bool, string) {
		a := snapshot()
		time.Sleep(time.Second)
		b := snapshot()
		before = b
		return mapsEqual(a, b), "objects still changing"
	})
	var engines rivetv1.RivetEngineList
	var pools rivetv1.RunnerPoolList
	var versions rivetv1.ActorVersionList
	for _, l := range []client.ObjectList{&engines, &pools, &versions} {
		if err := k8sClient.List(e.ctx, l, client.InNamespace(e.ns)); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, o := range engines.Items {
		if _, err := e.rec.engine.Reconcile(e.ctx, reqFor(&o)); err != nil {
			e.t.Fatalf("second engine pass: %v", err)
		}
	}
	for _, o := range pools.Items {
		if _, err := e.rec.pool.Reconcile(e.ctx, reqFor(&o)); err != nil {
			e.t.Fatalf("second pool pass: %v", err)
		}
	}
	for _, o := range versions.Items {
		if _, err := e.rec.version.Reconcile(e.ctx, reqFor(&o)); err != nil {
			e.t.Fatalf("second version pass: %v", err)
		}
	}
	after := snapshot()
	for k, v := range before {
		if after[k] != v {
			e.t.Errorf("a second reconcile pass changed %s (resourceVersion %s → %s)", k, v, after[k])
		}
	}
}
