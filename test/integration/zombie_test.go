package integration

import (
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
)

// TestResumedRunnerServesNoStaleRead: a runner frozen past its lease comes
// back while a gateway still routes the actor to it. Its heartbeat then
// succeeds again (its registry row was never removed), but the actor moved
// meanwhile: the old instance must not answer, not even a read. The chaos
// harness found such stale reads after PostgreSQL restarts (docs/reliability.md).
func TestResumedRunnerServesNoStaleRead(t *testing.T) {
	c := newCluster(t)
	g0, g1 := c.startGateway(), c.startGateway()
	r0 := c.startRunner(1)
	c.waitRunners(1)
	ctx := ctxFor(t, 2*time.Minute)
	key := []string{"zombie-read"}
	h0 := c.client(g0, client.EncodingBARE).GetOrCreate("counter", key)
	h1 := c.client(g1, client.EncodingBARE).Get("counter", key)
	if _, err := client.Call[int64](ctx, h0, "increment", 1); err != nil {
		t.Fatal(err)
	}
	// Gateway 1 learns the placement on r0.
	if n, err := client.Call[int64](ctx, h1, "getCount"); err != nil || n != 1 {
		t.Fatalf("first read through gateway 1: %d, %v", n, err)
	}

	// Freeze r0 for more than a lease but less than the three leases after
	// which gateways remove a runner's row: its heartbeat then succeeds
	// again on resume, and only the runner itself can tell that its lease
	// ran out meanwhile.
	c.startRunner(1)
	c.waitRunners(2)
	r0.Pause()
	paused := time.Now()
	// A gateway with no cached placement moves the actor once r0's lease ran
	// out; nothing reaches r0 meanwhile (a request queued there would be a
	// write that fails its fence and stops the old instance, hiding the bug).
	time.Sleep(2500 * time.Millisecond) // past the 2 s lease
	g2 := c.startGateway()
	h2 := c.client(g2, client.EncodingBARE).Get("counter", key)
	if _, err := client.Call[int64](ctx, h2, "increment", 1); err != nil {
		t.Fatalf("increment after failover: %v", err)
	}
	acked := int64(2)
	r0.Resume()
	if d := time.Since(paused); d > 5*time.Second {
		t.Logf("r0 was frozen for %v: gateways may have removed its row already, which fences it another way", d)
	}
	// Give r0 time to heartbeat again, then read through gateway 1, which
	// still routes to r0.
	time.Sleep(time.Second)
	for i := 0; i < 10; i++ {
		n, err := client.Call[int64](ctx, h1, "getCount")
		if err != nil {
			t.Fatalf("read %d through gateway 1: %v", i, err)
		}
		if n != acked {
			t.Fatalf("read %d through gateway 1 answered %d, but %d increments were acknowledged: a stale instance served it", i, n, acked)
		}
	}
}
