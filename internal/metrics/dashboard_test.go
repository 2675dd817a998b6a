package metrics

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestDashboardNamesExist checks that every rivetkube_* series the Grafana
// dashboard queries is one this package defines, so a renamed metric
// cannot leave an empty panel behind.
func TestDashboardNamesExist(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../charts/rivetkube/dashboards/rivetkube.json")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	g, r, rn, s := NewGateway(reg), NewRouter(reg), NewRunner(reg), NewStore(reg)
	ch := make(chan *prometheus.Desc, 256)
	for _, c := range []prometheus.Collector{
		g.requests, g.duration, g.websockets, g.resolutions,
		r.conflicts, r.moved, r.remaining, r.leader, r.held, r.heldTotal, r.demand,
		rn.activations, rn.stops, rn.actions, rn.actionDur, rn.schedules, rn.frames, gaugeCollector{rn},
		s.commits, s.batch, s.latency, s.fenced,
	} {
		c.Describe(ch)
	}
	close(ch)
	defined := map[string]bool{}
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		defined[m[1]] = true
	}
	used := regexp.MustCompile(`rivetkube_[a-z_]+`).FindAllString(string(b), -1)
	if len(used) < 20 {
		t.Fatalf("the dashboard queries only %d rivetkube series", len(used))
	}
	for _, name := range used {
		base := name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if trimmed, ok := strings.CutSuffix(name, suf); ok && defined[trimmed] {
				base = trimmed
			}
		}
		if !defined[base] {
			t.Errorf("the dashboard queries %s, which no collector defines", name)
		}
	}
}
