package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// secretRetry is how soon an engine or pool waiting for a Secret looks
// again (Secrets are not watched, to keep none of them in memory).
const secretRetry = 15 * time.Second

// RivetEngineReconciler turns a RivetEngine into the gateway's Deployment
// (with a migration init container), Service and ConfigMap, and reports
// readiness and the client endpoint.
type RivetEngineReconciler struct {
	base
}

// +kubebuilder:rbac:groups=rivetkube.dev,resources=rivetengines,verbs=get;list;watch
// +kubebuilder:rbac:groups=rivetkube.dev,resources=rivetengines/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services;configmaps,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one RivetEngine's children to its spec.
func (r *RivetEngineReconciler) Reconcile(ctx context.Context, req reconcile.Request) (res reconcile.Result, err error) {
	engine := &rivetv1.RivetEngine{}
	if err := r.Get(ctx, req.NamespacedName, engine); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !engine.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil // children go with their owner
	}
	before := engine.DeepCopy()
	defer func() {
		if perr := patchStatus(ctx, r.Client, r.Recorder, before, engine); perr != nil {
			err = errors.Join(err, perr)
		}
	}()
	return r.reconcile(ctx, engine)
}

func (r *RivetEngineReconciler) reconcile(ctx context.Context, engine *rivetv1.RivetEngine) (reconcile.Result, error) {
	log := logf.FromContext(ctx)
	engine.Status.Endpoint = Endpoint(engine)

	// Phase 1: the Secrets the gateway cannot start without.
	for _, ref := range []rivetv1.SecretKeyRef{engine.Spec.Postgres.URLSecretRef, engine.Spec.AdminTokenSecretRef} {
		if _, err := r.secretValue(ctx, engine.Namespace, ref); err != nil {
			var se *errSecret
			if errors.As(err, &se) {
				setCondition(engine, rivetv1.ConditionDegraded, true, "SecretNotFound", se.Error())
				setCondition(engine, rivetv1.ConditionReady, false, "SecretNotFound", se.Error())
				setCondition(engine, rivetv1.ConditionProgressing, false, "SecretNotFound", "waiting for the Secret")
				return reconcile.Result{RequeueAfter: secretRetry}, nil
			}
			return reconcile.Result{}, err
		}
	}
	// Phase 2: the runner token.
	runnerToken, err := r.ensureRunnerToken(ctx, engine)
	if err != nil {
		return reconcile.Result{}, err
	}
	// Phase 3: configuration, Deployment, Service.
	cm := gatewayConfigMap(engine)
	if err := ctrlSetOwner(engine, cm, r.Scheme); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.apply(ctx, cm); err != nil {
		return reconcile.Result{}, err
	}
	dep := gatewayDeployment(engine, runnerToken, configHash(cm.Data))
	if err := ctrlSetOwner(engine, dep, r.Scheme); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.apply(ctx, dep); err != nil {
		return reconcile.Result{}, err
	}
	svc := gatewayService(engine)
	if err := ctrlSetOwner(engine, svc, r.Scheme); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.apply(ctx, svc); err != nil {
		return reconcile.Result{}, err
	}

	// Phase 4: readiness.
	live := &appsv1.Deployment{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(dep), live); err != nil {
		return reconcile.Result{}, fmt.Errorf("read gateway deployment: %w", err)
	}
	engine.Status.Replicas = live.Status.Replicas
	engine.Status.ReadyReplicas = live.Status.ReadyReplicas
	want := int32(1)
	if engine.Spec.Gateway.Replicas != nil {
		want = *engine.Spec.Gateway.Replicas
	}
	rolledOut := live.Status.ObservedGeneration >= live.Generation && live.Status.UpdatedReplicas == want &&
		live.Status.AvailableReplicas == want && live.Status.Replicas == want
	available := live.Status.AvailableReplicas > 0
	failed := deploymentFailed(live)
	var healthErr error
	if available {
		ac, err := r.adminClient(ctx, engine)
		if err == nil {
			err = ac.Healthy(ctx)
		}
		healthErr = err
	}
	res := reconcile.Result{}
	switch {
	case failed != "":
		setCondition(engine, rivetv1.ConditionDegraded, true, "RolloutFailed", failed)
	case healthErr != nil:
		setCondition(engine, rivetv1.ConditionDegraded, true, "GatewayUnreachable", healthErr.Error())
		res.RequeueAfter = r.Opts.ActivePoll
	default:
		setCondition(engine, rivetv1.ConditionDegraded, false, "AsExpected", "")
	}
	if rolledOut {
		setCondition(engine, rivetv1.ConditionProgressing, false, "RolledOut", fmt.Sprintf("%d gateway replicas available", want))
	} else {
		setCondition(engine, rivetv1.ConditionProgressing, true, "RollingOut",
			fmt.Sprintf("%d of %d gateway replicas updated and available", min(live.Status.UpdatedReplicas, live.Status.AvailableReplicas), want))
	}
	if available && healthErr == nil {
		setCondition(engine, rivetv1.ConditionReady, true, "GatewayAvailable", "the gateway serves at "+engine.Status.Endpoint)
	} else {
		setCondition(engine, rivetv1.ConditionReady, false, "GatewayUnavailable", "no gateway replica is available yet")
	}
	engine.Status.ObservedGeneration = engine.Generation
	log.V(1).Info("reconciled engine", "ready", available && healthErr == nil, "replicas", live.Status.ReadyReplicas)
	return res, nil
}

// ensureRunnerToken returns the runner token Secret reference, generating
// the Secret once when the spec names none.
func (r *RivetEngineReconciler) ensureRunnerToken(ctx context.Context, engine *rivetv1.RivetEngine) (rivetv1.SecretKeyRef, error) {
	if engine.Spec.RunnerTokenSecretRef != nil {
		return *engine.Spec.RunnerTokenSecretRef, nil
	}
	ref := rivetv1.SecretKeyRef{Name: RunnerTokenName(engine), Key: "token"}
	if _, err := r.secretValue(ctx, engine.Namespace, ref); err == nil {
		return ref, nil
	} else if !apierrors.IsNotFound(err) {
		var se *errSecret
		if !errors.As(err, &se) {
			return ref, err
		}
	}
	s, err := runnerTokenSecret(engine)
	if err != nil {
		return ref, err
	}
	if err := ctrlSetOwner(engine, s, r.Scheme); err != nil {
		return ref, err
	}
	if err := r.Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
		return ref, fmt.Errorf("create runner token secret: %w", err)
	}
	return ref, nil
}

// SetupWithManager registers the reconciler.
func (r *RivetEngineReconciler) SetupWithManager(mgr manager.Manager) error {
	return ctrl.ControllerManagedBy(mgr).
		For(&rivetv1.RivetEngine{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ConfigMap{}).
		Named("rivetengine").
		WithOptions(controller.Options{SkipNameValidation: &r.Opts.SkipNameValidation}).
		Complete(r)
}
