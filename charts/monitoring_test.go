package charts

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestMonitoring checks the monitoring toggles: nothing by default; with
// them on, a PodMonitor scraping dataPlanePort of the operator's gateway
// and runner pods, a ServiceMonitor for the operator's metrics Service and
// the Grafana dashboard ConfigMap holding valid JSON.
func TestMonitoring(t *testing.T) {
	t.Parallel()
	off, err := template(t, "rivetkube")
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"PodMonitor", "ServiceMonitor"} {
		if n := len(off.all(kind)); n != 0 {
			t.Errorf("%d %s rendered by default", n, kind)
		}
	}
	if off.get(t, "ConfigMap", "rivetkube-dashboard", nil) {
		t.Error("the dashboard ConfigMap is rendered by default")
	}

	on, err := template(t, "rivetkube", "--set",
		"monitoring.podMonitor.enabled=true,monitoring.serviceMonitor.enabled=true,monitoring.grafanaDashboard.enabled=true,monitoring.dataPlanePort=9999,monitoring.podMonitor.labels.release=prom")
	if err != nil {
		t.Fatal(err)
	}
	pm := on.all("PodMonitor")
	if len(pm) != 1 {
		t.Fatalf("%d PodMonitors", len(pm))
	}
	if pm[0].GetLabels()["release"] != "prom" {
		t.Errorf("PodMonitor labels = %v", pm[0].GetLabels())
	}
	sel, _, _ := unstructured.NestedStringMap(pm[0].Object, "spec", "selector", "matchLabels")
	if sel["app.kubernetes.io/managed-by"] != "rivetkube-operator" || sel["app.kubernetes.io/part-of"] != "rivetkube" {
		t.Errorf("PodMonitor selects %v", sel)
	}
	eps, _, _ := unstructured.NestedSlice(pm[0].Object, "spec", "podMetricsEndpoints")
	b, _ := json.Marshal(eps)
	if !strings.Contains(string(b), ":9999") {
		t.Errorf("PodMonitor does not scrape dataPlanePort: %s", b)
	}
	sm := on.all("ServiceMonitor")
	if len(sm) != 1 || sm[0].GetName() != "rivetkube-operator" {
		t.Fatalf("ServiceMonitors: %v", on.names())
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	on.mustGet(t, "ConfigMap", "rivetkube-dashboard", &cm)
	var dash struct {
		Title  string `json:"title"`
		Panels []any  `json:"panels"`
	}
	if err := json.Unmarshal([]byte(cm.Data["rivetkube.json"]), &dash); err != nil || dash.Title != "rivetkube" || len(dash.Panels) < 10 {
		t.Errorf("dashboard in the ConfigMap: %v, title %q, %d panels", err, dash.Title, len(dash.Panels))
	}
}
