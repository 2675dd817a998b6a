package controller

// Controller tests against a real kube-apiserver and etcd (envtest), a real
// PostgreSQL (pgtest), a real gateway process (cmd/gateway) behind the
// admin API, and real runner processes (test/e2e/fixture) where a scenario
// needs actor counts. No pods run in envtest: tests make Deployments
// "available" by patching their status and create Pod objects where the
// autoscaler must match runners to pods.

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
	rivetclient "github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/admin"
	"github.com/rivetkube/rivetkube/internal/testutil/k8stest"
	"github.com/rivetkube/rivetkube/internal/testutil/pgtest"
	"github.com/rivetkube/rivetkube/internal/testutil/proc"
)

const (
	adminToken  = "controller-test-admin-token"
	runnerToken = "controller-test-runner-token"
)

var (
	restCfg               *rest.Config
	scheme                = runtime.NewScheme()
	k8sClient             client.Client
	skipReason            string
	gatewayBin, runnerBin string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(rivetv1.AddToScheme(scheme))
	var logOut io.Writer = io.Discard
	if os.Getenv("RIVETKUBE_TEST_VERBOSE") != "" {
		logOut = os.Stderr
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(logOut)))

	dir := k8stest.Dir()
	if skipReason = k8stest.Missing(); skipReason != "" {
		if k8stest.Required() {
			fmt.Fprintln(os.Stderr, "FAIL:", skipReason)
			return 1
		}
		return m.Run() // every envtest test skips; the unit tests run
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		// Generous: CI machines are small and busy.
		ControlPlaneStartTimeout: 3 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
		AttachControlPlaneOutput: os.Getenv("RIVETKUBE_TEST_VERBOSE") != "",
	}
	var err error
	if restCfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start envtest:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if k8sClient, err = client.New(restCfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	bins, err := os.MkdirTemp("", "rivetkube-controller-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(bins)
	if gatewayBin, err = proc.Build("..", "./cmd/gateway", bins, "gateway"); err == nil {
		runnerBin, err = proc.Build("..", "./test/e2e/fixture", bins, "runner")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		return 1
	}
	return m.Run()
}

func needK8s(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// env is one test's world: a namespace, a database, a gateway process and
// an operator manager limited to the namespace.
type env struct {
	t       *testing.T
	ctx     context.Context
	ns      string
	pgURL   string
	gateway string // http://127.0.0.1:port
	admin   *admin.Client
	opts    Options
	rec     struct {
		engine  *RivetEngineReconciler
		pool    *RunnerPoolReconciler
		version *ActorVersionReconciler
	}
}

var nsSeq int

func newEnv(t *testing.T) *env {
	t.Helper()
	needK8s(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	nsSeq++
	e := &env{t: t, ctx: ctx, ns: fmt.Sprintf("t%d-%d", nsSeq, time.Now().UnixNano()%100000)}
	if err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}); err != nil {
		t.Fatal(err)
	}
	e.pgURL = pgtest.StartServer(t).NewDatabase(t)
	addr := proc.FreeAddr(t)
	proc.Start(t, "gateway", gatewayBin, []string{
		"RIVETKUBE_POSTGRES_URL=" + e.pgURL,
		"RIVETKUBE_LISTEN=" + addr,
		"RIVETKUBE_ADMIN_TOKEN=" + adminToken,
		"RIVETKUBE_RUNNER_TOKEN=" + runnerToken,
		"RIVETKUBE_LEASE=2s",
		"RIVETKUBE_LOG_FORMAT=text",
	}, "http://"+addr+"/healthz")
	e.gateway = "http://" + addr
	e.admin = admin.New(e.gateway, adminToken, nil)

	for name, data := range map[string]map[string][]byte{
		"pg":     {"url": []byte(e.pgURL)},
		"admin":  {"token": []byte(adminToken)},
		"runner": {"token": []byte(runnerToken)},
	} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name}, Data: data}
		if err := k8sClient.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}

	e.opts = Options{
		GatewayURLOverride: func(*rivetv1.RivetEngine) string { return e.gateway },
		ActivePoll:         200 * time.Millisecond,
		IdlePoll:           time.Second,
		SkipNameValidation: true,
	}
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  CacheOptions(e.ns), // what the operator binary uses
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := Setup(ctx, mgr, e.opts); err != nil {
		t.Fatal(err)
	}
	// Reconcilers for direct calls (the idempotency checks).
	e.opts.defaults()
	b := base{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: scheme, Opts: e.opts, Recorder: mgr.GetEventRecorder("test")}
	e.rec.engine = &RivetEngineReconciler{base: b}
	e.rec.pool = &RunnerPoolReconciler{base: b, recs: newRecommendations()}
	e.rec.version = &ActorVersionReconciler{base: b}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	return e
}

// waitFor polls cond (the API server has no event for gateway-side
// changes) until it holds; msg describes the last state seen.
func (e *env) waitFor(what string, timeout time.Duration, cond func() (bool, string)) {
	e.t.Helper()
	// The bounds are for a busy 2-core CI machine running other suites in
	// parallel; a condition that holds returns at once.
	timeout *= 3
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) key(name string) client.ObjectKey { return client.ObjectKey{Namespace: e.ns, Name: name} }

