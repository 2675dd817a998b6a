package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
	"github.com/rivetkube/rivetkube/internal/admin"
)

// Names of everything the suite creates.
const (
	releaseName = "rivetkube-e2e"
	systemNS    = "rivetkube-e2e-system" // the Helm release's namespace
	ns          = "rivetkube-e2e"        // engine, pool, versions, PostgreSQL
	engineName  = "rivet"
	// poolName is "default": the pool both clients create actors in unless
	// told otherwise (rvt-runner).
	poolName    = "default"
	gatewayName = engineName + "-gateway"
	operatorDep = releaseName + "-operator"
	partOfLabel = "app.kubernetes.io/part-of"
)

// suite is the state the scenarios share, in order.
type suite struct {
	cfg  *config
	rest *rest.Config
	k    client.Client
	cs   kubernetes.Interface

	adminToken string
	endpoint   string // the gateway as this process reaches it
	admin      *admin.Client
	fwd        *forwarder

	mu          sync.Mutex
	installed   bool     // helm release exists
	uninstalled bool     // the uninstall scenario ran to its end
	failures    []string // why scenarios failed, repeated at the end of the run
}

func newSuite(t *testing.T, cfg *config) *suite {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.kubeconfig)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", cfg.kubeconfig, err)
	}
	rc.QPS, rc.Burst = 50, 100
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(rivetv1.AddToScheme(scheme))
	k, err := client.New(rc, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	return &suite{cfg: cfg, rest: rc, k: k, cs: cs}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond every second until it reports done; after timeout
// it dumps the cluster's state and fails with what cond said last.
func (s *suite) eventually(t *testing.T, what string, timeout time.Duration, cond func(ctx context.Context) (done bool, status string, err error)) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		done, status, err := cond(ctx)
		cancel()
		if err != nil {
			status = fmt.Sprintf("%s (error: %v)", status, err)
		}
		if done {
			t.Logf("%s after %v", what, time.Since(start).Round(100*time.Millisecond))
			return
		}
		if status != last {
			t.Logf("waiting for %s: %s", what, status)
			last = status
		}
		if time.Now().After(deadline) {
			s.dump(t)
			s.failf(t, "timed out after %v waiting for %s; last seen: %s", timeout, what, last)
		}
		time.Sleep(time.Second)
	}
}

// fatalf dumps the cluster's state, then fails t.
func (s *suite) fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	s.dump(t)
	s.failf(t, format, args...)
}

// failf fails t and keeps the message, which TestCluster repeats after the
// uninstall: a CI log that shows only its tail still says why.
func (s *suite) failf(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.failures = append(s.failures, t.Name()+": "+msg)
	s.mu.Unlock()
	t.Fatal(msg)
}

// run runs a command (helm) with a deadline and returns its combined output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.String(), err
}

func (s *suite) helm(ctx context.Context, args ...string) (string, error) {
	return run(ctx, s.cfg.helm, append(args, "--kubeconfig", s.cfg.kubeconfig)...)
}

// --- reading objects ---

func (s *suite) getEngine(ctx context.Context) (*rivetv1.RivetEngine, error) {
	e := &rivetv1.RivetEngine{}
	return e, s.k.Get(ctx, client.ObjectKey{Namespace: ns, Name: engineName}, e)
}

func (s *suite) getPool(ctx context.Context) (*rivetv1.RunnerPool, error) {
	p := &rivetv1.RunnerPool{}
	return p, s.k.Get(ctx, client.ObjectKey{Namespace: ns, Name: poolName}, p)
}

func (s *suite) getVersion(ctx context.Context, v int) (*rivetv1.ActorVersion, error) {
	a := &rivetv1.ActorVersion{}
	return a, s.k.Get(ctx, client.ObjectKey{Namespace: ns, Name: versionName(v)}, a)
}

func objKey(namespace, name string) client.ObjectKey {
	return client.ObjectKey{Namespace: namespace, Name: name}
}

func versionName(v int) string { return fmt.Sprintf("%s-%d", poolName, v) }

