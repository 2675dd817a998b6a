package controller

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// finalize keeps a deleted ActorVersion until its pool's plan says it is
// drained (its actors moved to another version), then deletes its
// Deployment and lets it go. A version whose pool or engine is gone, or
// that the pool rejected, goes at once.
func (r *ActorVersionReconciler) finalize(ctx context.Context, av *rivetv1.ActorVersion) (res reconcile.Result, err error) {
	if !controllerutil.ContainsFinalizer(av, FinalizerDrain) {
		return reconcile.Result{}, nil
	}
	pool := &rivetv1.RunnerPool{}
	err = r.Get(ctx, types.NamespacedName{Namespace: av.Namespace, Name: av.Spec.PoolRef.Name}, pool)
	if err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	if err == nil {
		// Without its engine nothing can drain the version: let it go.
		engine := &rivetv1.RivetEngine{}
		if eerr := r.Get(ctx, types.NamespacedName{Namespace: av.Namespace, Name: pool.Spec.EngineRef.Name}, engine); apierrors.IsNotFound(eerr) {
			err = eerr
		} else if eerr != nil {
			return reconcile.Result{}, eerr
		}
	}
	if err == nil {
		if e := planEntry(pool, av); e != nil && !e.Rejected && e.Phase != rivetv1.PhaseDrained {
			before := av.DeepCopy()
			defer func() {
				if perr := patchStatus(ctx, r.Client, r.Recorder, before, av); perr != nil {
					err = errors.Join(err, perr)
				}
			}()
			projectPlan(av, e, "")
			if e.Phase != rivetv1.PhaseDraining {
				setCondition(av, rivetv1.ConditionDraining, true, "Deleting", "waiting for the pool to start draining this version")
			}
			return reconcile.Result{}, nil // the pool's status change wakes us
		}
	}
	log := logf.FromContext(ctx)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: av.Namespace, Name: RunnerDeploymentName(av.Spec.PoolRef.Name, av.Spec.Version)}}
	if err := r.Delete(ctx, dep, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, fmt.Errorf("delete runner deployment: %w", err)
	}
	patch := client.MergeFrom(av.DeepCopy())
	controllerutil.RemoveFinalizer(av, FinalizerDrain)
	if err := r.Patch(ctx, av, patch); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	log.Info("version drained and released", "version", av.Spec.Version)
	r.Recorder.Eventf(av, nil, "Normal", "Released", "Delete", "version %d drained; Deployment deleted", av.Spec.Version)
	return reconcile.Result{}, nil
}
