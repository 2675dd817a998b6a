package controller

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// statusObject is a kind with conditions in its status.
type statusObject interface {
	client.Object
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}

// patchStatus is the one status writer of every reconciler: it patches the
// status subresource from before to obj when it changed, and emits one
// event for each condition whose status changed (events on transitions
// only). It is deferred right after the object is read.
func patchStatus(ctx context.Context, c client.Client, rec events.EventRecorder, before, obj statusObject) error {
	oldConds, newConds := before.GetConditions(), obj.GetConditions()
	if equality.Semantic.DeepEqual(statusOf(before), statusOf(obj)) {
		return nil
	}
	if err := c.Status().Patch(ctx, obj, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("patch status: %w", client.IgnoreNotFound(err))
	}
	for _, nc := range newConds {
		oc := meta.FindStatusCondition(oldConds, nc.Type)
		if oc != nil && oc.Status == nc.Status && oc.Reason == nc.Reason {
			continue
		}
		if oc == nil && nc.Status == metav1.ConditionFalse && nc.Type != rivetv1.ConditionReady {
			continue // a fresh object's quiet conditions are no news
		}
		kind := "Normal"
		if (nc.Type == rivetv1.ConditionDegraded && nc.Status == metav1.ConditionTrue) ||
			(nc.Type == rivetv1.ConditionReady && nc.Status == metav1.ConditionFalse && oc != nil) {
			kind = "Warning"
		}
		rec.Eventf(obj, nil, kind, nc.Reason, nc.Type, "%s=%s: %s", nc.Type, nc.Status, nc.Message)
	}
	return nil
}

func statusOf(o statusObject) any {
	switch o := o.(type) {
	case *rivetv1.RivetEngine:
		return o.Status
	case *rivetv1.RunnerPool:
		return o.Status
	case *rivetv1.ActorVersion:
		return o.Status
	}
	return nil
}

// setCondition sets one condition with the object's generation.
func setCondition(o statusObject, typ string, status bool, reason, msg string) {
	s := metav1.ConditionFalse
	if status {
		s = metav1.ConditionTrue
	}
	conds := o.GetConditions()
	meta.SetStatusCondition(&conds, metav1.Condition{
		Type: typ, Status: s, Reason: reason, Message: truncate(msg, 1024), ObservedGeneration: o.GetGeneration(),
	})
	o.SetConditions(conds)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
