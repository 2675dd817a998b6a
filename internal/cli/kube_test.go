package cli

// status and rollout status against a real kube-apiserver and etcd
// (envtest) with the project's CRDs, reached through a kubeconfig file as a
// user would. No operator runs: the tests write the status fields the
// operator would write and check what the tool makes of them. Without the
// binaries (hack/k8s-binaries.sh) these tests skip, unless
// RIVETKUBE_REQUIRE_K8S is set.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	corev1 "k8s.io/api/core/v1"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
	"github.com/rivetkube/rivetkube/internal/testutil/k8stest"
)

var kube struct {
	once       sync.Once
	env        *envtest.Environment
	c          client.Client
	kubeconfig string
	err        error
	nsSeq      int
	mu         sync.Mutex
}

func TestMain(m *testing.M) {
	code := m.Run()
	if kube.env != nil {
		_ = kube.env.Stop()
	}
	if kube.kubeconfig != "" {
		_ = os.RemoveAll(filepath.Dir(kube.kubeconfig))
	}
	os.Exit(code)
}

// kubeNS starts envtest once and returns a client, a kubeconfig path and a
// fresh namespace.
func kubeNS(t *testing.T) (client.Client, string, string) {
	t.Helper()
	if why := k8stest.Missing(); why != "" {
		if k8stest.Required() {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	kube.once.Do(func() {
		kube.env = &envtest.Environment{
			BinaryAssetsDirectory:    k8stest.Dir(),
			CRDDirectoryPaths:        []string{filepath.Join("..", "..", "config", "crd", "bases")},
			ErrorIfCRDPathMissing:    true,
			ControlPlaneStartTimeout: 3 * time.Minute,
			ControlPlaneStopTimeout:  time.Minute,
		}
		cfg, err := kube.env.Start()
		if err != nil {
			kube.err, kube.env = fmt.Errorf("start envtest: %w", err), nil
			return
		}
		s := runtime.NewScheme()
		_ = rivetv1.AddToScheme(s)
		_ = corev1.AddToScheme(s)
		if kube.c, err = client.New(cfg, client.Options{Scheme: s}); err != nil {
			kube.err = err
			return
		}
		user, err := kube.env.AddUser(envtest.User{Name: "cli-test", Groups: []string{"system:masters"}}, nil)
		if err != nil {
			kube.err = err
			return
		}
		b, err := user.KubeConfig()
		if err != nil {
			kube.err = err
			return
		}
		dir, err := os.MkdirTemp("", "rivetkube-cli-kube-")
		if err != nil {
			kube.err = err
			return
		}
		kube.kubeconfig = filepath.Join(dir, "kubeconfig")
		kube.err = os.WriteFile(kube.kubeconfig, b, 0o600)
	})
	if kube.err != nil {
		t.Fatal(kube.err)
	}
	kube.mu.Lock()
	kube.nsSeq++
	ns := fmt.Sprintf("cli-%d-%d", kube.nsSeq, time.Now().UnixNano()%100000)
	kube.mu.Unlock()
	if err := kube.c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return kube.c, kube.kubeconfig, ns
}

func kctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// seed creates an engine, a pool and two versions, and writes their status
// as the operator would during a rollout from v1 to v2.
func seed(t *testing.T, c client.Client, ns string) *rivetv1.RunnerPool {
	t.Helper()
	ctx := kctx(t)
	engine := &rivetv1.RivetEngine{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "eng"}}
	engine.Spec.Postgres.URLSecretRef = rivetv1.SecretKeyRef{Name: "pg", Key: "url"}
	engine.Spec.AdminTokenSecretRef = rivetv1.SecretKeyRef{Name: "admin", Key: "token"}
	engine.Spec.Gateway.Image = "rivetkube/gateway:test"
	if err := c.Create(ctx, engine); err != nil {
		t.Fatal(err)
	}
	engine.Status = rivetv1.RivetEngineStatus{Replicas: 1, ReadyReplicas: 1, Endpoint: "http://eng-gateway." + ns + ".svc:6420", Conditions: []metav1.Condition{
		cond(rivetv1.ConditionReady, true, "GatewayAvailable", ""), cond(rivetv1.ConditionDegraded, false, "AsExpected", ""),
	}}
	if err := c.Status().Update(ctx, engine); err != nil {
		t.Fatal(err)
	}
	pool := &rivetv1.RunnerPool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
	pool.Spec.EngineRef.Name = "eng"
	pool.Spec.MinReplicas, pool.Spec.MaxReplicas = 1, 3
	if err := c.Create(ctx, pool); err != nil {
		t.Fatal(err)
	}
	for v := int64(1); v <= 2; v++ {
		av := &rivetv1.ActorVersion{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("web-v%d", v)}}
		av.Spec.PoolRef.Name, av.Spec.Version, av.Spec.Image = "web", v, fmt.Sprintf("registry.example/web:%d", v)
		if err := c.Create(ctx, av); err != nil {
			t.Fatal(err)
		}
	}
	setPool(t, c, pool, 1, 2, pv(1, rivetv1.PhaseCurrent, 2, 2, 10), pvn(2, rivetv1.PhasePending, 2, 0, 0))
	return pool
}

