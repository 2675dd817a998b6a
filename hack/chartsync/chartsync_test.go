package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChartMatchesConfig is the drift check: the committed chart templates
// are what chartsync renders from the committed config/.
func TestChartMatchesConfig(t *testing.T) {
	t.Parallel()
	files, err := Render("../../config")
	if err != nil {
		t.Fatal(err)
	}
	problems, err := Diff("../../charts/rivetkube", files)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s (run 'make chart')", p)
	}
}

const crd = `---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  annotations:
    controller-gen.kubebuilder.io/version: v0.23.0
  name: things.example.dev
spec:
  group: example.dev
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        description: 'Renders {{ .Name }} literally.'
        type: object
`

const role = `---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: x
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get]
`

const leRole = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: le
rules:
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: le
`

func writeConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for p, s := range map[string]string{
		"crd/bases/example.dev_things.yaml": crd,
		"rbac/role.yaml":                    role,
		"rbac/leader_election_role.yaml":    leRole,
	} {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRender(t *testing.T) {
	t.Parallel()
	files, err := Render(writeConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	c := string(files["templates/crds/example.dev_things.yaml"])
	for _, want := range []string{
		"{{- if .Values.crds.enabled }}\n",
		"  name: things.example.dev\n",
		`    controller-gen.kubebuilder.io/version: "v0.23.0"` + "\n",
		"    {{- if .Values.crds.keep }}\n    helm.sh/resource-policy: keep\n",
		"spec:\n  group: example.dev\n",
		`Renders {{ "{{" }} .Name }} literally.`,
	} {
		if !strings.Contains(c, want) {
			t.Errorf("CRD template lacks %q:\n%s", want, c)
		}
	}
	if strings.Count(c, "apiVersion:") != 1 || strings.Contains(c, "---") {
		t.Errorf("CRD template:\n%s", c)
	}
	r := string(files["templates/rbac/clusterrole.yaml"])
	if !strings.Contains(r, "rules:\n- apiGroups:\n  - \"\"\n  resources:\n  - pods\n  verbs:\n  - get\n") {
		t.Errorf("ClusterRole template:\n%s", r)
	}
	le := string(files["templates/rbac/leader-election-role.yaml"])
	if !strings.Contains(le, "  - leases\n") || !strings.Contains(le, ".Values.leaderElection.enabled") {
		t.Errorf("leader election template:\n%s", le)
	}
}

func TestCheckFindsDrift(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t)
	chart := t.TempDir()
	if err := run([]string{"-config", cfg, "-chart", chart}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-config", cfg, "-chart", chart, "-check"}, io.Discard); err != nil {
		t.Fatalf("fresh chart: %v", err)
	}
	// A new rule in config/rbac makes the chart stale.
	if err := os.WriteFile(filepath.Join(cfg, "rbac/role.yaml"), []byte(role+"- apiGroups: [apps]\n  resources: [deployments]\n  verbs: [get]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-config", cfg, "-chart", chart, "-check"}, io.Discard); !errors.Is(err, ErrStale) {
		t.Errorf("changed role: err = %v, want ErrStale", err)
	}
	if err := run([]string{"-config", cfg, "-chart", chart}, io.Discard); err != nil {
		t.Fatal(err)
	}
	// A CRD removed from config/ leaves a template behind.
	if err := os.WriteFile(filepath.Join(chart, "templates/crds/old.yaml"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	files, _ := Render(cfg)
	problems, err := Diff(chart, files)
	if err != nil || len(problems) != 1 || !strings.Contains(problems[0], "old.yaml") {
		t.Errorf("left-over CRD: problems %q, err %v", problems, err)
	}
	// Writing removes it.
	if err := run([]string{"-config", cfg, "-chart", chart}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(chart, "templates/crds/old.yaml")); !os.IsNotExist(err) {
		t.Error("left-over CRD template not removed")
	}
}

func TestRejectsBadInput(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t)
	if err := os.WriteFile(filepath.Join(cfg, "rbac/role.yaml"), []byte("kind: Role\nrules: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Render(cfg); err == nil || !strings.Contains(err.Error(), "no ClusterRole") {
		t.Errorf("role.yaml without a ClusterRole: err = %v", err)
	}
	if _, err := Render(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no CRDs") {
		t.Errorf("empty config: err = %v", err)
	}
	if _, err := crdTemplate([]byte("kind: ConfigMap\nmetadata:\n  name: x\n"), "x"); err == nil {
		t.Error("a ConfigMap rendered as a CRD")
	}
}
