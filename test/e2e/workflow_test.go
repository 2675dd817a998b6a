package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/testactors"
)

func effects(t *testing.T, dir string) []string {
	t.Helper()
	fx, err := testactors.Effects(dir)
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

// TestWorkflowReplaysAfterKill9 stops the engine with SIGKILL while the
// workflow waits for a message after its first step, restarts it, and
// checks the workflow continues from there: the first step's code does not
// run again, a failing step retries with backoff and its attempts show in
// the history, and a durable sleep, a loop and the last step complete.
func TestWorkflowReplaysAfterKill9(t *testing.T) {
	addr, dir := freeAddr(t), t.TempDir()
	e := startEngineAt(t, addr, dir)
	ctx := ctxT(t, 2*time.Minute)
	h := newClient(t, e.Endpoint).GetOrCreate("flow", []string{"replay"})
	status := func(h *client.Handle) testactors.FlowState {
		s, err := client.Call[testactors.FlowState](ctx, h, "status")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	poll(t, "step one", 20*time.Second, func() bool { return slices.Contains(status(h).Log, "one") })
	e.kill()

	e2 := startEngineAt(t, addr, dir)
	c2 := newClient(t, e2.Endpoint)
	h2 := c2.GetOrCreate("flow", []string{"replay"})
	_ = status(h2) // wakes the actor: the workflow replays up to the wait
	if _, err := h2.Send(ctx, "go", "ahead", client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "workflow done", 30*time.Second, func() bool { return status(h2).Done })

	s := status(h2)
	if !slices.Equal(s.Log, []string{"one", "two:ahead", "three"}) || s.Sum != 0+1+2 {
		t.Fatalf("state after workflow: %+v", s)
	}
	fx := effects(t, dir)
	if n := testactors.Count(fx, "one"); n != 1 {
		t.Fatalf("step one ran %d times (effects %v); a completed step must not run again on replay", n, fx)
	}
	if n := testactors.Count(fx, "two"); n != 3 {
		t.Fatalf("step two ran %d times; want 2 failures + 1 success", n)
	}
	if n := testactors.Count(fx, "add"); n != 3 {
		t.Fatalf("loop step ran %d times; want 3 iterations", n)
	}
	id, err := h2.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, body := inspector(t, e2.Endpoint, id, "GET", "workflow-history", nil)
	if st != 200 {
		t.Fatalf("history: %d %v", st, body)
	}
	byName := map[string]map[string]any{}
	for _, it := range body["steps"].([]any) {
		m := it.(map[string]any)
		byName[m["name"].(string)] = m
	}
	two := byName["two"]
	if two == nil || two["status"] != "completed" || two["attempts"] != float64(3) {
		t.Fatalf("history of step two: %v", two)
	}
	for _, name := range []string{"one", "wait-go", "nap", "loop[0]/add", "loop[2]/add", "loop", "three", "$done"} {
		if byName[name] == nil || byName[name]["status"] != "completed" {
			t.Fatalf("history lacks completed step %q: %v", name, body)
		}
	}
}

// TestWorkflowLoopWithStateSurvivesKill9 kills the local engine (SIGKILL)
// while the agent's endless LoopWithState handles a stream of queued tasks,
// restarts it on the same data, and sends more: every acknowledged task is
// handled once, in order; only the step running at the kill may have run
// twice; and the history holds the loop's checkpoint, not one iteration per
// task.
func TestWorkflowLoopWithStateSurvivesKill9(t *testing.T) {
	addr, dir := freeAddr(t), t.TempDir()
	e := startEngineAt(t, addr, dir)
	ctx := ctxT(t, 2*time.Minute)
	key := []string{"kill9"}
	var want []string
	send := func(h *client.Handle, from, to int) {
		for i := from; i < to; i++ {
			task := fmt.Sprintf("t-%d", i)
			if _, err := h.Send(ctx, "tasks", task, client.SendOptions{}); err != nil {
				t.Fatalf("send %s: %v", task, err)
			}
			want = append(want, task)
		}
	}
	processed := func(h *client.Handle) []string {
		got, err := client.Call[[]string](ctx, h, "getProcessed")
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	h := newClient(t, e.Endpoint).GetOrCreate("workflowAgent", key)
	send(h, 0, 30)
	poll(t, "5 tasks handled", 20*time.Second, func() bool { return len(processed(h)) >= 5 })
	e.kill() // 20 ms per task: about 25 are still queued

	e2 := startEngineAt(t, addr, dir)
	h2 := newClient(t, e2.Endpoint).GetOrCreate("workflowAgent", key)
	send(h2, 30, 40)
	poll(t, "every task handled", 30*time.Second, func() bool { return len(processed(h2)) >= len(want) })
	if got := processed(h2); !slices.Equal(got, want) {
		t.Fatalf("processed %v; want each task once, in order: %v", got, want)
	}
	twice, err := testactors.AgentStepRuns(effects(t, dir), want)
	if err != nil {
		t.Fatal(err)
	}
	id, err := h2.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []any
	poll(t, "the history compacted to the loop's checkpoint", 10*time.Second, func() bool {
		st, body := inspector(t, e2.Endpoint, id, "GET", "workflow-history", nil)
		if st != 200 {
			t.Fatalf("history: %d %v", st, body)
		}
		names = names[:0]
		for _, it := range body["steps"].([]any) {
			names = append(names, it.(map[string]any)["name"])
		}
		return len(names) == 1 && names[0] == "tasks[#]"
	})
	t.Logf("history after %d tasks: %v; steps run twice: %d", len(want), names, twice)
}
