package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
	"github.com/rivetkube/rivetkube/controllers/plan"
	"github.com/rivetkube/rivetkube/internal/admin"
)

// RunnerPoolReconciler plans a pool's rollout (plan.Plan) and executes it:
// it tells the gateway which versions are ready and draining, reads drain
// progress and actor counts back, autoscales the current version (draining
// a victim runner before it removes one), deletes drained versions after
// the pool's delay, and records the plan of every version in the pool's
// status, which the ActorVersion reconciler applies to the Deployments.
type RunnerPoolReconciler struct {
	base
	recs *recommendations
}

// +kubebuilder:rbac:groups=rivetkube.dev,resources=runnerpools,verbs=get;list;watch
// +kubebuilder:rbac:groups=rivetkube.dev,resources=runnerpools/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=rivetkube.dev,resources=actorversions,verbs=delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;patch

// Reconcile plans and executes one step of a pool's rollout.
func (r *RunnerPoolReconciler) Reconcile(ctx context.Context, req reconcile.Request) (res reconcile.Result, err error) {
	// The pool's status is the planner's memory (the last plan, the victim
	// in progress): read it fresh, not from a cache that may lag behind the
	// previous pass's write.
	pool := &rivetv1.RunnerPool{}
	if err := r.APIReader.Get(ctx, req.NamespacedName, pool); err != nil {
		if apierrors.IsNotFound(err) {
			r.recs.forget(req.NamespacedName)
			forgetMetrics(req.Namespace, req.Name)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !pool.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	before := pool.DeepCopy()
	defer func() {
		if perr := patchStatus(ctx, r.Client, r.Recorder, before, pool); perr != nil {
			err = errors.Join(err, perr)
		}
	}()
	return r.reconcile(ctx, pool)
}

func (r *RunnerPoolReconciler) reconcile(ctx context.Context, pool *rivetv1.RunnerPool) (reconcile.Result, error) {
	log := logf.FromContext(ctx)
	if pool.Status.Selector == "" {
		pool.Status.Selector = labels.SelectorFromSet(labels.Set{LabelPool: pool.Name, LabelName: "rivet-runner"}).String()
	}

	engine := &rivetv1.RivetEngine{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: pool.Spec.EngineRef.Name}, engine); err != nil {
		if apierrors.IsNotFound(err) {
			msg := fmt.Sprintf("RivetEngine %s does not exist", pool.Spec.EngineRef.Name)
			setCondition(pool, rivetv1.ConditionDegraded, true, "EngineNotFound", msg)
			setCondition(pool, rivetv1.ConditionReady, false, "EngineNotFound", msg)
			setCondition(pool, rivetv1.ConditionProgressing, false, "EngineNotFound", msg)
			return reconcile.Result{}, nil // the engine's creation wakes us
		}
		return reconcile.Result{}, err
	}

	// Observe.
	d, o, err := r.observe(ctx, pool)
	if err != nil {
		return reconcile.Result{}, err
	}
	var gwErr error
	var ac *admin.Client
	starting, err := r.gatewayStarting(ctx, engine)
	if err != nil {
		return reconcile.Result{}, err
	}
	if starting == "" {
		ac, err = r.adminClient(ctx, engine)
		if err == nil {
			var st admin.PoolStatus
			st, err = ac.PoolStatus(ctx, pool.Name)
			if err == nil {
				o.Gateway = gatewayView(st)
			}
		}
		gwErr = err
		if gwErr != nil {
			gatewayErrors.WithLabelValues(pool.Namespace, pool.Name).Inc()
		}
	}
	key := client.ObjectKeyFromObject(pool)
	o.Recommendations = r.recs.get(key)

	// Plan.
	p := plan.Plan(d, o)
	r.recs.set(key, p.Recommendations)

	// Execute: routing first (it is what makes a version current or
	// draining), then the autoscaler's victim, then deletions.
	var execErr error
	if p.Routing != nil && ac != nil && o.Gateway != nil {
		rt := admin.Routing{Ready: toUint(p.Routing.Ready), Draining: toUint(p.Routing.Draining), DrainRate: p.Routing.DrainRate, Ramp: adminRamp(p.Routing.Ramp)}
		if _, err := ac.SetRouting(ctx, pool.Name, rt); err != nil {
			execErr = errors.Join(execErr, fmt.Errorf("set routing: %w", err))
		} else {
			log.Info("gateway routing set", "ready", p.Routing.Ready, "draining", p.Routing.Draining, "ramp", p.Routing.Ramp)
			r.Recorder.Eventf(pool, nil, "Normal", "RoutingChanged", "Route", "new actors go to %v; draining %v", p.Routing.Ready, p.Routing.Draining)
		}
	}
	scaleErr := r.executeScale(ctx, pool, ac, &p)
	execErr = errors.Join(execErr, scaleErr)
	for _, vp := range p.Versions {
		if !vp.Delete {
			continue
		}
		av := &rivetv1.ActorVersion{ObjectMeta: metav1.ObjectMeta{Namespace: pool.Namespace, Name: vp.Name}}
		if err := r.Delete(ctx, av); err != nil && !apierrors.IsNotFound(err) {
			execErr = errors.Join(execErr, fmt.Errorf("delete drained version %s: %w", vp.Name, err))
			continue
		}
		log.Info("drained version deleted", "version", vp.Version)
		r.Recorder.Eventf(pool, nil, "Normal", "VersionDeleted", "Delete", "version %d was drained for %s; deleted", vp.Version, durationOr(pool.Spec.Drain.DeleteDrainedAfter, "10m"))
	}

	r.recordPlan(pool, o, p)
	r.recordRollout(pool, d, o, p)
	recordMetrics(pool)
	switch {
	case starting != "":
		setCondition(pool, rivetv1.ConditionDegraded, false, "GatewayStarting", starting)
	case gwErr != nil:
		setCondition(pool, rivetv1.ConditionDegraded, true, "GatewayUnreachable", gwErr.Error())
	case execErr != nil:
		setCondition(pool, rivetv1.ConditionDegraded, true, "GatewayError", execErr.Error())
	case rejected(p) != "":
		setCondition(pool, rivetv1.ConditionDegraded, true, "VersionRejected", rejected(p))
	default:
		setCondition(pool, rivetv1.ConditionDegraded, false, "AsExpected", "")
	}
	if execErr != nil {
		return reconcile.Result{}, execErr
	}
	pool.Status.ObservedGeneration = pool.Generation
	res := reconcile.Result{RequeueAfter: p.RequeueAfter}
	if starting != "" && (res.RequeueAfter <= 0 || res.RequeueAfter > serviceSettle) {
		res.RequeueAfter = serviceSettle
	}
	return res, nil
}

// serviceSettle is how old the engine's gateway Service must be before the
// first admin call of a pool.
//
// Decision: wait for the Service, and give cluster DNS time to learn it. A
// pool created together with its engine would otherwise look the gateway's
// name up before the Service exists (or before CoreDNS's watch has seen
// it), and cluster DNS caches that NXDOMAIN (30 s with kubeadm's CoreDNS
// settings): the pool became Ready about 30 s late on a real cluster. The
// gateway is not serving within the first seconds of its Service anyway.
const serviceSettle = 3 * time.Second

// gatewayStarting says why the pool must not call the engine's admin API
// yet ("" when it may): its gateway Service does not exist or is younger
// than serviceSettle. A test's GatewayURLOverride bypasses cluster DNS, so
// it only needs the Service to exist.
func (r *RunnerPoolReconciler) gatewayStarting(ctx context.Context, engine *rivetv1.RivetEngine) (string, error) {
	svc := &corev1.Service{}
	err := r.Get(ctx, types.NamespacedName{Namespace: engine.Namespace, Name: GatewayName(engine)}, svc)
	if apierrors.IsNotFound(err) {
		return fmt.Sprintf("waiting for the gateway Service %s of RivetEngine %s", GatewayName(engine), engine.Name), nil
	}
	if err != nil {
		return "", fmt.Errorf("read gateway service: %w", err)
	}
	if r.Opts.GatewayURLOverride == nil {
		if age := time.Since(svc.CreationTimestamp.Time); age < serviceSettle {
			return fmt.Sprintf("the gateway Service %s is %s old; cluster DNS gets %s to learn it", svc.Name, age.Round(time.Second), serviceSettle), nil
		}
	}
	return "", nil
}

// observe gathers the planner's input from the cluster.
func (r *RunnerPoolReconciler) observe(ctx context.Context, pool *rivetv1.RunnerPool) (plan.Desired, plan.Observed, error) {
	s, as, dr := pool.Spec, pool.Spec.Autoscaling, pool.Spec.Drain
	d := plan.Desired{
		Mode:                  plan.Mode(orDefault(as.Mode, rivetv1.AutoscalingOperator)),
		ExternalReplicas:      s.Replicas,
		MinReplicas:           s.MinReplicas,
		MaxReplicas:           max(s.MaxReplicas, s.MinReplicas),
		TargetActorsPerRunner: orDefault(as.TargetActorsPerRunner, 100),
		ScaleUpWindow:         dur(as.ScaleUpStabilizationWindow, 0),
		ScaleDownWindow:       dur(as.ScaleDownStabilizationWindow, 5*time.Minute),
		ScaleToZeroAfter:      scaleToZeroAfter(pool),
		DrainRate:             float64(orDefault(dr.ActorsPerSecond, 50)),
		DrainTimeout:          time.Duration(drainTimeoutSeconds(pool)) * time.Second,
		DeleteDrainedAfter:    dur(dr.DeleteDrainedAfter, 10*time.Minute),
		ActivePoll:            r.Opts.ActivePoll,
		IdlePoll:              r.Opts.IdlePoll,
		Rollout:               rolloutSpec(s.Rollout),
	}
	var avs rivetv1.ActorVersionList
	if err := r.List(ctx, &avs, client.InNamespace(pool.Namespace), client.MatchingFields{indexVersionPool: pool.Name}); err != nil {
		return d, plan.Observed{}, fmt.Errorf("list versions: %w", err)
	}
	for _, av := range avs.Items {
		d.Versions = append(d.Versions, plan.Version{
			Name: av.Name, Version: av.Spec.Version, Created: av.CreationTimestamp.Time, Deleting: !av.DeletionTimestamp.IsZero(),
		})
	}
	o := plan.Observed{Now: time.Now(), LatestVersion: pool.Status.LatestVersion, Deployments: map[int64]plan.Deployment{}, Rollout: rolloutState(pool.Status.Rollout), LastActive: lastActive(pool)}
	for _, v := range pool.Status.Versions {
		o.Previous = append(o.Previous, plan.VersionState{
			Name: v.Name, Version: v.Version, Phase: plan.Phase(v.Phase), Rejected: v.Rejected, Replicas: v.Replicas,
			DrainStartedAt: timePtr(v.DrainStartedAt), DrainedAt: timePtr(v.DrainedAt),
		})
	}
	if sd := pool.Status.ScaleDown; sd != nil {
		o.ScaleDown = &plan.ScaleDown{Version: sd.Version, Pod: sd.Pod, RunnerID: sd.RunnerID, StartedAt: sd.StartedAt.Time}
	}
	var deps appsv1.DeploymentList
	if err := r.List(ctx, &deps, client.InNamespace(pool.Namespace), client.MatchingLabels{LabelPool: pool.Name, LabelName: "rivet-runner"}); err != nil {
		return d, o, fmt.Errorf("list deployments: %w", err)
	}
	for _, dep := range deps.Items {
		v, err := strconv.ParseInt(dep.Labels[LabelRunnerVersion], 10, 64)
		if err != nil || !metav1.IsControlledBy(&dep, ownerOf(avs.Items, v)) {
			continue
		}
		want := ptr.Deref(dep.Spec.Replicas, 1)
		o.Deployments[v] = plan.Deployment{
			Replicas: want, Available: dep.Status.AvailableReplicas, Pods: dep.Status.Replicas,
			Updated: dep.Status.ObservedGeneration >= dep.Generation && dep.Status.UpdatedReplicas >= want,
		}
	}
	var pods corev1.PodList // fresh too: deletion-cost marks must be seen
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(pool.Namespace), client.MatchingLabels{LabelPool: pool.Name, LabelName: "rivet-runner"}); err != nil {
		return d, o, fmt.Errorf("list pods: %w", err)
	}
	for _, pod := range pods.Items {
		v, err := strconv.ParseInt(pod.Labels[LabelRunnerVersion], 10, 64)
		if err != nil {
			continue
		}
		o.Pods = append(o.Pods, plan.Pod{
			Name: pod.Name, Version: v, Address: podRunnerAddress(&pod), Ready: podReady(&pod), Deleting: !pod.DeletionTimestamp.IsZero(),
			MarkedForRemoval: pod.Annotations[AnnotationPodDeletionCost] == victimDeletionCost, CrashLooping: crashLooping(&pod),
		})
	}
	return d, o, nil
}

