// Command chartsync renders the Helm chart's generated templates from
// config/: the CRDs (config/crd/bases, behind crds.enabled, with
// helm.sh/resource-policy: keep behind crds.keep) and the operator's RBAC
// rules (config/rbac/role.yaml from the kubebuilder markers, and the leader
// election Role). With -check it writes nothing and fails when a generated
// template is missing, stale or left over, so CI catches a chart that no
// longer matches config/.
//
//	chartsync [-config config] [-chart charts/rivetkube] [-check]
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// ErrStale is returned by -check when the chart does not match config/.
var ErrStale = errors.New("chart templates are stale; run 'make chart' and commit the result")

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chartsync:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("chartsync", flag.ContinueOnError)
	config := fs.String("config", "config", "kubebuilder config directory")
	chart := fs.String("chart", "charts/rivetkube", "chart directory")
	check := fs.Bool("check", false, "fail when the generated templates differ from config/ instead of writing them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	files, err := Render(*config)
	if err != nil {
		return err
	}
	if *check {
		problems, err := Diff(*chart, files)
		if err != nil {
			return err
		}
		if len(problems) > 0 {
			for _, p := range problems {
				fmt.Fprintln(stdout, "chartsync:", p)
			}
			return ErrStale
		}
		fmt.Fprintf(stdout, "chartsync: %d generated chart templates match %s\n", len(files), *config)
		return nil
	}
	return Write(*chart, files)
}

// generatedDirs hold only generated templates: a file there that Render
// does not produce is stale.
var generatedDirs = []string{"templates/crds"}

