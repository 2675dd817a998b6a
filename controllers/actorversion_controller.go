package controller

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// ActorVersionReconciler gives each ActorVersion its runner Deployment,
// with the replicas its pool's plan gives it, projects the plan into the
// version's status, and keeps a deleted version until it is drained.
type ActorVersionReconciler struct {
	base
}

// +kubebuilder:rbac:groups=rivetkube.dev,resources=actorversions,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=rivetkube.dev,resources=actorversions/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=rivetkube.dev,resources=actorversions/finalizers,verbs=update
// +kubebuilder:rbac:groups=rivetkube.dev,resources=runnerpools;rivetengines,verbs=get;list;watch

// Reconcile brings one ActorVersion's Deployment and status to the plan.
func (r *ActorVersionReconciler) Reconcile(ctx context.Context, req reconcile.Request) (res reconcile.Result, err error) {
	av := &rivetv1.ActorVersion{}
	if err := r.Get(ctx, req.NamespacedName, av); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !av.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, av)
	}
	if !controllerutil.ContainsFinalizer(av, FinalizerDrain) {
		patch := client.MergeFrom(av.DeepCopy())
		controllerutil.AddFinalizer(av, FinalizerDrain)
		if err := r.Patch(ctx, av, patch); err != nil {
			return reconcile.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}
	before := av.DeepCopy()
	defer func() {
		if perr := patchStatus(ctx, r.Client, r.Recorder, before, av); perr != nil {
			err = errors.Join(err, perr)
		}
	}()
	return r.reconcile(ctx, av)
}