// ownerOf returns the ActorVersion of version v (an empty object when none,
// which owns nothing).
func ownerOf(avs []rivetv1.ActorVersion, v int64) *rivetv1.ActorVersion {
	for i := range avs {
		if avs[i].Spec.Version == v {
			return &avs[i]
		}
	}
	return &rivetv1.ActorVersion{}
}

// recordPlan writes the plan into the pool's status and emits an event per
// version phase change.
func (r *RunnerPoolReconciler) recordPlan(pool *rivetv1.RunnerPool, o plan.Observed, p plan.Result) {
	old := map[int64]rivetv1.ActorVersionPhase{}
	for _, v := range pool.Status.Versions {
		old[v.Version] = v.Phase
	}
	pool.Status.Versions = pool.Status.Versions[:0:0]
	for _, vp := range p.Versions {
		e := rivetv1.PoolVersionStatus{
			Version: vp.Version, Name: vp.Name, Phase: rivetv1.ActorVersionPhase(vp.Phase), Rejected: vp.Rejected,
			Replicas: vp.Replicas, Runners: vp.Runners, Actors: vp.Actors, Message: truncate(vp.Message, 1024),
			DrainStartedAt: metaTime(vp.DrainStartedAt), DrainedAt: metaTime(vp.DrainedAt),
		}
		if dep, ok := o.Deployments[vp.Version]; ok && !vp.Rejected {
			e.AvailableReplicas = dep.Available
		}
		if vp.Rejected {
			e.Version, e.Replicas = vp.Version, 0
		}
		if !vp.Rejected && old[vp.Version] != e.Phase {
			r.Recorder.Eventf(pool, nil, "Normal", "Version"+string(e.Phase), "Plan", "version %d (%s) is %s", vp.Version, vp.Name, e.Phase)
		}
		pool.Status.Versions = append(pool.Status.Versions, e)
	}
	// Two objects may claim one version (one rejected): keep the list a map
	// on version by listing only the accepted one.
	pool.Status.Versions = dedupeVersions(pool.Status.Versions)
	pool.Status.CurrentVersion = p.Current
	pool.Status.LatestVersion = p.LatestVersion
	pool.Status.DesiredReplicas = p.DesiredReplicas
	// The /scale view is the current version: its pods and a selector
	// for them (an HPA averaging metrics over draining runners would
	// scale on load that is leaving).
	pool.Status.Replicas = 0
	if cur, ok := o.Deployments[p.Current]; ok {
		pool.Status.Replicas = cur.Pods
	}
	sel := labels.Set{LabelPool: pool.Name, LabelName: "rivet-runner"}
	if p.Current != 0 {
		sel[LabelRunnerVersion] = strconv.FormatInt(p.Current, 10)
	}
	pool.Status.Selector = labels.SelectorFromSet(sel).String()
	if o.Gateway != nil {
		pool.Status.Actors = int32(min(o.Gateway.Actors, 1<<31-1))
	}
	pool.Status.ScaleDown = nil
	if sd := p.ScaleDown; sd != nil {
		pool.Status.ScaleDown = &rivetv1.ScaleDownStatus{Version: sd.Version, Pod: sd.Pod, RunnerID: sd.RunnerID, StartedAt: metav1.NewTime(sd.StartedAt)}
	}
	cur, ok := o.Deployments[p.Current]
	switch {
	case p.Current != 0 && ok && cur.Available > 0:
		setCondition(pool, rivetv1.ConditionReady, true, "CurrentAvailable", fmt.Sprintf("version %d serves with %d runners", p.Current, cur.Available))
	case p.Current != 0:
		setCondition(pool, rivetv1.ConditionReady, false, "CurrentUnavailable", fmt.Sprintf("version %d has no available runner", p.Current))
	default:
		setCondition(pool, rivetv1.ConditionReady, false, "NoVersion", "no ActorVersion is available yet")
	}
	r.recordZero(pool, o, p)
	if p.Progressing {
		setCondition(pool, rivetv1.ConditionProgressing, true, "RollingOut", orDefault(p.Waiting, "applying the plan"))
	} else {
		setCondition(pool, rivetv1.ConditionProgressing, false, "Settled", "every version is where the plan wants it")
	}
}