// runnerPods lists the pods of one version (0: every version), without
// the ones being deleted unless withTerminating.
func (s *suite) runnerPods(ctx context.Context, version int, withTerminating bool) ([]corev1.Pod, error) {
	sel := client.MatchingLabels{"rivetkube.dev/pool": poolName}
	if version > 0 {
		sel["rivetkube.dev/version"] = fmt.Sprint(version)
	}
	var l corev1.PodList
	if err := s.k.List(ctx, &l, client.InNamespace(ns), sel); err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if withTerminating || p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func countReady(pods []corev1.Pod) int {
	n := 0
	for i := range pods {
		if podReady(&pods[i]) {
			n++
		}
	}
	return n
}

func condition(conds []metav1.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return fmt.Sprintf("%s=%s (%s: %s)", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	return typ + "=?"
}

func conditionTrue(conds []metav1.Condition, typ string) bool {
	for _, c := range conds {
		if c.Type == typ {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

// gone reports whether obj no longer exists.
func (s *suite) gone(ctx context.Context, obj client.Object) (bool, error) {
	err := s.k.Get(ctx, client.ObjectKeyFromObject(obj), obj)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return false, err
}

// podSummary describes the pods matching selector in namespace n in one
// line (phase, readiness, restarts, why a container waits or ended), for the
// status of a wait.
func (s *suite) podSummary(ctx context.Context, n, selector string) string {
	pods, err := s.cs.CoreV1().Pods(n).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return "pods: " + err.Error()
	}
	var parts []string
	for _, p := range pods.Items {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s ready=%v", p.Name, p.Status.Phase, podReady(&p))
		for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			fmt.Fprintf(&b, " [%s restarts=%d", cs.Name, cs.RestartCount)
			if w := cs.State.Waiting; w != nil {
				fmt.Fprintf(&b, " waiting: %s", w.Reason)
			}
			if x := cs.LastTerminationState.Terminated; x != nil && x.ExitCode != 0 {
				fmt.Fprintf(&b, " last exit %d: %s", x.ExitCode, strings.TrimSpace(x.Message))
			}
			b.WriteString("]")
		}
		parts = append(parts, b.String())
	}
	return "pods: " + strings.Join(parts, "; ")
}

// --- dumping state on failure ---

// dump logs what a failed wait needs to be understood: pods, Deployments,
// events, the rivetkube objects, the gateway's view of the pool, and the
// logs of the operator, the gateways and the runners.
func (s *suite) dump(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b strings.Builder
	fmt.Fprintf(&b, "===== cluster state at %s =====\n", time.Now().UTC().Format(time.RFC3339))
	for _, n := range []string{systemNS, ns} {
		s.dumpNamespace(ctx, &b, n)
	}
	for _, list := range []client.ObjectList{&rivetv1.RivetEngineList{}, &rivetv1.RunnerPoolList{}, &rivetv1.ActorVersionList{}} {
		if err := s.k.List(ctx, list, client.InNamespace(ns)); err != nil {
			fmt.Fprintf(&b, "list %T: %v\n", list, err)
			continue
		}
		y, _ := yaml.Marshal(list)
		fmt.Fprintf(&b, "--- %T ---\n%s", list, stripManagedFields(string(y)))
	}
	if s.admin != nil {
		st, err := s.admin.PoolStatus(ctx, poolName)
		y, _ := yaml.Marshal(st)
		fmt.Fprintf(&b, "--- gateway admin: pool %s (err %v) ---\n%s", poolName, err, y)
	}
	s.dumpLogs(ctx, &b, systemNS, "app.kubernetes.io/component=operator", 200)
	s.dumpLogs(ctx, &b, ns, "app.kubernetes.io/component=gateway", 150)
	s.dumpLogs(ctx, &b, ns, "app.kubernetes.io/component=runner", 80)
	b.WriteString("===== end of cluster state =====")
	t.Log(b.String())
}

func stripManagedFields(y string) string {
	var out []string
	skip := -1
	for _, line := range strings.Split(y, "\n") {
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if skip >= 0 {
			if indent > skip || strings.HasPrefix(strings.TrimLeft(line, " "), "- ") && indent == skip {
				continue
			}
			skip = -1
		}
		if strings.TrimSpace(line) == "managedFields:" {
			skip = indent
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

func (s *suite) dumpNamespace(ctx context.Context, b *strings.Builder, n string) {
	fmt.Fprintf(b, "--- namespace %s: pods ---\n", n)
	pods, err := s.cs.CoreV1().Pods(n).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(b, "list pods: %v\n", err)
		return
	}
	for _, p := range pods.Items {
		fmt.Fprintf(b, "%s phase=%s ready=%v ip=%s node=%s deleting=%v", p.Name, p.Status.Phase, podReady(&p), p.Status.PodIP, p.Spec.NodeName, p.DeletionTimestamp != nil)
		for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			fmt.Fprintf(b, " [%s restarts=%d", cs.Name, cs.RestartCount)
			if w := cs.State.Waiting; w != nil {
				fmt.Fprintf(b, " waiting=%s: %s", w.Reason, w.Message)
			}
			if x := cs.State.Terminated; x != nil {
				fmt.Fprintf(b, " terminated=%s exit=%d", x.Reason, x.ExitCode)
			}
			b.WriteString("]")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "--- namespace %s: deployments ---\n", n)
	var deps appsv1.DeploymentList
	if err := s.k.List(ctx, &deps, client.InNamespace(n)); err == nil {
		for _, d := range deps.Items {
			fmt.Fprintf(b, "%s replicas=%d ready=%d available=%d updated=%d image=%s\n", d.Name, ptr.Deref(d.Spec.Replicas, 1),
				d.Status.ReadyReplicas, d.Status.AvailableReplicas, d.Status.UpdatedReplicas, d.Spec.Template.Spec.Containers[0].Image)
		}
	}
	fmt.Fprintf(b, "--- namespace %s: events (last 60) ---\n", n)
	evs, err := s.cs.CoreV1().Events(n).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(b, "list events: %v\n", err)
		return
	}
	items := evs.Items
	sort.Slice(items, func(i, j int) bool { return eventTime(&items[i]).Before(eventTime(&items[j])) })
	if len(items) > 60 {
		items = items[len(items)-60:]
	}
	for _, e := range items {
		fmt.Fprintf(b, "%s %s %s/%s %s: %s (x%d)\n", eventTime(&e).UTC().Format("15:04:05"), e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message, e.Count)
	}
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	default:
		return e.CreationTimestamp.Time
	}
}

func (s *suite) dumpLogs(ctx context.Context, b *strings.Builder, n, selector string, lines int64) {
	pods, err := s.cs.CoreV1().Pods(n).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		fmt.Fprintf(b, "list pods %s in %s: %v\n", selector, n, err)
		return
	}
	for _, p := range pods.Items {
		for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
			raw, err := s.cs.CoreV1().Pods(n).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, TailLines: ptr.To(lines)}).DoRaw(ctx)
			fmt.Fprintf(b, "--- logs %s/%s [%s] (last %d lines", n, p.Name, c.Name, lines)
			if err != nil {
				fmt.Fprintf(b, ", error %v", err)
			}
			fmt.Fprintf(b, ") ---\n%s\n", raw)
		}
	}
}
