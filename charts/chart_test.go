// Package charts holds the tests of the Helm chart: they render it with
// `helm template` for default and non-default values and check the objects,
// the CRD toggles, the RBAC against config/rbac and the schema's
// rejections. helm comes from $HELM or PATH (hack/tool.sh helm builds it);
// without it the tests skip, or fail when RIVETKUBE_REQUIRE_HELM=1.
package charts

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const (
	chartDir  = "rivetkube"
	namespace = "rivetkube-system"
)

func helm(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HELM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if os.Getenv("RIVETKUBE_REQUIRE_HELM") == "1" {
		t.Fatal("helm not found: set HELM (bash hack/tool.sh helm prints it)")
	}
	t.Skip("helm not found (set HELM=$(bash hack/tool.sh helm), or RIVETKUBE_REQUIRE_HELM=1 to fail)")
	return ""
}

// rendered is the output of one `helm template`, by kind and name.
type rendered struct {
	objs []*unstructured.Unstructured
}

func (r rendered) all(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func (r rendered) get(t *testing.T, kind, name string, into any) bool {
	t.Helper()
	for _, o := range r.all(kind) {
		if o.GetName() == name {
			if into != nil {
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into); err != nil {
					t.Fatalf("%s %s: %v", kind, name, err)
				}
			}
			return true
		}
	}
	return false
}

func (r rendered) mustGet(t *testing.T, kind, name string, into any) {
	t.Helper()
	if !r.get(t, kind, name, into) {
		t.Fatalf("no %s %s in %v", kind, name, r.names())
	}
}

func (r rendered) names() []string {
	var n []string
	for _, o := range r.objs {
		n = append(n, o.GetKind()+"/"+o.GetName())
	}
	return n
}

// template runs `helm template` with the release name and extra flags.
func template(t *testing.T, release string, flags ...string) (rendered, error) {
	t.Helper()
	args := append([]string{"template", release, chartDir, "--namespace", namespace}, flags...)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helm(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return rendered{}, errors.New(err.Error() + ": " + stderr.String())
	}
	return decode(t, stdout.Bytes()), nil
}

func decode(t *testing.T, b []byte) rendered {
	t.Helper()
	var r rendered
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		var o unstructured.Unstructured
		err := dec.Decode(&o.Object)
		if err == io.EOF {
			return r
		}
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if len(o.Object) == 0 {
			continue
		}
		r.objs = append(r.objs, &o)
	}
}

func appVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^appVersion: *"?([^"\n]+)"?$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("Chart.yaml has no appVersion")
	}
	return string(m[1])
}

