package controller

import (
	"context"
	"fmt"
	"net/http"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// fieldOwner is the server-side apply field manager of the operator.
const fieldOwner = client.FieldOwner("rivetkube-operator")

// Options configure the reconcilers.
type Options struct {
	// GatewayURLOverride, when set and returning a non-empty URL, is where
	// the operator reaches an engine's admin API instead of the engine's
	// in-cluster Service. Tests point it at a gateway process; it also
	// serves an operator run outside the cluster.
	GatewayURLOverride func(*rivetv1.RivetEngine) string
	// HTTPClient calls the admin API (default: 10 s timeout).
	HTTPClient *http.Client
	// ActivePoll is how often a pool is planned again while something
	// moves (default 2 s); IdlePoll in steady state (default 15 s), so the
	// autoscaler sees actor counts, which change without Kubernetes events.
	ActivePoll, IdlePoll time.Duration
	// SkipNameValidation allows several managers in one process (tests).
	SkipNameValidation bool
}

func (o *Options) defaults() {
	if o.HTTPClient == nil {
		// Decision: a new connection per admin call. The calls are rare
		// (a few per pool every ActivePoll), and a kept-alive connection
		// can outlive the path it was dialled on: a call made before
		// kube-proxy had programmed a new Service's address left by the
		// node's default route, something there answered 404, and the
		// connection stayed on it, so the engine stayed Degraded for
		// minutes (seen on a real cluster). A fresh dial takes the
		// Service's current rules every time.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DisableKeepAlives = true
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: tr}
	}
	if o.ActivePoll <= 0 {
		o.ActivePoll = 2 * time.Second
	}
	if o.IdlePoll <= 0 {
		o.IdlePoll = 15 * time.Second
	}
}

// CacheOptions limits the manager's cache to what the operator manages:
// Deployments, Services and ConfigMaps are cached only when they carry the
// operator's label (pods and Secrets are read uncached, never watched). A
// non-empty namespace limits the cache to it.
func CacheOptions(namespace string) cache.Options {
	managed := labels.SelectorFromSet(labels.Set{LabelManagedBy: managedBy})
	o := cache.Options{ByObject: map[client.Object]cache.ByObject{
		&appsv1.Deployment{}: {Label: managed},
		&corev1.Service{}:    {Label: managed},
		&corev1.ConfigMap{}:  {Label: managed},
	}}
	if namespace != "" {
		o.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	return o
}

// Index keys of the field indexers.
const (
	indexPoolEngine  = ".spec.engineRef.name"
	indexVersionPool = ".spec.poolRef.name"
)

// Setup registers the field indexes and the three reconcilers with mgr.
func Setup(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	opts.defaults()
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &rivetv1.RunnerPool{}, indexPoolEngine, func(o client.Object) []string {
		return []string{o.(*rivetv1.RunnerPool).Spec.EngineRef.Name}
	}); err != nil {
		return fmt.Errorf("index pools by engine: %w", err)
	}
	if err := idx.IndexField(ctx, &rivetv1.ActorVersion{}, indexVersionPool, func(o client.Object) []string {
		return []string{o.(*rivetv1.ActorVersion).Spec.PoolRef.Name}
	}); err != nil {
		return fmt.Errorf("index versions by pool: %w", err)
	}
	base := base{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(), Opts: opts,
	}
	engines := &RivetEngineReconciler{base: base}
	engines.Recorder = mgr.GetEventRecorder("rivetengine-controller")
	if err := engines.SetupWithManager(mgr); err != nil {
		return err
	}
	pools := &RunnerPoolReconciler{base: base, recs: newRecommendations()}
	pools.Recorder = mgr.GetEventRecorder("runnerpool-controller")
	if err := pools.SetupWithManager(mgr); err != nil {
		return err
	}
	versions := &ActorVersionReconciler{base: base}
	versions.Recorder = mgr.GetEventRecorder("actorversion-controller")
	return versions.SetupWithManager(mgr)
}

// base is what every reconciler needs.
type base struct {
	client.Client
	// APIReader reads Secrets uncached, so the operator needs only "get" on
	// them and keeps no Secret in memory.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	Opts      Options
}

// apply server-side applies obj (a typed object holding only the fields
// the operator owns) with the operator's field manager.
func (b *base) apply(ctx context.Context, obj client.Object) error {
	gvk, err := apiutil.GVKForObject(obj, b.Scheme)
	if err != nil {
		return err
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return fmt.Errorf("convert %s: %w", gvk.Kind, err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	delete(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	if err := b.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), fieldOwner, client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	return nil
}
