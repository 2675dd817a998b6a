package integration

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
)

// sinceDemandMs reads the admin status's demand age of the default pool
// (nil: no demand recorded).
func (c *cluster) sinceDemandMs() *int64 {
	c.t.Helper()
	var st struct {
		SinceDemandMs *int64 `json:"sinceDemandMs"`
	}
	if err := c.admin(http.MethodGet, "/admin/pools/default", nil, &st); err != nil {
		c.t.Fatal(err)
	}
	return st.SinceDemandMs
}

// A pool whose last runner went away (scaled to zero): a request for one
// of its actors waits in the gateway, the engine records the pool's demand
// for the operator, and the runner that starts after the request arrived
// answers it, with the actor's state intact. With no runner coming, the
// request gets actor/not_ready at the gateway's cold start bound.
func TestHeldRequestAnsweredByRunnerStartedAfterIt(t *testing.T) {
	c := newCluster(t)
	g := c.startGateway("RIVETKUBE_COLD_START_TIMEOUT=40s")
	r := c.startRunner(1)
	c.waitRunners(1)
	cl := c.client(g, client.EncodingJSON)
	if n, err := client.Call[int64](ctxFor(t, 30*time.Second), cl.GetOrCreate("counter", []string{"zero"}), "increment", 1); err != nil || n != 1 {
		t.Fatalf("first call: %d, %v", n, err)
	}
	if c.sinceDemandMs() != nil {
		t.Fatal("demand recorded while the pool had a runner")
	}
	// The pool goes to zero: its only runner stops (its actor sleeps, its
	// state committed) and leaves the registry.
	r.Stop(20 * time.Second)
	c.waitRunners(0)

	type answer struct {
		n   int64
		err error
		at  time.Time
	}
	done := make(chan answer, 1)
	sent := time.Now()
	go func() {
		n, err := client.Call[int64](ctxFor(t, 60*time.Second), cl.GetOrCreate("counter", []string{"zero"}), "increment", 1)
		done <- answer{n, err, time.Now()}
	}()
	waitFor(t, "the pool's demand", 20*time.Second, func() bool { return c.sinceDemandMs() != nil })
	select {
	case a := <-done:
		t.Fatalf("answered with no runner in the pool: %d, %v", a.n, a.err)
	case <-time.After(time.Second):
	}
	started := time.Now()
	c.startRunner(1)
	a := <-done
	if a.err != nil || a.n != 2 {
		t.Fatalf("held call: %d, %v; want 2", a.n, a.err)
	}
	t.Logf("held %s in all; answered %s after the runner process started", a.at.Sub(sent).Round(time.Millisecond), a.at.Sub(started).Round(time.Millisecond))
}

func TestHeldRequestGetsNotReadyWhenNoRunnerComes(t *testing.T) {
	c := newCluster(t)
	g := c.startGateway("RIVETKUBE_COLD_START_TIMEOUT=3s", "RIVETKUBE_WAIT_TIMEOUT=1s")
	r := c.startRunner(1)
	c.waitRunners(1)
	cl := c.client(g, client.EncodingJSON)
	if _, err := client.Call[int64](ctxFor(t, 30*time.Second), cl.GetOrCreate("counter", []string{"none"}), "increment", 1); err != nil {
		t.Fatal(err)
	}
	r.Stop(20 * time.Second)
	c.waitRunners(0)

	start := time.Now()
	_, err := client.Call[int64](ctxFor(t, 30*time.Second), cl.GetOrCreate("counter", []string{"none"}), "increment", 1)
	var ae *client.ActorError
	if !errors.As(err, &ae) || ae.Group != "actor" || ae.Code != "not_ready" || ae.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("call with no runner coming: %v; want actor/not_ready (503)", err)
	}
	if waited := time.Since(start); waited < 3*time.Second {
		t.Fatalf("answered after %s, before the 3s cold start bound", waited)
	}
	// A name no runner ever defined is still unknown (not held).
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost,
		g.endpoint()+"/gateway/nothing/action/increment?rvt-method=getOrCreate&rvt-key=x", nil)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct{ Group, Code string }
	_ = json.Unmarshal(body, &e)
	if resp.StatusCode == http.StatusOK || e.Code == "not_ready" {
		t.Fatalf("unknown actor name: %d %s; want an unknown-name error at once", resp.StatusCode, body)
	}
}