func cond(typ string, status bool, reason, msg string) metav1.Condition {
	s := metav1.ConditionFalse
	if status {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg, LastTransitionTime: metav1.Now()}
}

func pvn(v int64, phase rivetv1.ActorVersionPhase, replicas, available, actors int32) rivetv1.PoolVersionStatus {
	e := pv(v, phase, replicas, available, actors)
	e.Name = fmt.Sprintf("web-v%d", v)
	return e
}

func setPool(t *testing.T, c client.Client, pool *rivetv1.RunnerPool, current, latest int64, vs ...rivetv1.PoolVersionStatus) {
	t.Helper()
	ctx := kctx(t)
	if err := c.Get(ctx, client.ObjectKeyFromObject(pool), pool); err != nil {
		t.Fatal(err)
	}
	for i := range vs {
		vs[i].Name = fmt.Sprintf("web-v%d", vs[i].Version)
	}
	pool.Status.ObservedGeneration = pool.Generation
	pool.Status.CurrentVersion, pool.Status.LatestVersion, pool.Status.Versions = current, latest, vs
	pool.Status.Actors = 0
	for _, v := range vs {
		pool.Status.Actors += v.Actors
	}
	if err := c.Status().Update(ctx, pool); err != nil {
		t.Fatal(err)
	}
}