func (r *ActorVersionReconciler) reconcile(ctx context.Context, av *rivetv1.ActorVersion) (reconcile.Result, error) {
	av.Status.Deployment = RunnerDeploymentName(av.Spec.PoolRef.Name, av.Spec.Version)
	if av.Status.Phase == "" {
		av.Status.Phase = rivetv1.PhasePending
	}
	pool := &rivetv1.RunnerPool{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: av.Namespace, Name: av.Spec.PoolRef.Name}, pool); err != nil {
		if apierrors.IsNotFound(err) {
			r.waiting(av, "PoolNotFound", fmt.Sprintf("RunnerPool %s does not exist", av.Spec.PoolRef.Name), true)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	engine := &rivetv1.RivetEngine{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: av.Namespace, Name: pool.Spec.EngineRef.Name}, engine); err != nil {
		if apierrors.IsNotFound(err) {
			r.waiting(av, "EngineNotFound", fmt.Sprintf("RivetEngine %s does not exist", pool.Spec.EngineRef.Name), true)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	entry := planEntry(pool, av)
	if entry == nil {
		r.waiting(av, "WaitingForPlan", "the RunnerPool has not planned this version yet", false)
		return reconcile.Result{}, nil
	}
	if entry.Rejected {
		av.Status.Phase = rivetv1.PhasePending
		setCondition(av, rivetv1.ConditionDegraded, true, "VersionNotIncreasing", entry.Message)
		setCondition(av, rivetv1.ConditionReady, false, "VersionNotIncreasing", entry.Message)
		setCondition(av, rivetv1.ConditionProgressing, false, "VersionNotIncreasing", "the version was rejected")
		av.Status.ObservedGeneration = av.Generation
		return reconcile.Result{}, reconcile.TerminalError(errors.New(entry.Message))
	}

	dep := runnerDeployment(engine, pool, av, entry.Replicas)
	if err := ctrlSetOwner(av, dep, r.Scheme); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.apply(ctx, dep); err != nil {
		return reconcile.Result{}, err
	}
	live := &appsv1.Deployment{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(dep), live); err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, fmt.Errorf("read runner deployment: %w", err)
	}
	av.Status.Replicas = live.Status.Replicas
	av.Status.AvailableReplicas = live.Status.AvailableReplicas
	projectPlan(av, entry, deploymentFailed(live))
	av.Status.ObservedGeneration = av.Generation
	if entry.Replicas > 0 && (live.Status.AvailableReplicas < entry.Replicas || live.Status.UpdatedReplicas < entry.Replicas) {
		if pods := r.runnerPodProblem(ctx, av); pods.Reason != "" {
			setCondition(av, rivetv1.ConditionDegraded, true, pods.Reason, pods.Message)
		}
		return reconcile.Result{RequeueAfter: podRecheck}, nil // pod states wake no reconcile
	}
	return reconcile.Result{}, nil
}

// waiting records a version that cannot progress yet.
func (r *ActorVersionReconciler) waiting(av *rivetv1.ActorVersion, reason, msg string, degraded bool) {
	setCondition(av, rivetv1.ConditionDegraded, degraded, reason, msg)
	setCondition(av, rivetv1.ConditionReady, false, reason, msg)
	setCondition(av, rivetv1.ConditionProgressing, !degraded, reason, msg)
}

// planEntry is the pool's plan for av, or nil.
func planEntry(pool *rivetv1.RunnerPool, av *rivetv1.ActorVersion) *rivetv1.PoolVersionStatus {
	for i, e := range pool.Status.Versions {
		if e.Version == av.Spec.Version && e.Name == av.Name {
			return &pool.Status.Versions[i]
		}
	}
	return nil
}

// projectPlan copies the pool's plan of a version into its status and sets
// its conditions.
func projectPlan(av *rivetv1.ActorVersion, e *rivetv1.PoolVersionStatus, failed string) {
	av.Status.Phase = e.Phase
	av.Status.Runners = e.Runners
	av.Status.Actors = e.Actors
	av.Status.DrainStartedAt = e.DrainStartedAt
	av.Status.DrainedAt = e.DrainedAt
	phaseMsg := string(e.Phase)
	if e.Message != "" {
		phaseMsg = e.Message
	}
	switch e.Phase {
	case rivetv1.PhaseCurrent:
		setCondition(av, rivetv1.ConditionReady, true, "Current", "new actors are placed on this version")
		setCondition(av, rivetv1.ConditionProgressing, false, "Current", "the version is current")
	case rivetv1.PhaseRamping:
		setCondition(av, rivetv1.ConditionReady, true, "Ramping", "a share of new actors is placed on this version")
		setCondition(av, rivetv1.ConditionProgressing, true, "Ramping", phaseMsg)
	case rivetv1.PhaseReady:
		setCondition(av, rivetv1.ConditionReady, true, "Available", "available; the gateway is switching new actors to it")
		setCondition(av, rivetv1.ConditionProgressing, true, "Routing", "the gateway is switching new actors to this version")
	case rivetv1.PhasePending:
		setCondition(av, rivetv1.ConditionReady, false, "Pending", phaseMsg)
		setCondition(av, rivetv1.ConditionProgressing, true, "Pending", phaseMsg)
	case rivetv1.PhaseDraining:
		setCondition(av, rivetv1.ConditionReady, false, "Draining", "a newer version took over")
		setCondition(av, rivetv1.ConditionProgressing, true, "Draining", fmt.Sprintf("%d actors left", e.Actors))
	case rivetv1.PhaseDrained:
		setCondition(av, rivetv1.ConditionReady, false, "Drained", "a newer version took over")
		setCondition(av, rivetv1.ConditionProgressing, false, "Drained", "no actors left; scaled to zero")
	}
	setCondition(av, rivetv1.ConditionDraining, e.Phase == rivetv1.PhaseDraining, string(e.Phase), fmt.Sprintf("%d actors on this version", e.Actors))
	if failed != "" {
		setCondition(av, rivetv1.ConditionDegraded, true, "RolloutFailed", failed)
	} else {
		setCondition(av, rivetv1.ConditionDegraded, false, "AsExpected", "")
	}
}

// SetupWithManager registers the reconciler: ActorVersions, their
// Deployments, and the pools whose plans they follow.
func (r *ActorVersionReconciler) SetupWithManager(mgr manager.Manager) error {
	return ctrl.ControllerManagedBy(mgr).
		For(&rivetv1.ActorVersion{}).
		Owns(&appsv1.Deployment{}).
		Watches(&rivetv1.RunnerPool{}, handler.EnqueueRequestsFromMapFunc(r.versionsOfPool)).
		Named("actorversion").
		WithOptions(controller.Options{SkipNameValidation: &r.Opts.SkipNameValidation}).
		Complete(r)
}

func (r *ActorVersionReconciler) versionsOfPool(ctx context.Context, o client.Object) []reconcile.Request {
	var list rivetv1.ActorVersionList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexVersionPool: o.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, av := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&av)})
	}
	return reqs
}
