package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
)

// Actor-to-actor call chains through two gateways and two runners: relay
// a bounces to b and back (each call is a wait point, so the chain
// re-enters actors that are waiting), and order reaches inventory.
func TestAwaitCallChainsOnTwoRunners(t *testing.T) {
	c := newCluster(t)
	g0 := c.startGateway()
	g1 := c.startGateway()
	c.startRunner(1)
	c.startRunner(1)
	c.waitRunners(2)
	for i, g := range []*node{g0, g1} {
		cl := c.client(g, client.EncodingCBOR)
		n, err := client.Call[int64](ctxFor(t, 20*time.Second), cl.GetOrCreate("relay", []string{"a"}), "bounce", 4)
		if err != nil || n != 4 {
			t.Fatalf("gateway %d: relay a bounce(4) = %d, %v; want 4", i, n, err)
		}
	}
	cl := c.client(g1, client.EncodingBARE)
	before, err := client.Call[int64](ctxFor(t, 10*time.Second), cl.GetOrCreate("inventory", []string{"main"}), "getStock")
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.Call[int64](ctxFor(t, 10*time.Second), cl.GetOrCreate("order", []string{"o1"}), "process")
	if err != nil || got != before-1 {
		t.Fatalf("order.process = %d, %v; want %d", got, err, before-1)
	}
}

// TestRunnerKill9DuringWaitPoint kills every runner while an action waits:
// on a new runner the actor has what it committed before the wait, not
// what it would have done after, and the caller got no reply.
func TestRunnerKill9DuringWaitPoint(t *testing.T) {
	c := newCluster(t)
	g := c.startGateway()
	c.startRunner(1)
	c.waitRunners(1)
	cl := c.client(g, client.EncodingBARE)
	for attempt := 0; attempt < 5; attempt++ {
		key := []string{fmt.Sprintf("kill-%d", attempt)}
		h := cl.GetOrCreate("waiter", key)
		reply := make(chan error, 1)
		go func() {
			_, err := client.Call[[]string](ctxFor(t, 30*time.Second), h, "noteAndWait", "x", 4000)
			reply <- err
		}()
		waitFor(t, "the log to show [x] during the wait", 10*time.Second, func() bool {
			log, err := client.Call[[]string](ctxFor(t, 5*time.Second), h, "log")
			return err == nil && slices.Equal(log, []string{"x"})
		})
		for _, r := range c.runners {
			r.Kill()
		}
		if err := <-reply; err == nil {
			t.Logf("attempt %d: the action finished before the kill; again", attempt)
			c.startRunner(1)
			continue
		}
		c.startRunner(1)
		var log []string
		waitFor(t, "the actor on the new runner", 30*time.Second, func() bool {
			var err error
			log, err = client.Call[[]string](ctxFor(t, 10*time.Second), h, "log")
			return err == nil
		})
		if !slices.Equal(log, []string{"x"}) {
			t.Fatalf("log after kill -9 during the wait = %v, want [x]", log)
		}
		return
	}
	t.Fatal("the kill never landed during the wait in 5 attempts")
}
