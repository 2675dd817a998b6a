package controller

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

const pgAuthError = `gateway: migrate: failed to connect to ` + "`" + `user=rivet database=rivet` + "`" + `: password authentication failed for user "rivet" (SQLSTATE 28P01)`

func waiting(name, reason, msg string, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, RestartCount: restarts, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}
}

func crashed(name string, restarts, exit int32, reason, msg string) corev1.ContainerStatus {
	cs := waiting(name, "CrashLoopBackOff", "back-off 40s restarting failed container", restarts)
	cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: exit, Reason: reason, Message: msg}
	return cs
}

func running(name string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func podWith(name string, init, containers []corev1.ContainerStatus, conds ...corev1.PodCondition) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{
		InitContainerStatuses: init, ContainerStatuses: containers, Conditions: conds,
	}}
}

func TestPodFailure(t *testing.T) {
	t.Parallel()
	deleting := podWith("gw-z", nil, []corev1.ContainerStatus{waiting("gateway", "ImagePullBackOff", "gone", 0)})
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	for _, tc := range []struct {
		name       string
		pods       []corev1.Pod
		reason     string
		msgContain []string
	}{
		{name: "no pods"},
		{name: "healthy and starting pods", pods: []corev1.Pod{
			podWith("gw-a", []corev1.ContainerStatus{{Name: "migrate", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}}, []corev1.ContainerStatus{running("gateway")}),
			podWith("gw-b", []corev1.ContainerStatus{waiting("migrate", "PodInitializing", "", 0)}, []corev1.ContainerStatus{waiting("gateway", "PodInitializing", "", 0)}),
			podWith("gw-c", nil, []corev1.ContainerStatus{waiting("gateway", "ContainerCreating", "", 0)}),
		}},
		{name: "image pull back-off", reason: "ImagePullBackOff",
			pods:       []corev1.Pod{podWith("gw-a", nil, []corev1.ContainerStatus{waiting("gateway", "ImagePullBackOff", `Back-off pulling image "rivetkube/gatewy:1"`, 0)})},
			msgContain: []string{"pod gw-a container gateway", `Back-off pulling image "rivetkube/gatewy:1"`}},
		{name: "image pull error on the init container", reason: "ErrImagePull",
			pods:       []corev1.Pod{podWith("gw-a", []corev1.ContainerStatus{waiting("migrate", "ErrImagePull", "manifest unknown", 0)}, []corev1.ContainerStatus{waiting("gateway", "PodInitializing", "", 0)})},
			msgContain: []string{"container migrate", "manifest unknown"}},
		{name: "migration fails, waiting to restart", reason: ReasonMigrationFailed,
			pods: []corev1.Pod{podWith("gw-a", []corev1.ContainerStatus{crashed("migrate", 3, 1, "Error", "time=... level=INFO msg=migrating\n"+pgAuthError+"\n")},
				[]corev1.ContainerStatus{waiting("gateway", "PodInitializing", "", 0)})},
			msgContain: []string{"pod gw-a container migrate: the schema migration failed (exit code 1, 3 restarts): " + pgAuthError}},
		{name: "migration just failed", reason: ReasonMigrationFailed,
			pods:       []corev1.Pod{podWith("gw-a", []corev1.ContainerStatus{{Name: "migrate", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: pgAuthError}}}}, nil)},
			msgContain: []string{"SQLSTATE 28P01"}},
		{name: "another init container fails", reason: ReasonInitContainerFailed,
			pods:       []corev1.Pod{podWith("r-a", []corev1.ContainerStatus{crashed("setup", 1, 2, "Error", "")}, nil)},
			msgContain: []string{"container setup: the init container failed (exit code 2, 1 restarts)"}},
		{name: "crash loop with OOM", reason: "CrashLoopBackOff",
			pods:       []corev1.Pod{podWith("r-a", nil, []corev1.ContainerStatus{crashed("runner", 5, 137, "OOMKilled", "")})},
			msgContain: []string{"pod r-a container runner keeps crashing (5 restarts), last exit code 137 (OOMKilled)"}},
		{name: "crash loop with a message", reason: "CrashLoopBackOff",
			pods:       []corev1.Pod{podWith("r-a", nil, []corev1.ContainerStatus{crashed("runner", 2, 1, "Error", "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n")})},
			msgContain: []string{"last exit code 1: main.main()"}},
		{name: "image never pulled", reason: "ErrImageNeverPull",
			pods:       []corev1.Pod{podWith("r-a", nil, []corev1.ContainerStatus{waiting("runner", "ErrImageNeverPull", `Container image "example/app:1" is not present with pull policy of Never`, 0)})},
			msgContain: []string{"pod r-a container runner: ErrImageNeverPull: Container image"}},
		{name: "invalid image name", reason: "InvalidImageName",
			pods:       []corev1.Pod{podWith("r-a", nil, []corev1.ContainerStatus{waiting("runner", "InvalidImageName", "invalid reference format", 0)})},
			msgContain: []string{"invalid reference format"}},
		{name: "missing secret key", reason: "CreateContainerConfigError",
			pods:       []corev1.Pod{podWith("gw-a", nil, []corev1.ContainerStatus{waiting("gateway", "CreateContainerConfigError", `couldn't find key url in Secret ns/pg`, 0)})},
			msgContain: []string{"couldn't find key url"}},
		{name: "unschedulable", reason: ReasonUnschedulable,
			pods: []corev1.Pod{podWith("r-a", nil, nil, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
				Message: "0/3 nodes are available: 3 Insufficient memory."})},
			msgContain: []string{"pod r-a cannot be scheduled: 0/3 nodes are available"}},
		{name: "the most telling problem wins, counted over pods", reason: ReasonMigrationFailed,
			pods: []corev1.Pod{
				podWith("gw-a", nil, nil, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}),
				podWith("gw-b", nil, []corev1.ContainerStatus{crashed("gateway", 1, 1, "Error", "")}),
				podWith("gw-c", []corev1.ContainerStatus{crashed("migrate", 1, 1, "Error", pgAuthError)}, nil),
			},
			msgContain: []string{"pod gw-c", "(3 pods affected)"}},
		{name: "ties go to the first pod by name", reason: "ImagePullBackOff",
			pods: []corev1.Pod{
				podWith("gw-b", nil, []corev1.ContainerStatus{waiting("gateway", "ImagePullBackOff", "b", 0)}),
				podWith("gw-a", nil, []corev1.ContainerStatus{waiting("gateway", "ImagePullBackOff", "a", 0)}),
			},
			msgContain: []string{"pod gw-a"}},
		{name: "pods being deleted are ignored", pods: []corev1.Pod{deleting}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := podFailure(tc.pods)
			if got.Reason != tc.reason {
				t.Fatalf("reason = %q (%s), want %q", got.Reason, got.Message, tc.reason)
			}
			for _, s := range tc.msgContain {
				if !strings.Contains(got.Message, s) {
					t.Errorf("message %q lacks %q", got.Message, s)
				}
			}
		})
	}
}

