//go:build unix

package integration

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/rivetkube/rivetkube/internal/testutil/jssuite"
)

// TestJSClientAgainstTwoGateways runs the RivetKit JS conformance suite
// against the distributed engine: two gateways on PostgreSQL and two
// runners, with a round-robin proxy in front so consecutive requests and
// connections land on different gateways.
func TestJSClientAgainstTwoGateways(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "js"))
	if err != nil {
		t.Fatal(err)
	}
	jssuite.Available(t, dir)
	c := newCluster(t)
	// The suite expects the fixture engine's limits: 1 MiB messages, 2 s actions.
	g0 := c.startGateway("RIVETKUBE_MAX_MESSAGE_SIZE=1048576")
	g1 := c.startGateway("RIVETKUBE_MAX_MESSAGE_SIZE=1048576")
	c.startRunner(1, "RIVETKUBE_ACTION_TIMEOUT=2s")
	c.startRunner(1, "RIVETKUBE_ACTION_TIMEOUT=2s")
	c.waitRunners(2)

	targets := []*url.URL{}
	for _, g := range []*node{g0, g1} {
		u, _ := url.Parse(g.endpoint())
		targets = append(targets, u)
	}
	var n atomic.Uint64
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(targets[n.Add(1)%uint64(len(targets))])
			r.Out.Host = r.In.Host
		},
		FlushInterval: -1,
	}
	front := httptest.NewServer(http.HandlerFunc(proxy.ServeHTTP))
	defer front.Close()
	jssuite.Run(t, dir, front.URL)
}