// Render returns the generated templates, keyed by their path in the chart.
func Render(configDir string) (map[string][]byte, error) {
	out := map[string][]byte{}
	crds, err := filepath.Glob(filepath.Join(configDir, "crd", "bases", "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("no CRDs in %s", filepath.Join(configDir, "crd", "bases"))
	}
	sort.Strings(crds)
	for _, p := range crds {
		src, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		b, err := crdTemplate(src, "config/crd/bases/"+filepath.Base(p))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out["templates/crds/"+filepath.Base(p)] = b
	}

	rolePath := filepath.Join(configDir, "rbac", "role.yaml")
	rules, err := readRules(rolePath, "ClusterRole")
	if err != nil {
		return nil, err
	}
	b, err := roleTemplate("config/rbac/role.yaml", "ClusterRole", rules)
	if err != nil {
		return nil, err
	}
	out["templates/rbac/clusterrole.yaml"] = b

	lePath := filepath.Join(configDir, "rbac", "leader_election_role.yaml")
	rules, err = readRules(lePath, "Role")
	if err != nil {
		return nil, err
	}
	if b, err = roleTemplate("config/rbac/leader_election_role.yaml", "Role", rules); err != nil {
		return nil, err
	}
	out["templates/rbac/leader-election-role.yaml"] = b
	return out, nil
}

// Write writes the generated templates and removes stale ones.
func Write(chartDir string, files map[string][]byte) error {
	for _, d := range generatedDirs {
		if err := os.MkdirAll(filepath.Join(chartDir, d), 0o755); err != nil {
			return err
		}
		entries, err := os.ReadDir(filepath.Join(chartDir, d))
		if err != nil {
			return err
		}
		for _, e := range entries {
			rel := d + "/" + e.Name()
			if _, ok := files[rel]; !ok {
				if err := os.Remove(filepath.Join(chartDir, rel)); err != nil {
					return err
				}
			}
		}
	}
	for rel, b := range files {
		p := filepath.Join(chartDir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Diff lists the generated templates that are missing, differ or are left
// over in chartDir.
func Diff(chartDir string, files map[string][]byte) ([]string, error) {
	var problems []string
	rels := make([]string, 0, len(files))
	for rel := range files {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	for _, rel := range rels {
		have, err := os.ReadFile(filepath.Join(chartDir, filepath.FromSlash(rel)))
		switch {
		case errors.Is(err, os.ErrNotExist):
			problems = append(problems, rel+" is missing")
		case err != nil:
			return nil, err
		case !bytes.Equal(have, files[rel]):
			problems = append(problems, rel+" differs: "+firstDiff(have, files[rel]))
		}
	}
	for _, d := range generatedDirs {
		entries, err := os.ReadDir(filepath.Join(chartDir, d))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, e := range entries {
			if _, ok := files[d+"/"+e.Name()]; !ok {
				problems = append(problems, d+"/"+e.Name()+" is not generated from config/ (left over)")
			}
		}
	}
	return problems, nil
}

func firstDiff(have, want []byte) string {
	h, w := strings.Split(string(have), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(h) || i < len(w); i++ {
		var a, b string
		if i < len(h) {
			a = h[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return fmt.Sprintf("line %d is %q, want %q", i+1, a, b)
		}
	}
	return "contents differ"
}

func header(src string) string {
	return "{{/* Code generated by hack/chartsync from " + src + "; DO NOT EDIT. Run 'make chart'. */}}\n"
}

// escape keeps text that Helm must pass through verbatim from being read
// as a template action.
func escape(s string) string {
	return strings.ReplaceAll(s, "{{", `{{ "{{" }}`)
}

type objectMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations"`
		Labels      map[string]string `json:"labels"`
	} `json:"metadata"`
}

// crdTemplate keeps the CRD's text as controller-gen wrote it, except for
// the metadata, which gains the chart's labels and the keep policy.
func crdTemplate(src []byte, srcPath string) ([]byte, error) {
	var m objectMeta
	if err := yaml.Unmarshal(src, &m); err != nil {
		return nil, err
	}
	if m.Kind != "CustomResourceDefinition" || m.Metadata.Name == "" {
		return nil, fmt.Errorf("not a CustomResourceDefinition with a name")
	}
	if bytes.Contains(src, []byte("\n---")) {
		return nil, fmt.Errorf("holds more than one object")
	}
	var b strings.Builder
	b.WriteString(header(srcPath))
	b.WriteString("{{- if .Values.crds.enabled }}\n")
	fmt.Fprintf(&b, "apiVersion: %s\nkind: %s\nmetadata:\n  name: %s\n", m.APIVersion, m.Kind, m.Metadata.Name)
	b.WriteString("  labels:\n")
	for _, k := range sortedKeys(m.Metadata.Labels) {
		fmt.Fprintf(&b, "    %s: %q\n", k, m.Metadata.Labels[k])
	}
	b.WriteString("    {{- include \"rivetkube.labels\" . | nindent 4 }}\n")
	b.WriteString("  annotations:\n")
	for _, k := range sortedKeys(m.Metadata.Annotations) {
		fmt.Fprintf(&b, "    %s: %q\n", k, m.Metadata.Annotations[k])
	}
	b.WriteString("    {{- if .Values.crds.keep }}\n    helm.sh/resource-policy: keep\n    {{- end }}\n")
	for _, blk := range topLevelBlocks(string(src)) {
		switch blk.key {
		case "apiVersion", "kind", "metadata":
			continue
		}
		b.WriteString(escape(blk.text))
	}
	b.WriteString("{{- end }}\n")
	return []byte(b.String()), nil
}

type block struct{ key, text string }

// topLevelBlocks splits a one-object YAML document into its top-level keys
// with their text (the key's line and the indented lines under it).
func topLevelBlocks(doc string) []block {
	var blocks []block
	for _, line := range strings.SplitAfter(doc, "\n") {
		if line == "" || strings.TrimSpace(line) == "---" {
			continue
		}
		c := line[0]
		top := c != ' ' && c != '\t' && c != '#' && c != '-' && c != '\n' && c != '\r'
		if top {
			key, _, _ := strings.Cut(line, ":")
			blocks = append(blocks, block{key: strings.TrimSpace(key), text: line})
			continue
		}
		if len(blocks) > 0 {
			blocks[len(blocks)-1].text += line
		}
	}
	return blocks
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// readRules returns the rules of the first object of the given kind in a
// (possibly multi-document) RBAC file.
func readRules(p, kind string) ([]rbacv1.PolicyRule, error) {
	src, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	for _, doc := range strings.Split("\n"+string(src), "\n---") {
		var obj struct {
			Kind  string              `json:"kind"`
			Rules []rbacv1.PolicyRule `json:"rules"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if obj.Kind == kind {
			if len(obj.Rules) == 0 {
				return nil, fmt.Errorf("%s: the %s has no rules", p, kind)
			}
			return obj.Rules, nil
		}
	}
	return nil, fmt.Errorf("%s: no %s", p, kind)
}

// roleTemplate renders the operator's ClusterRole or its leader election
// Role with the given rules.
func roleTemplate(srcPath, kind string, rules []rbacv1.PolicyRule) ([]byte, error) {
	rb, err := yaml.Marshal(rules)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString(header(srcPath))
	switch kind {
	case "ClusterRole":
		b.WriteString("{{- if .Values.rbac.create }}\n")
		b.WriteString("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n")
		b.WriteString("  name: {{ include \"rivetkube.operatorName\" . }}\n")
	case "Role":
		b.WriteString("{{- if and .Values.rbac.create .Values.leaderElection.enabled }}\n")
		b.WriteString("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n")
		b.WriteString("  name: {{ include \"rivetkube.operatorName\" . }}-leader-election\n")
		b.WriteString("  namespace: {{ .Release.Namespace }}\n")
	default:
		return nil, fmt.Errorf("kind %s", kind)
	}
	b.WriteString("  labels:\n    {{- include \"rivetkube.operatorLabels\" . | nindent 4 }}\n")
	b.WriteString("rules:\n")
	b.WriteString(escape(string(rb)))
	b.WriteString("{{- end }}\n")
	return []byte(b.String()), nil
}