// TestPodFailureFeedback plays the kubelet: pod statuses set by hand reach
// the engine's and the version's Degraded condition, with an event.
func TestPodFailureFeedback(t *testing.T) {
	e := newEnv(t)
	en := e.engine("eng")
	e.create(en)
	e.waitFor("gateway deployment", 20*time.Second, func() (bool, string) { return e.deployment("eng-gateway") != nil, "absent" })
	d := e.deployment("eng-gateway")
	if tm := d.Spec.Template.Spec.InitContainers[0].TerminationMessagePolicy; tm != corev1.TerminationMessageFallbackToLogsOnError {
		t.Errorf("migrate termination message policy = %q, want the logs on error", tm)
	}

	// The migration cannot log in to PostgreSQL.
	pod := e.statusPod("eng-gateway-abc", gatewayLabels(e.getEngine("eng")), corev1.PodStatus{
		Phase:                 corev1.PodPending,
		InitContainerStatuses: []corev1.ContainerStatus{crashed("migrate", 2, 1, "Error", pgAuthError)},
		ContainerStatuses:     []corev1.ContainerStatus{waiting("gateway", "PodInitializing", "", 0)},
	})
	e.awaitDegraded("engine", func() []metav1.Condition { return e.getEngine("eng").Status.Conditions }, ReasonMigrationFailed, "SQLSTATE 28P01")
	if c := meta.FindStatusCondition(e.getEngine("eng").Status.Conditions, rivetv1.ConditionReady); c.Reason != ReasonMigrationFailed {
		t.Errorf("Ready = %+v, want the pod's reason", c)
	}
	e.awaitEvent("eng", ReasonMigrationFailed)

	// The database is fixed; now the gateway image cannot be pulled.
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}}}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{waiting("gateway", "ImagePullBackOff", `Back-off pulling image "rivetkube/gateway:test"`, 0)}
	if err := k8sClient.Status().Update(e.ctx, pod); err != nil {
		t.Fatal(err)
	}
	e.awaitDegraded("engine", func() []metav1.Condition { return e.getEngine("eng").Status.Conditions }, "ImagePullBackOff", "eng-gateway-abc")
	e.awaitEvent("eng", "ImagePullBackOff")

	// A runner that crashes: the ActorVersion says so.
	e.create(pool("app", "eng"), version("app-1", "app", 1))
	e.waitFor("deployment app-v1", 20*time.Second, func() (bool, string) { return e.deployment("app-v1") != nil, "absent" })
	e.statusPod("app-v1-xyz", runnerLabels("eng", "app", 1), corev1.PodStatus{
		Phase:             corev1.PodRunning,
		ContainerStatuses: []corev1.ContainerStatus{crashed(RunnerContainer, 4, 2, "Error", "runner: RIVET_ENDPOINT: connection refused")},
	})
	e.awaitDegraded("version", func() []metav1.Condition {
		if av := e.av("app-1"); av != nil {
			return av.Status.Conditions
		}
		return nil
	}, "CrashLoopBackOff", "connection refused")
	e.awaitEvent("app-1", "CrashLoopBackOff")
}