// configObject reads the first object of a kind from a config/ file.
func configObject(t *testing.T, file, kind string, into any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "config", file))
	if err != nil {
		t.Fatal(err)
	}
	r := decode(t, b)
	objs := r.all(kind)
	if len(objs) == 0 {
		t.Fatalf("%s has no %s", file, kind)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, into); err != nil {
		t.Fatal(err)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	r, err := template(t, "rivetkube")
	if err != nil {
		t.Fatal(err)
	}
	const name = "rivetkube-operator"

	// The CRDs of config/crd/bases, kept on uninstall.
	crdFiles, _ := filepath.Glob("../config/crd/bases/*.yaml")
	crds := r.all("CustomResourceDefinition")
	if len(crds) != len(crdFiles) || len(crds) != 3 {
		t.Errorf("%d CRDs rendered, %d in config/crd/bases", len(crds), len(crdFiles))
	}
	for _, c := range crds {
		if c.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s lacks helm.sh/resource-policy: keep", c.GetName())
		}
		if c.GetLabels()["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("CRD %s labels = %v", c.GetName(), c.GetLabels())
		}
	}
	for _, n := range []string{"rivetengines.rivetkube.dev", "runnerpools.rivetkube.dev", "actorversions.rivetkube.dev"} {
		r.mustGet(t, "CustomResourceDefinition", n, nil)
	}

	// RBAC: the rules of config/rbac, bound to the operator's account.
	var role, wantRole rbacv1.ClusterRole
	r.mustGet(t, "ClusterRole", name, &role)
	configObject(t, "rbac/role.yaml", "ClusterRole", &wantRole)
	if !reflect.DeepEqual(role.Rules, wantRole.Rules) {
		t.Errorf("ClusterRole rules differ from config/rbac/role.yaml (run make chart)")
	}
	var le, wantLE rbacv1.Role
	r.mustGet(t, "Role", name+"-leader-election", &le)
	configObject(t, "rbac/leader_election_role.yaml", "Role", &wantLE)
	if !reflect.DeepEqual(le.Rules, wantLE.Rules) || le.Namespace != namespace {
		t.Errorf("leader election Role = %+v", le)
	}
	var crb rbacv1.ClusterRoleBinding
	r.mustGet(t, "ClusterRoleBinding", name, &crb)
	var rb rbacv1.RoleBinding
	r.mustGet(t, "RoleBinding", name+"-leader-election", &rb)
	wantSubject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: namespace}}
	if !reflect.DeepEqual(crb.Subjects, wantSubject) || crb.RoleRef.Name != name ||
		!reflect.DeepEqual(rb.Subjects, wantSubject) || rb.RoleRef.Name != name+"-leader-election" || rb.RoleRef.Kind != "Role" {
		t.Errorf("bindings: %+v %+v / %+v %+v", crb.RoleRef, crb.Subjects, rb.RoleRef, rb.Subjects)
	}
	r.mustGet(t, "ServiceAccount", name, nil)

	// The Deployment: image from appVersion, leader election, metrics,
	// probes, restricted security.
	var d appsv1.Deployment
	r.mustGet(t, "Deployment", name, &d)
	if *d.Spec.Replicas != 2 || d.Namespace != namespace || d.Spec.Template.Spec.ServiceAccountName != name {
		t.Errorf("deployment replicas %d namespace %q account %q", *d.Spec.Replicas, d.Namespace, d.Spec.Template.Spec.ServiceAccountName)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if want := "rivetkube/operator:" + appVersion(t); c.Image != want {
		t.Errorf("image = %q, want %q", c.Image, want)
	}
	for _, a := range []string{"--leader-elect", "--leader-election-namespace=" + namespace, "--metrics-bind-address=:8080", "--health-probe-bind-address=:8081", "--zap-encoder=json"} {
		if !slices.Contains(c.Args, a) {
			t.Errorf("args %q lack %s", c.Args, a)
		}
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: %+v %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	ps := d.Spec.Template.Spec.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || c.SecurityContext == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("security contexts: %+v %+v", ps, c.SecurityContext)
	}
	sel := d.Spec.Selector.MatchLabels
	for k, v := range sel {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("pod labels %v do not match the selector %v", d.Spec.Template.Labels, sel)
		}
	}

	// The chart runs the operator the way config/manager does: every flag of
	// the kustomize Deployment is in the chart's.
	var md appsv1.Deployment
	configObject(t, "manager/manager.yaml", "Deployment", &md)
	for _, a := range md.Spec.Template.Spec.Containers[0].Args {
		if !slices.Contains(c.Args, a) {
			t.Errorf("config/manager passes %s, the chart does not (args %q)", a, c.Args)
		}
	}

	var svc corev1.Service
	r.mustGet(t, "Service", name+"-metrics", &svc)
	if svc.Spec.Ports[0].Port != 8080 || !reflect.DeepEqual(svc.Spec.Selector, sel) {
		t.Errorf("metrics Service: %+v", svc.Spec)
	}
	var pod corev1.Pod
	r.mustGet(t, "Pod", name+"-test-metrics", &pod)
	if pod.Annotations["helm.sh/hook"] != "test" || !strings.Contains(pod.Spec.Containers[0].Command[2], name+"-metrics."+namespace+".svc:8080") {
		t.Errorf("test pod: %v %q", pod.Annotations, pod.Spec.Containers[0].Command)
	}

	for _, o := range r.objs {
		switch o.GetKind() {
		case "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding":
			if o.GetNamespace() != "" {
				t.Errorf("%s %s is cluster-scoped but has namespace %q", o.GetKind(), o.GetName(), o.GetNamespace())
			}
		default:
			if o.GetNamespace() != namespace {
				t.Errorf("%s %s namespace = %q", o.GetKind(), o.GetName(), o.GetNamespace())
			}
		}
	}
}