func TestStatusCommand(t *testing.T) {
	c, kubeconfig, ns := kubeNS(t)
	seed(t, c, ns)
	ctx := kctx(t)
	av := &rivetv1.ActorVersion{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-v2"}, av); err != nil {
		t.Fatal(err)
	}
	av.Status.Conditions = []metav1.Condition{cond(rivetv1.ConditionDegraded, true, "ImagePullBackOff", "pod web-v2-abc: Back-off pulling image")}
	if err := c.Status().Update(ctx, av); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	code, out, errOut := cli(t, env, "status", "--kubeconfig", kubeconfig, "-n", ns)
	if code != ExitOK {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	t.Logf("status:\n%s", out)
	for _, want := range []string{"eng", "True", "1/1", "web", "v1", "v2", "Current", "Pending", "2/2", "0/2", "10", "registry.example/web:2",
		"PROBLEMS", "ActorVersion " + ns + "/web-v2: ImagePullBackOff: pod web-v2-abc: Back-off pulling image"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = cli(t, env, "status", "--kubeconfig", kubeconfig, "-n", ns, "-o", "json")
	if code != ExitOK {
		t.Fatalf("status -o json: exit %d: %s", code, errOut)
	}
	var st Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Engines) != 1 || !st.Engines[0].Ready || len(st.Pools) != 1 || st.Pools[0].CurrentVersion != 1 || len(st.Versions) != 2 || st.Versions[1].Actors != 10 || len(st.Problems) != 1 {
		t.Fatalf("status = %+v", st)
	}
	// An empty namespace is no error; a missing kubeconfig is.
	if code, out, _ := cli(t, env, "status", "--kubeconfig", kubeconfig, "-n", "default"); code != ExitOK || !strings.Contains(out, "No RivetEngine") {
		t.Fatalf("status in an empty namespace: exit %d\n%s", code, out)
	}
	if code, _, errOut := cli(t, env, "status", "--kubeconfig", filepath.Join(t.TempDir(), "none")); code != ExitFailed || !strings.Contains(errOut, "kubeconfig") {
		t.Fatalf("status with a missing kubeconfig: exit %d: %s", code, errOut)
	}
}

func TestRolloutStatusCommand(t *testing.T) {
	c, kubeconfig, ns := kubeNS(t)
	pool := seed(t, c, ns)
	lines := make(chan string, 100)
	lw := &lineWriter{lines: lines}
	type result struct {
		code int
		err  string
	}
	done := make(chan result, 1)
	go func() {
		var errb strings.Builder
		code := Run(context.Background(), Env{Prog: "rivetkube", Stdout: lw, Stderr: &errb, Getenv: func(string) string { return "" }},
			[]string{"rollout", "status", "web", "--kubeconfig", kubeconfig, "-n", ns, "--interval", "50ms", "--timeout", "90s", "-o", "json"})
		close(lines)
		done <- result{code, errb.String()}
	}()
	var seen []string
	await := func(stage string, progress float64) {
		t.Helper()
		for l := range lines {
			seen = append(seen, l)
			var ro Rollout
			if err := json.Unmarshal([]byte(l), &ro); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			if ro.Stage == stage && ro.Progress == progress {
				return
			}
		}
		t.Fatalf("no %s at %v in:\n%s", stage, progress, strings.Join(seen, "\n"))
	}
	// The operator's story, step by step: v2 comes up, becomes current,
	// v1 drains, v1 is drained.
	await(StageStarting, 0)
	setPool(t, c, pool, 1, 2, pvn(1, rivetv1.PhaseCurrent, 2, 2, 10), pvn(2, rivetv1.PhasePending, 2, 1, 0))
	await(StageStarting, 0.5)
	setPool(t, c, pool, 2, 2, pvn(1, rivetv1.PhaseDraining, 2, 2, 6), pvn(2, rivetv1.PhaseCurrent, 2, 2, 4))
	await(StageDraining, 0.4)
	setPool(t, c, pool, 2, 2, pvn(1, rivetv1.PhaseDrained, 0, 0, 0), pvn(2, rivetv1.PhaseCurrent, 2, 2, 10))
	await(StageDone, 1)
	var r result
	select {
	case r = <-done:
	case <-time.After(time.Minute):
		t.Fatal("rollout status did not return")
	}
	if r.code != ExitOK {
		t.Fatalf("rollout status: exit %d: %s", r.code, r.err)
	}
	// Table output of a finished rollout, a timeout, a missing pool.
	if code, out, _ := cli(t, nil, "rollout", "status", "web", "--kubeconfig", kubeconfig, "-n", ns); code != ExitOK || !strings.Contains(out, "v2 is current") {
		t.Fatalf("finished rollout: exit %d\n%s", code, out)
	}
	setPool(t, c, pool, 2, 3, pvn(1, rivetv1.PhaseDrained, 0, 0, 0), pvn(2, rivetv1.PhaseCurrent, 2, 2, 10), pvn(3, rivetv1.PhasePending, 1, 0, 0))
	code, out, errOut := cli(t, nil, "rollout", "status", "web", "--kubeconfig", kubeconfig, "-n", ns, "--timeout", "1s", "--interval", "200ms")
	if code != ExitTimeout || !strings.Contains(errOut, "not finished after 1s") || !strings.Contains(out, "v3 starting: 0 of 1 pods available") {
		t.Fatalf("timeout: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if code, _, errOut := cli(t, nil, "rollout", "status", "nope", "--kubeconfig", kubeconfig, "-n", ns); code != ExitNotFound {
		t.Fatalf("missing pool: exit %d: %s", code, errOut)
	}
}

// lineWriter sends each written line to a channel (the command writes
// whole lines).
type lineWriter struct {
	mu    sync.Mutex
	buf   strings.Builder
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		s := w.buf.String()
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.lines <- s[:i]
		w.buf.Reset()
		w.buf.WriteString(s[i+1:])
	}
}