func (e *env) create(objs ...client.Object) {
	e.t.Helper()
	for _, o := range objs {
		o.SetNamespace(e.ns)
		if err := k8sClient.Create(e.ctx, o); err != nil {
			e.t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

func (e *env) engine(name string) *rivetv1.RivetEngine {
	return &rivetv1.RivetEngine{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: rivetv1.RivetEngineSpec{
			Postgres:             rivetv1.PostgresSpec{URLSecretRef: rivetv1.SecretKeyRef{Name: "pg", Key: "url"}},
			Gateway:              rivetv1.GatewaySpec{Image: "rivetkube/gateway:test", Replicas: ptr.To[int32](1)},
			AdminTokenSecretRef:  rivetv1.SecretKeyRef{Name: "admin", Key: "token"},
			RunnerTokenSecretRef: &rivetv1.SecretKeyRef{Name: "runner", Key: "token"},
		},
	}
}

func pool(name, engine string) *rivetv1.RunnerPool {
	return &rivetv1.RunnerPool{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: rivetv1.RunnerPoolSpec{
			EngineRef:   rivetv1.LocalRef{Name: engine},
			MinReplicas: 1, MaxReplicas: 3,
			Autoscaling: rivetv1.AutoscalingSpec{
				TargetActorsPerRunner:        100,
				ScaleDownStabilizationWindow: &metav1.Duration{},
			},
			Drain: rivetv1.DrainSpec{DeleteDrainedAfter: &metav1.Duration{Duration: time.Hour}},
		},
	}
}

func version(name, pool string, v int64) *rivetv1.ActorVersion {
	return &rivetv1.ActorVersion{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       rivetv1.ActorVersionSpec{PoolRef: rivetv1.LocalRef{Name: pool}, Version: v, Image: "example/app:" + strconv.FormatInt(v, 10)},
	}
}

// deployment reads a Deployment (nil when absent).
func (e *env) deployment(name string) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	if err := k8sClient.Get(e.ctx, e.key(name), d); err != nil {
		return nil
	}
	return d
}

// makeAvailable plays the Deployment controller: every replica of the
// Deployment is updated and available.
func (e *env) makeAvailable(name string) {
	e.t.Helper()
	e.waitFor("deployment "+name, 20*time.Second, func() (bool, string) { return e.deployment(name) != nil, "absent" })
	for {
		d := e.deployment(name)
		n := ptr.Deref(d.Spec.Replicas, 1)
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"}},
		}
		err := k8sClient.Status().Update(e.ctx, d)
		if err == nil {
			return
		}
		if !isConflict(err) {
			e.t.Fatal(err)
		}
	}
}

func (e *env) av(name string) *rivetv1.ActorVersion {
	a := &rivetv1.ActorVersion{}
	if err := k8sClient.Get(e.ctx, e.key(name), a); err != nil {
		return nil
	}
	return a
}

func (e *env) pool(name string) *rivetv1.RunnerPool {
	p := &rivetv1.RunnerPool{}
	if err := k8sClient.Get(e.ctx, e.key(name), p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) poolStatus(pool string) admin.PoolStatus {
	e.t.Helper()
	st, err := e.admin.PoolStatus(e.ctx, pool)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// runner is a real runner process of pool at version v on a free port.
type runner struct {
	*proc.Proc
	addr string
}

func (e *env) startRunner(pool string, v int64, extraEnv ...string) *runner {
	e.t.Helper()
	addr := proc.FreeAddr(e.t)
	p := proc.Start(e.t, fmt.Sprintf("runner-%s-v%d-%s", pool, v, addr), runnerBin, append([]string{
		"RIVET_ENDPOINT=" + e.gateway,
		"RIVET_POOL=" + pool,
		"RIVETKUBE_POSTGRES_URL=" + e.pgURL,
		"RIVET_RUNNER_LISTEN=" + addr,
		"RIVET_RUNNER_ADDRESS=" + addr,
		"RIVET_RUNNER_VERSION=" + strconv.FormatInt(v, 10),
		"RIVETKUBE_RUNNER_TOKEN=" + runnerToken,
		"RIVETKUBE_LEASE=2s",
		"RIVETKUBE_SHUTDOWN_TIMEOUT=10s",
		"RIVETKUBE_SLEEP_TIMEOUT=10m",
	}, extraEnv...), "http://"+addr+"/healthz")
	return &runner{Proc: p, addr: addr}
}

func isConflict(err error) bool { return apierrors.IsConflict(err) }

// actors creates n awake counter actors in pool through the gateway.
func (e *env) actors(pool, prefix string, n int) {
	e.t.Helper()
	cl, err := rivetclient.New(rivetclient.Config{Endpoint: e.gateway, Encoding: rivetclient.EncodingJSON, PoolName: pool})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	for i := range n {
		if _, err := rivetclient.Call[int64](ctx, cl.GetOrCreate("counter", []string{fmt.Sprint(prefix, i)}), "increment", 1); err != nil {
			e.t.Fatalf("actor %s%d: %v", prefix, i, err)
		}
	}
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func reqFor(o client.Object) reconcile.Request {
	return reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)}
}

func typeName(l client.ObjectList) string { return fmt.Sprintf("%T", l) }

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