func TestNonDefaults(t *testing.T) {
	t.Parallel()
	r, err := template(t, "prod",
		"--set", "crds.keep=false",
		"--set", "image.repository=registry.example/rivetkube/operator,image.tag=v9.9.9,image.pullPolicy=Never",
		"--set", "replicaCount=1,leaderElection.enabled=false",
		"--set", "metrics.enabled=false",
		"--set", "watchNamespace=apps",
		"--set", "serviceAccount.create=false,serviceAccount.name=existing",
		"--set", "logging.level=debug,logging.encoder=console",
		"--set", "extraArgs[0]=--zap-stacktrace-level=panic",
		"--set", "nodeSelector.disk=ssd",
	)
	if err != nil {
		t.Fatal(err)
	}
	const name = "prod-rivetkube-operator"
	for _, c := range r.all("CustomResourceDefinition") {
		if _, ok := c.GetAnnotations()["helm.sh/resource-policy"]; ok {
			t.Errorf("crds.keep=false, CRD %s still has the keep policy", c.GetName())
		}
	}
	if n := len(r.all("CustomResourceDefinition")); n != 3 {
		t.Errorf("%d CRDs", n)
	}
	var d appsv1.Deployment
	r.mustGet(t, "Deployment", name, &d)
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "registry.example/rivetkube/operator:v9.9.9" || c.ImagePullPolicy != corev1.PullNever {
		t.Errorf("image %q policy %q", c.Image, c.ImagePullPolicy)
	}
	if *d.Spec.Replicas != 1 || d.Spec.Template.Spec.ServiceAccountName != "existing" || d.Spec.Template.Spec.NodeSelector["disk"] != "ssd" {
		t.Errorf("replicas %d account %q nodeSelector %v", *d.Spec.Replicas, d.Spec.Template.Spec.ServiceAccountName, d.Spec.Template.Spec.NodeSelector)
	}
	for _, a := range []string{"--metrics-bind-address=0", "--namespace=apps", "--zap-log-level=debug", "--zap-encoder=console", "--zap-stacktrace-level=panic"} {
		if !slices.Contains(c.Args, a) {
			t.Errorf("args %q lack %s", c.Args, a)
		}
	}
	if slices.Contains(c.Args, "--leader-elect") {
		t.Errorf("leader election off, args %q", c.Args)
	}
	for _, p := range c.Ports {
		if p.Name == "metrics" {
			t.Error("metrics off, the container still declares the metrics port")
		}
	}
	for _, gone := range [][2]string{
		{"ServiceAccount", "existing"}, {"ServiceAccount", name},
		{"Role", name + "-leader-election"}, {"RoleBinding", name + "-leader-election"},
		{"Service", name + "-metrics"}, {"Pod", name + "-test-metrics"},
	} {
		if r.get(t, gone[0], gone[1], nil) {
			t.Errorf("%s %s rendered", gone[0], gone[1])
		}
	}
	var crb rbacv1.ClusterRoleBinding
	r.mustGet(t, "ClusterRoleBinding", name, &crb)
	if crb.Subjects[0].Name != "existing" {
		t.Errorf("binding subject %+v", crb.Subjects)
	}
}

func TestToggles(t *testing.T) {
	t.Parallel()
	r, err := template(t, "rivetkube", "--set", "crds.enabled=false,rbac.create=false,fullnameOverride=rk,tests.enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Pod"} {
		if objs := r.all(kind); len(objs) > 0 {
			t.Errorf("%d %s rendered", len(objs), kind)
		}
	}
	r.mustGet(t, "Deployment", "rk-operator", nil)
	r.mustGet(t, "ServiceAccount", "rk-operator", nil)
	r.mustGet(t, "Service", "rk-operator-metrics", nil)
}

func TestSchemaRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"negative replicas", []string{"--set", "replicaCount=-1"}, "replicaCount"},
		{"too many replicas", []string{"--set", "replicaCount=11"}, "replicaCount"},
		{"replicas as text", []string{"--set-string", "replicaCount=two"}, "replicaCount"},
		{"pull policy", []string{"--set", "image.pullPolicy=Sometimes"}, "pullPolicy"},
		{"empty repository", []string{"--set", "image.repository="}, "repository"},
		{"bad tag", []string{"--set", "image.tag=v1 beta"}, "tag"},
		{"metrics port", []string{"--set", "metrics.port=70000"}, "port"},
		{"probe port", []string{"--set", "probes.port=0"}, "port"},
		{"crds.enabled as text", []string{"--set-string", "crds.enabled=yes"}, "enabled"},
		{"crds.keep as number", []string{"--set", "crds.keep=1"}, "keep"},
		{"unknown key", []string{"--set", "replicas=3"}, "replicas"},
		{"unknown nested key", []string{"--set", "crds.install=true"}, "install"},
		{"duration", []string{"--set", "activePoll=soon"}, "activePoll"},
		{"log level", []string{"--set", "logging.level=trace"}, "level"},
		{"extra arg", []string{"--set", "extraArgs[0]=leader"}, "extraArgs"},
		{"namespace", []string{"--set", "watchNamespace=Apps_1"}, "watchNamespace"},
		{"grace", []string{"--set", "terminationGracePeriodSeconds=-5"}, "terminationGracePeriodSeconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := template(t, "rivetkube", tc.flags...)
			if err == nil {
				t.Fatal("rendered")
			}
			if !strings.Contains(err.Error(), "schema") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not name the schema and %q: %v", tc.want, err)
			}
		})
	}
	// Not a schema rule: two replicas without leader election.
	_, err := template(t, "rivetkube", "--set", "leaderElection.enabled=false")
	if err == nil || !strings.Contains(err.Error(), "needs leaderElection.enabled") {
		t.Errorf("two replicas without leader election: %v", err)
	}
}

func TestLint(t *testing.T) {
	t.Parallel()
	for _, flags := range [][]string{
		nil,
		{"--set", "crds.enabled=false,metrics.enabled=false,replicaCount=1,leaderElection.enabled=false"},
	} {
		args := append([]string{"lint", "--strict", chartDir}, flags...)
		out, err := exec.Command(helm(t), args...).CombinedOutput()
		if err != nil {
			t.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestNotes renders NOTES.txt (which `helm template` leaves out) through a
// ConfigMap added to a copy of the chart.
func TestNotes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "rivetkube")
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	probe := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: {{ include \"rivetkube/templates/NOTES.txt\" . | quote }}\n"
	if err := os.WriteFile(filepath.Join(dir, "templates", "notes-probe.yaml"), []byte(probe), 0o644); err != nil {
		t.Fatal(err)
	}
	notes := func(flags ...string) string {
		t.Helper()
		args := append([]string{"template", "rivetkube", dir, "--namespace", namespace, "--show-only", "templates/notes-probe.yaml"}, flags...)
		out, err := exec.Command(helm(t), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("helm %v: %v\n%s", args, err, out)
		}
		r := decode(t, out)
		s, _, _ := unstructured.NestedString(r.objs[0].Object, "data", "notes")
		return s
	}
	def := notes()
	for _, want := range []string{
		"rivetkube operator " + appVersion(t) + " is installed in namespace " + namespace,
		"rollout status deployment/rivetkube-operator",
		"helm test rivetkube",
		"helm.sh/resource-policy: keep",
		"rivetkube/gateway:" + appVersion(t),
	} {
		if !strings.Contains(def, want) {
			t.Errorf("default NOTES lack %q:\n%s", want, def)
		}
	}
	other := notes("--set", "crds.enabled=false,metrics.enabled=false,watchNamespace=apps")
	for _, want := range []string{"CRDs were not installed", "watching namespace apps only"} {
		if !strings.Contains(other, want) {
			t.Errorf("NOTES lack %q:\n%s", want, other)
		}
	}
	if strings.Contains(other, "helm test") {
		t.Errorf("no metrics Service, yet NOTES suggest helm test:\n%s", other)
	}
}
