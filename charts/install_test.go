package charts

import (
	"os"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// TestInstallYAML checks the committed dist/install.yaml: everything the
// operator needs, in an order `kubectl apply` can take, pointing at the
// chart's appVersion. hack/check-release.sh checks it is what
// `make build-installer` renders from config/ today.
func TestInstallYAML(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../dist/install.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := decode(t, b)
	if len(r.objs) == 0 || r.objs[0].GetKind() != "Namespace" || r.objs[0].GetName() != namespace {
		t.Fatalf("install.yaml does not start with Namespace %s: %v", namespace, r.names())
	}
	firstDeployment, lastCRD := -1, -1
	for i, o := range r.objs {
		switch o.GetKind() {
		case "CustomResourceDefinition":
			lastCRD = i
		case "Deployment":
			if firstDeployment < 0 {
				firstDeployment = i
			}
		}
	}
	if lastCRD < 0 || firstDeployment < lastCRD {
		t.Errorf("CRDs must come before the Deployment: %v", r.names())
	}
	if n := len(r.all("CustomResourceDefinition")); n != 3 {
		t.Errorf("%d CRDs", n)
	}
	const name = "rivetkube-operator"
	var role, wantRole rbacv1.ClusterRole
	r.mustGet(t, "ClusterRole", name, &role)
	configObject(t, "rbac/role.yaml", "ClusterRole", &wantRole)
	if !reflect.DeepEqual(role.Rules, wantRole.Rules) {
		t.Error("ClusterRole rules differ from config/rbac/role.yaml (run make build-installer)")
	}
	for _, kn := range [][2]string{
		{"ServiceAccount", name}, {"ClusterRoleBinding", name},
		{"Role", name + "-leader-election"}, {"RoleBinding", name + "-leader-election"},
	} {
		r.mustGet(t, kn[0], kn[1], nil)
	}
	var d appsv1.Deployment
	r.mustGet(t, "Deployment", name, &d)
	if want := "rivetkube/operator:" + appVersion(t); d.Spec.Template.Spec.Containers[0].Image != want {
		t.Errorf("image = %q, want %q (run make build-installer)", d.Spec.Template.Spec.Containers[0].Image, want)
	}
	for _, o := range r.objs {
		switch o.GetKind() {
		case "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding":
		default:
			if o.GetNamespace() != namespace {
				t.Errorf("%s %s namespace = %q", o.GetKind(), o.GetName(), o.GetNamespace())
			}
		}
	}
}
