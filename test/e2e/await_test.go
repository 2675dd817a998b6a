package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
)

// TestKill9DuringWaitPoint kills the local engine while an action waits at
// a wait point: what the action committed before the wait survives the
// restart, what it would have done after is not there, and its caller never
// got a reply.
func TestKill9DuringWaitPoint(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	for attempt := 0; attempt < 5; attempt++ {
		p := startEngineAt(t, addr, dir)
		c := newClient(t, p.Endpoint)
		key := []string{fmt.Sprintf("kill-%d", attempt)}
		h := c.GetOrCreate("waiter", key)
		reply := make(chan error, 1)
		go func() {
			_, err := client.Call[[]string](ctxT(t, 10*time.Second), h, "noteAndWait", "x", 1800)
			reply <- err
		}()
		// The actor answers while noteAndWait waits, and shows "x"
		// (committed at the wait point).
		deadline := time.Now().Add(10 * time.Second)
		for {
			log, err := client.Call[[]string](ctxT(t, 5*time.Second), h, "log")
			if err == nil && slices.Equal(log, []string{"x"}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("log never showed [x]: %v %v", log, err)
			}
		}
		p.kill()
		if err := <-reply; err == nil {
			// The action finished before the kill landed (a slow machine):
			// nothing to check; try again.
			t.Logf("attempt %d: the action finished before the kill; again", attempt)
			continue
		}
		p = startEngineAt(t, addr, dir)
		log, err := client.Call[[]string](ctxT(t, 10*time.Second), newClient(t, p.Endpoint).GetOrCreate("waiter", key), "log")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(log, []string{"x"}) {
			t.Fatalf("log after kill -9 during the wait = %v, want [x]", log)
		}
		p.stop()
		return
	}
	t.Fatal("the kill never landed during the wait in 5 attempts")
}