func dedupeVersions(in []rivetv1.PoolVersionStatus) []rivetv1.PoolVersionStatus {
	out := in[:0]
	for _, e := range in {
		i := slices.IndexFunc(out, func(x rivetv1.PoolVersionStatus) bool { return x.Version == e.Version })
		switch {
		case i < 0:
			out = append(out, e)
		case out[i].Rejected && !e.Rejected:
			out[i] = e
		}
	}
	return out
}

func rejected(p plan.Result) string {
	for _, vp := range p.Versions {
		if vp.Rejected {
			return fmt.Sprintf("ActorVersion %s: %s", vp.Name, vp.Message)
		}
	}
	return ""
}

// gatewayView converts the admin API's pool status for the planner.
func gatewayView(st admin.PoolStatus) *plan.Gateway {
	g := &plan.Gateway{
		Ready: toInt(st.Ready), Draining: toInt(st.Draining), DrainRate: st.DrainRate, Ramp: planRamp(st.Ramp), Actors: st.Actors,
		Versions: map[int64]plan.GatewayVersion{}, SinceDemand: sinceDemand(st),
	}
	for k, v := range st.Versions {
		n, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			continue
		}
		g.Versions[n] = plan.GatewayVersion{Runners: v.Runners, LiveRunners: v.LiveRunners, Actors: v.Actors, Calls: v.Calls, FailedCalls: v.FailedCalls}
	}
	for _, rn := range st.Runners {
		g.Runners = append(g.Runners, plan.Runner{
			ID: rn.ID, Version: int64(rn.Version), Address: rn.Address, Alive: rn.Alive, Draining: rn.Draining, Actors: rn.Actors,
		})
	}
	return g
}