// TestRunnerImagePullFeedback: a runner image that cannot be pulled shows
// on the ActorVersion with the kubelet's reason as it changes (ErrImagePull,
// then ImagePullBackOff), each change with an event, and the condition
// clears once the pod runs.
func TestRunnerImagePullFeedback(t *testing.T) {
	e := newEnv(t)
	e.create(e.engine("eng"))
	e.makeAvailable("eng-gateway")
	e.create(pool("app", "eng"), version("app-1", "app", 1))
	e.waitFor("deployment app-v1", 20*time.Second, func() (bool, string) { return e.deployment("app-v1") != nil, "absent" })
	conds := func() []metav1.Condition {
		if av := e.av("app-1"); av != nil {
			return av.Status.Conditions
		}
		return nil
	}
	const pullErr = `failed to pull and unpack image "docker.io/example/app:1": failed to resolve reference: not found`
	pod := e.statusPod("app-v1-abc", runnerLabels("eng", "app", 1), corev1.PodStatus{
		Phase:             corev1.PodPending,
		ContainerStatuses: []corev1.ContainerStatus{waiting(RunnerContainer, "ErrImagePull", pullErr, 0)},
	})
	e.awaitDegraded("version", conds, "ErrImagePull", "pod app-v1-abc container runner: ErrImagePull: "+pullErr)
	e.awaitEvent("app-1", "ErrImagePull")

	pod.Status.ContainerStatuses = []corev1.ContainerStatus{waiting(RunnerContainer, "ImagePullBackOff", `Back-off pulling image "example/app:1"`, 0)}
	if err := k8sClient.Status().Update(e.ctx, pod); err != nil {
		t.Fatal(err)
	}
	e.awaitDegraded("version", conds, "ImagePullBackOff", `Back-off pulling image "example/app:1"`)
	e.awaitEvent("app-1", "ImagePullBackOff")

	// The image appears (pushed late): the pod runs, the diagnosis goes.
	pod.Status.Phase = corev1.PodRunning
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{running(RunnerContainer)}
	if err := k8sClient.Status().Update(e.ctx, pod); err != nil {
		t.Fatal(err)
	}
	e.waitFor("version no longer degraded", 30*time.Second, func() (bool, string) {
		c := meta.FindStatusCondition(conds(), rivetv1.ConditionDegraded)
		return c != nil && c.Status == metav1.ConditionFalse, condString(conds())
	})
}

// statusPod creates a pod and sets its status as a kubelet would.
func (e *env) statusPod(name string, labels map[string]string, st corev1.PodStatus) *corev1.Pod {
	e.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example/app"}}},
	}
	if err := k8sClient.Create(e.ctx, pod); err != nil {
		e.t.Fatal(err)
	}
	pod.Status = st
	if err := k8sClient.Status().Update(e.ctx, pod); err != nil {
		e.t.Fatal(err)
	}
	return pod
}

// awaitDegraded waits for Degraded=True with reason and a message
// containing msg. The bound is the 30 s the feedback promises (waitFor
// triples it for busy machines).
func (e *env) awaitDegraded(what string, conds func() []metav1.Condition, reason, msg string) {
	e.t.Helper()
	e.waitFor(what+" degraded by "+reason, 30*time.Second, func() (bool, string) {
		c := meta.FindStatusCondition(conds(), rivetv1.ConditionDegraded)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == reason && strings.Contains(c.Message, msg), condString(conds())
	})
}

// awaitEvent waits for a Warning event with reason about the named object.
func (e *env) awaitEvent(regarding, reason string) {
	e.t.Helper()
	e.waitFor("event "+reason, 20*time.Second, func() (bool, string) {
		var evs eventsv1.EventList
		if err := k8sClient.List(e.ctx, &evs, client.InNamespace(e.ns)); err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, ev := range evs.Items {
			if ev.Regarding.Name == regarding && ev.Reason == reason && ev.Type == corev1.EventTypeWarning {
				return true, ""
			}
			seen = append(seen, ev.Regarding.Name+"/"+ev.Reason)
		}
		return false, strings.Join(seen, ", ")
	})
}
