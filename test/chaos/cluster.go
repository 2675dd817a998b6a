package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/rivetkube/rivetkube/internal/admin"
	"github.com/rivetkube/rivetkube/internal/testutil/pgtest"
	"github.com/rivetkube/rivetkube/internal/testutil/proc"
	"github.com/rivetkube/rivetkube/test/chaos/chaosactors"
)

const (
	adminToken  = "chaos-admin-token"
	runnerToken = "chaos-runner-token"
	lease       = 2 * time.Second
)

// node is a gateway or runner process that faults kill and restart on the
// same address.
type node struct {
	name, bin, addr, health string
	env                     []string
	version                 uint64
	link                    *linkProxy // runners only

	mu      sync.Mutex
	p       *proc.Proc
	paused  bool
	retired bool // a drained runner that is not restarted
}

func (n *node) start() error {
	p, err := proc.Launch(n.name, n.bin, n.env, n.health)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.p = p
	n.mu.Unlock()
	return nil
}

func (n *node) proc() *proc.Proc {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.p
}

func (n *node) kill() {
	if p := n.proc(); p != nil {
		p.Kill()
	}
}

func (n *node) endpoint() string { return "http://" + n.addr }

// cluster is the system under test.
type cluster struct {
	dir        string // binaries and activation logs
	gatewayBin string
	runnerBin  string
	pg         *pgtest.Server
	gateways   []*node
	ctx        context.Context

	mu      sync.Mutex
	runners []*node
	nextRun int
	version uint64
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// buildBinaries compiles the gateway and the chaos runner into dir.
func buildBinaries(root, dir string) (gw, rn string, err error) {
	if gw, err = proc.Build(root, "./cmd/gateway", dir, "gateway"); err != nil {
		return "", "", fmt.Errorf("build gateway: %w", err)
	}
	if rn, err = proc.Build(root, "./test/chaos/runner", dir, "chaos-runner"); err != nil {
		return "", "", fmt.Errorf("build runner: %w", err)
	}
	return gw, rn, nil
}

// startCluster starts PostgreSQL, gateways and runners of version 1.
func startCluster(ctx context.Context, dir, gatewayBin, runnerBin string, gateways, runners int) (*cluster, error) {
	pg, err := pgtest.Launch()
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, gatewayBin: gatewayBin, runnerBin: runnerBin, pg: pg, ctx: ctx, version: 1}
	for i := 0; i < gateways; i++ {
		addr, err := freeAddr()
		if err != nil {
			return c, err
		}
		g := &node{name: fmt.Sprintf("gateway-%d", i), bin: gatewayBin, addr: addr, health: "http://" + addr + "/healthz",
			env: []string{
				"RIVETKUBE_POSTGRES_URL=" + pg.URL,
				"RIVETKUBE_LISTEN=" + addr,
				"RIVETKUBE_ADMIN_TOKEN=" + adminToken,
				"RIVETKUBE_RUNNER_TOKEN=" + runnerToken,
				"RIVETKUBE_LEASE=" + lease.String(),
				"RIVETKUBE_WAIT_TIMEOUT=8s",
				"RIVETKUBE_LOG_FORMAT=text",
				"RIVETKUBE_LOG_LEVEL=warn",
			}}
		if err := g.start(); err != nil {
			return c, err
		}
		c.gateways = append(c.gateways, g)
	}
	for i := 0; i < runners; i++ {
		if _, err := c.addRunner(1); err != nil {
			return c, err
		}
	}
	if err := c.waitRunners(runners, 60*time.Second); err != nil {
		return c, err
	}
	ctx2, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = c.admin().SetRouting(ctx2, "default", admin.Routing{Ready: []uint64{1}, DrainRate: 20})
	return c, err
}

// addRunner starts a runner of version v behind its own link proxy.
func (c *cluster) addRunner(v uint64) (*node, error) {
	c.mu.Lock()
	i := c.nextRun
	c.nextRun++
	c.mu.Unlock()
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	proxyAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	link, err := newLinkProxy(proxyAddr, listen)
	if err != nil {
		return nil, err
	}
	go link.serve(c.ctx)
	name := fmt.Sprintf("runner-%d-v%d", i, v)
	r := &node{name: name, bin: c.runnerBin, addr: listen, health: "http://" + listen + "/healthz", version: v, link: link,
		env: []string{
			"RIVET_ENDPOINT=" + c.gateways[0].endpoint(),
			"RIVETKUBE_POSTGRES_URL=" + c.pg.URL,
			"RIVET_RUNNER_LISTEN=" + listen,
			"RIVET_RUNNER_ADDRESS=" + link.Addr(),
			"RIVET_RUNNER_VERSION=" + strconv.FormatUint(v, 10),
			"RIVETKUBE_RUNNER_TOKEN=" + runnerToken,
			"RIVETKUBE_LEASE=" + lease.String(),
			"RIVETKUBE_ACTION_TIMEOUT=5s",
			"RIVETKUBE_SHUTDOWN_TIMEOUT=20s",
			"RIVETKUBE_LOG_LEVEL=warn",
			chaosactors.LogEnv + "=" + filepath.Join(c.dir, name+".log"),
			chaosactors.RunnerEnv + "=" + name,
		}}
	if err := r.start(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.runners = append(c.runners, r)
	c.mu.Unlock()
	return r, nil
}

// liveRunners returns the runners not retired by a drain.
func (c *cluster) liveRunners() []*node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*node
	for _, r := range c.runners {
		if !r.retired {
			out = append(out, r)
		}
	}
	return out
}

func (c *cluster) admin() *admin.Client {
	return admin.New(c.gateways[0].endpoint(), adminToken, nil)
}

// status asks any gateway that answers.
func (c *cluster) status(ctx context.Context) (admin.PoolStatus, error) {
	var err error
	for _, g := range c.gateways {
		var st admin.PoolStatus
		st, err = admin.New(g.endpoint(), adminToken, nil).PoolStatus(ctx, "default")
		if err == nil {
			return st, nil
		}
	}
	return admin.PoolStatus{}, err
}

func (c *cluster) setRouting(ctx context.Context, r admin.Routing) error {
	var err error
	for _, g := range c.gateways {
		if _, err = admin.New(g.endpoint(), adminToken, nil).SetRouting(ctx, "default", r); err == nil {
			return nil
		}
	}
	return err
}

// waitRunners waits until n runners are alive in the registry.
func (c *cluster) waitRunners(n int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		st, err := c.status(ctx)
		cancel()
		live := 0
		for _, r := range st.Runners {
			if r.Alive {
				live++
			}
		}
		if err == nil && live >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d runners alive after %v (last error: %v)", live, n, d, err)
		}
		select {
		case <-c.ctx.Done():
			return c.ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop stops every process and PostgreSQL, and removes the database.
func (c *cluster) stop() {
	var wg sync.WaitGroup
	for _, n := range append(append([]*node(nil), c.gateways...), c.liveRunners()...) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p := n.proc(); p != nil {
				p.Stop(10 * time.Second)
			}
		}()
	}
	wg.Wait()
	if c.pg != nil {
		if err := c.pg.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "chaos: stop postgres:", err)
		}
	}
}