// podRunnerAddress is the address the pod's runner registers: its IP and
// the container port named "runner".
func podRunnerAddress(pod *corev1.Pod) string {
	if pod.Status.PodIP == "" {
		return ""
	}
	port := int32(RunnerPort)
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == "runner" {
				port = p.ContainerPort
			}
		}
	}
	return net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(port)))
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func toUint(v []int64) []uint64 {
	out := make([]uint64, 0, len(v))
	for _, x := range v {
		out = append(out, uint64(x))
	}
	return out
}

func toInt(v []uint64) []int64 {
	out := make([]int64, 0, len(v))
	for _, x := range v {
		out = append(out, int64(x))
	}
	return out
}

func dur(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

func timePtr(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.Time
	return &v
}

func metaTime(t *time.Time) *metav1.Time {
	if t == nil {
		return nil
	}
	v := metav1.NewTime(*t)
	return &v
}

// recommendations is the autoscaler's history per pool, kept in memory
// like the HorizontalPodAutoscaler's (a new leader starts afresh).
type recommendations struct {
	mu sync.Mutex
	m  map[types.NamespacedName][]plan.Recommendation
}

func newRecommendations() *recommendations {
	return &recommendations{m: map[types.NamespacedName][]plan.Recommendation{}}
}

func (r *recommendations) get(k types.NamespacedName) []plan.Recommendation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.m[k])
}

func (r *recommendations) set(k types.NamespacedName, v []plan.Recommendation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[k] = v
}

func (r *recommendations) forget(k types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, k)
}

// SetupWithManager registers the reconciler: pools, their versions and
// runner Deployments, and their engines.
func (r *RunnerPoolReconciler) SetupWithManager(mgr manager.Manager) error {
	return ctrl.ControllerManagedBy(mgr).
		For(&rivetv1.RunnerPool{}).
		Watches(&rivetv1.ActorVersion{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			av := o.(*rivetv1.ActorVersion)
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: av.Namespace, Name: av.Spec.PoolRef.Name}}}
		})).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			pool, ok := o.GetLabels()[LabelPool]
			if !ok {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: pool}}}
		})).
		Watches(&rivetv1.RivetEngine{}, handler.EnqueueRequestsFromMapFunc(r.poolsOfEngine)).
		Named("runnerpool").
		WithOptions(controller.Options{SkipNameValidation: &r.Opts.SkipNameValidation}).
		Complete(r)
}

func (r *RunnerPoolReconciler) poolsOfEngine(ctx context.Context, o client.Object) []reconcile.Request {
	var list rivetv1.RunnerPoolList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexPoolEngine: o.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, p := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)})
	}
	return reqs
}
