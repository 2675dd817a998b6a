package controller

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// Pod failure feedback: while a gateway or runner Deployment is not rolled
// out, the operator reads its pods (uncached, like the autoscaler does) and
// puts what the kubelet reports (an image that cannot be pulled, a
// container in CrashLoopBackOff, the migration init container's error, an
// unschedulable pod) into the owner's Degraded condition, so a wrong image
// or PostgreSQL URL shows up within podRecheck instead of as "no replica is
// available yet" until the Deployment's progress deadline. The condition's
// reason changes with the problem, and patchStatus emits one event per
// change.

// podRecheck is how often pods are read again while a Deployment is not
// rolled out (pod states do not change the Deployment, so they wake no
// reconcile by themselves).
const podRecheck = 10 * time.Second

// Degraded reasons derived from pods, besides the kubelet's own waiting
// reasons (ImagePullBackOff, ErrImagePull, InvalidImageName,
// CreateContainerConfigError, CrashLoopBackOff, ...), which are used as
// they are.
const (
	ReasonMigrationFailed     = "MigrationFailed"
	ReasonInitContainerFailed = "InitContainerFailed"
	ReasonUnschedulable       = "Unschedulable"
)

// migrateContainer is the gateway's schema migration init container.
const migrateContainer = "migrate"

// maxPodsInspected bounds the pods read for one owner.
const maxPodsInspected = 200

// podProblem is why pods do not become ready: a condition reason and a
// message naming the pod and container.
type podProblem struct {
	Reason  string
	Message string
	rank    int // lower is more telling
}

// waitingRank ranks the kubelet's waiting reasons that mean a container
// will not start by itself; other waiting reasons (ContainerCreating,
// PodInitializing) are progress, not problems.
var waitingRank = map[string]int{
	"ErrImagePull":               1,
	"ImagePullBackOff":           1,
	"InvalidImageName":           1,
	"ErrImageNeverPull":          1,
	"CreateContainerConfigError": 1,
	"CreateContainerError":       1,
	"RunContainerError":          1,
	"CrashLoopBackOff":           2,
}

// podFailure returns the most telling problem among pods (the zero value
// when none has one). Pods being deleted are ignored. Ties go to the pod
// whose name sorts first, so the message is stable across reconciles.
func podFailure(pods []corev1.Pod) podProblem {
	sorted := append([]corev1.Pod(nil), pods...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var best podProblem
	affected := 0
	for i := range sorted {
		p := &sorted[i]
		if !p.DeletionTimestamp.IsZero() {
			continue
		}
		pp := onePodFailure(p)
		if pp.Reason == "" {
			continue
		}
		affected++
		if best.Reason == "" || pp.rank < best.rank {
			best = pp
		}
	}
	if affected > 1 {
		best.Message += fmt.Sprintf(" (%d pods affected)", affected)
	}
	return best
}

// onePodFailure inspects one pod: init containers first (they run first),
// then containers, then scheduling.
func onePodFailure(p *corev1.Pod) podProblem {
	for _, cs := range p.Status.InitContainerStatuses {
		if pp := containerFailure(p.Name, cs, true); pp.Reason != "" {
			return pp
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if pp := containerFailure(p.Name, cs, false); pp.Reason != "" {
			return pp
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return podProblem{Reason: ReasonUnschedulable, Message: fmt.Sprintf("pod %s cannot be scheduled: %s", p.Name, c.Message), rank: 4}
		}
	}
	return podProblem{}
}

func containerFailure(pod string, cs corev1.ContainerStatus, init bool) podProblem {
	where := fmt.Sprintf("pod %s container %s", pod, cs.Name)
	// A failed init container: its exit is the news (the migration's
	// PostgreSQL error is in its termination message), whether it is
	// waiting to be restarted or just terminated.
	if init {
		term := cs.State.Terminated
		if term == nil && cs.State.Waiting != nil {
			term = cs.LastTerminationState.Terminated
		}
		if term != nil && term.ExitCode != 0 {
			reason := ReasonInitContainerFailed
			what := "the init container failed"
			if cs.Name == migrateContainer {
				reason, what = ReasonMigrationFailed, "the schema migration failed"
			}
			return podProblem{Reason: reason, rank: 0,
				Message: fmt.Sprintf("%s: %s (exit code %d, %d restarts)%s", where, what, term.ExitCode, cs.RestartCount, lastWords(term))}
		}
	}
	w := cs.State.Waiting
	if w == nil {
		return podProblem{}
	}
	rank, ok := waitingRank[w.Reason]
	if !ok {
		return podProblem{}
	}
	msg := where + ": " + w.Reason
	if w.Message != "" {
		msg += ": " + w.Message
	}
	if w.Reason == "CrashLoopBackOff" {
		msg = fmt.Sprintf("%s keeps crashing (%d restarts)", where, cs.RestartCount)
		if t := cs.LastTerminationState.Terminated; t != nil {
			msg += fmt.Sprintf(", last exit code %d", t.ExitCode)
			if t.Reason != "" && t.Reason != "Error" {
				msg += " (" + t.Reason + ")"
			}
			msg += lastWords(t)
		}
	}
	return podProblem{Reason: w.Reason, Message: msg, rank: rank}
}

// lastWords is ": " and the last non-empty line of a termination message
// (the error a program prints last), or "".
func lastWords(t *corev1.ContainerStateTerminated) string {
	lines := strings.Split(strings.TrimSpace(t.Message), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return ": " + truncate(l, 512)
		}
	}
	return ""
}

// podProblemOf lists the pods matching selector in ns and returns their
// problem. A failed list is logged and reported as no problem: pod
// feedback is a diagnosis, never a reason to fail the reconcile.
func (b *base) podProblemOf(ctx context.Context, ns string, selector map[string]string) podProblem {
	var pods corev1.PodList
	if err := b.APIReader.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(selector), client.Limit(maxPodsInspected)); err != nil {
		logf.FromContext(ctx).Error(err, "list pods for failure feedback")
		return podProblem{}
	}
	return podFailure(pods.Items)
}

// gatewayPodProblem is the problem of an engine's gateway pods.
func (b *base) gatewayPodProblem(ctx context.Context, engine *rivetv1.RivetEngine) podProblem {
	return b.podProblemOf(ctx, engine.Namespace, gatewaySelector(engine))
}

// runnerPodProblem is the problem of a version's runner pods.
func (b *base) runnerPodProblem(ctx context.Context, av *rivetv1.ActorVersion) podProblem {
	return b.podProblemOf(ctx, av.Namespace, runnerSelector(av.Spec.PoolRef.Name, av.Spec.Version))
}
