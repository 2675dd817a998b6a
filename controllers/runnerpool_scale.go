package controller

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
	"github.com/rivetkube/rivetkube/controllers/plan"
	"github.com/rivetkube/rivetkube/internal/admin"
)

// victimDeletionCost is the deletion cost given to the drained runner's pod
// so the ReplicaSet removes it first when the replicas drop.
const victimDeletionCost = "-1000000"

// executeScale carries out the autoscaler's step of the plan: mark the
// victim runner draining (or clear a cancelled victim), and give a drained
// victim's pod the lowest deletion cost before the plan lowers the
// replicas. When marking fails the victim is dropped from the plan so the
// next pass starts over.
func (r *RunnerPoolReconciler) executeScale(ctx context.Context, pool *rivetv1.RunnerPool, ac *admin.Client, p *plan.Result) error {
	log := logf.FromContext(ctx)
	var errs error
	if ac != nil && p.UnmarkDraining != "" {
		if err := ac.SetRunnerDraining(ctx, p.UnmarkDraining, false); err != nil {
			errs = errors.Join(errs, fmt.Errorf("clear runner draining: %w", err))
		} else {
			log.Info("scale-down cancelled; runner takes actors again", "runner", p.UnmarkDraining)
		}
	}
	if ac != nil && p.MarkDraining != "" {
		if err := ac.SetRunnerDraining(ctx, p.MarkDraining, true); err != nil {
			p.ScaleDown = nil
			if p.RemovePod != "" {
				p.RemovePod = ""
				holdCurrent(p)
			}
			errs = errors.Join(errs, fmt.Errorf("mark runner draining: %w", err))
		} else {
			log.Info("draining runner before scale-down", "runner", p.MarkDraining)
			r.Recorder.Eventf(pool, nil, "Normal", "RunnerDraining", "ScaleDown", "runner %s drains before its pod is removed", p.MarkDraining)
		}
	}
	if p.RemovePod != "" {
		pod := &corev1.Pod{}
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: p.RemovePod}, pod)
		if err == nil && pod.Annotations[AnnotationPodDeletionCost] != victimDeletionCost {
			patch := client.MergeFrom(pod.DeepCopy())
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[AnnotationPodDeletionCost] = victimDeletionCost
			err = r.Patch(ctx, pod, patch)
		}
		if err != nil && !apierrors.IsNotFound(err) {
			p.RemovePod = ""
			holdCurrent(p)
			errs = errors.Join(errs, fmt.Errorf("mark pod for removal: %w", err))
		} else {
			log.Info("scaling down", "pod", p.RemovePod)
			r.Recorder.Eventf(pool, nil, "Normal", "ScaledDown", "ScaleDown", "pod %s is removed first", p.RemovePod)
		}
	}
	return errs
}

// holdCurrent keeps the current version's replicas where they are (a
// failed release must not let the ReplicaSet pick a random pod).
func holdCurrent(p *plan.Result) {
	for i := range p.Versions {
		if p.Versions[i].Version == p.Current {
			p.Versions[i].Replicas++
		}
	}
}
