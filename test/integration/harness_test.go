// Package integration runs the distributed engine as real processes on
// loopback: gateway processes (cmd/gateway) and runner processes (the
// fixture program with RIVET_ENDPOINT set) sharing a throwaway PostgreSQL,
// driven by the Go client. Scenarios: routing, runner and gateway kill -9,
// PostgreSQL restart, single activation under a stampede, version drain,
// fencing of a paused runner.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/testutil/pgtest"
	"github.com/rivetkube/rivetkube/internal/testutil/proc"
)

var gatewayBin, runnerBin string

const (
	adminToken = "integration-admin-token"
	runnerTok  = "integration-runner-token"
	lease      = "2s"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rivetkube-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if gatewayBin, err = proc.Build("../..", "./cmd/gateway", dir, "gateway"); err == nil {
		runnerBin, err = proc.Build("../..", "./test/e2e/fixture", dir, "runner")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

type cluster struct {
	t        *testing.T
	pg       *pgtest.Server
	url      string
	gateways []*node
	runners  []*node
}

type node struct {
	*proc.Proc
	addr    string
	version uint64
}

func (n *node) endpoint() string { return "http://" + n.addr }

func newCluster(t *testing.T) *cluster {
	t.Helper()
	pg := pgtest.StartServer(t)
	return &cluster{t: t, pg: pg, url: pg.NewDatabase(t)}
}

func (c *cluster) startGateway(env ...string) *node {
	c.t.Helper()
	addr := proc.FreeAddr(c.t)
	p := proc.Start(c.t, fmt.Sprintf("gateway-%d", len(c.gateways)), gatewayBin, append([]string{
		"RIVETKUBE_POSTGRES_URL=" + c.url,
		"RIVETKUBE_LISTEN=" + addr,
		"RIVETKUBE_ADMIN_TOKEN=" + adminToken,
		"RIVETKUBE_RUNNER_TOKEN=" + runnerTok,
		"RIVETKUBE_LEASE=" + lease,
		"RIVETKUBE_WAIT_TIMEOUT=20s",
		"RIVETKUBE_LOG_FORMAT=text",
	}, env...), "http://"+addr+"/healthz")
	n := &node{Proc: p, addr: addr}
	c.gateways = append(c.gateways, n)
	return n
}

func (c *cluster) startRunner(version uint64, env ...string) *node {
	c.t.Helper()
	addr := proc.FreeAddr(c.t)
	p := proc.Start(c.t, fmt.Sprintf("runner-%d-v%d", len(c.runners), version), runnerBin, append([]string{
		"RIVET_ENDPOINT=" + c.gateways[0].endpoint(),
		"RIVETKUBE_POSTGRES_URL=" + c.url,
		"RIVET_RUNNER_LISTEN=" + addr,
		"RIVET_RUNNER_ADDRESS=" + addr,
		"RIVET_RUNNER_VERSION=" + strconv.FormatUint(version, 10),
		"RIVETKUBE_RUNNER_TOKEN=" + runnerTok,
		"RIVETKUBE_LEASE=" + lease,
		"RIVETKUBE_ACTION_TIMEOUT=5s",
		"RIVETKUBE_SHUTDOWN_TIMEOUT=20s",
	}, env...), "http://"+addr+"/healthz")
	n := &node{Proc: p, addr: addr, version: version}
	c.runners = append(c.runners, n)
	return n
}

// poolStatus is the admin API's view of the default pool.
type poolStatus struct {
	Ready    []uint64 `json:"ready"`
	Draining []uint64 `json:"draining"`
	Actors   int      `json:"actors"`
	Runners  []struct {
		ID       string `json:"id"`
		Version  uint64 `json:"version"`
		Address  string `json:"address"`
		Alive    bool   `json:"alive"`
		Draining bool   `json:"draining"`
		Actors   int    `json:"actors"`
	} `json:"runners"`
	Versions map[string]struct {
		Runners     int `json:"runners"`
		LiveRunners int `json:"liveRunners"`
		Actors      int `json:"actors"`
	} `json:"versions"`
}

func (c *cluster) admin(method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	for _, g := range c.gateways {
		select {
		case <-g.Exited():
			continue
		default:
		}
		req, _ := http.NewRequest(method, g.endpoint()+path, rd)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		if out != nil {
			return json.Unmarshal(b, out)
		}
		return nil
	}
	return fmt.Errorf("no gateway alive")
}

func (c *cluster) status() poolStatus {
	c.t.Helper()
	var st poolStatus
	if err := c.admin(http.MethodGet, "/admin/pools/default", nil, &st); err != nil {
		c.t.Fatal(err)
	}
	return st
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitRunners waits until n runners are alive in the registry.
func (c *cluster) waitRunners(n int) {
	c.t.Helper()
	waitFor(c.t, fmt.Sprintf("%d live runners", n), 30*time.Second, func() bool {
		live := 0
		for _, r := range c.status().Runners {
			if r.Alive {
				live++
			}
		}
		return live == n
	})
}

func (c *cluster) client(g *node, enc client.Encoding) *client.Client {
	c.t.Helper()
	cl, err := client.New(client.Config{Endpoint: g.endpoint(), Encoding: enc})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
