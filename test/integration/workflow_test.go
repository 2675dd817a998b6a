package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/testactors"
	"github.com/rivetkube/rivetkube/rivet"
)

// Workflows on PostgreSQL: the runner hosting a workflow is killed with
// SIGKILL and the workflow continues on another runner from its committed
// history. The fixture actors (internal/testactors' flow and agent) append
// each step's side effect to workflow-effects.log in RIVETKUBE_DATA_DIR, a
// directory all runners of a test share, so the tests count how often step
// code really ran across processes.

func workflowEffects(t *testing.T, dir string) []string {
	t.Helper()
	fx, err := testactors.Effects(dir)
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

// workflowCluster starts a gateway and one runner whose side effects go
// to the returned directory.
func workflowCluster(t *testing.T) (c *cluster, g *node, dir string) {
	c = newCluster(t)
	g = c.startGateway()
	dir = t.TempDir()
	c.startRunner(1, "RIVETKUBE_DATA_DIR="+dir)
	c.waitRunners(1)
	return c, g, dir
}

// TestWorkflowReplaysAfterRunnerKill9: the flow workflow's runner is killed
// while the workflow waits for a message after its first step; on another
// runner it replays without running the first step again, retries the
// failing step with backoff, and finishes its sleep, loop and last step.
func TestWorkflowReplaysAfterRunnerKill9(t *testing.T) {
	c, g, dir := workflowCluster(t)
	ctx := ctxFor(t, 3*time.Minute)
	h := c.client(g, client.EncodingBARE).GetOrCreate("flow", []string{"pg-replay"})
	status := func() (testactors.FlowState, error) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return client.Call[testactors.FlowState](cctx, h, "status")
	}
	waitFor(t, "step one", 30*time.Second, func() bool {
		s, err := status()
		return err == nil && slices.Contains(s.Log, "one")
	})
	c.runners[0].Kill()
	c.startRunner(1, "RIVETKUBE_DATA_DIR="+dir)
	c.waitRunners(1)

	if _, err := h.Send(ctx, "go", "ahead", client.SendOptions{}); err != nil {
		t.Fatalf("send go: %v", err)
	}
	var s testactors.FlowState
	waitFor(t, "the workflow done on the new runner", 60*time.Second, func() bool {
		var err error
		s, err = status()
		return err == nil && s.Done
	})
	if !slices.Equal(s.Log, []string{"one", "two:ahead", "three"}) || s.Sum != 0+1+2 {
		t.Fatalf("state after the workflow: %+v", s)
	}
	fx := workflowEffects(t, dir)
	if n := testactors.Count(fx, "one"); n != 1 {
		t.Fatalf("step one ran %d times (effects %v); a completed step must not run again on replay", n, fx)
	}
	if n := testactors.Count(fx, "two"); n != 3 {
		t.Fatalf("step two ran %d times; want 2 failures + 1 success", n)
	}
	if n := testactors.Count(fx, "add"); n != 3 {
		t.Fatalf("the loop's step ran %d times; want 3 iterations", n)
	}
}

// TestWorkflowLoopWithStateSurvivesRunnerKill9: the agent's endless
// LoopWithState is killed (SIGKILL of its runner) while it handles a
// stream of queued tasks; on another runner it resumes at its checkpoint.
// Every acknowledged task is handled once in the committed state, in
// order; only a step that was running at the kill may have run twice (at
// least once); and the history holds one iteration, not one per task.
func TestWorkflowLoopWithStateSurvivesRunnerKill9(t *testing.T) {
	c, g, dir := workflowCluster(t)
	ctx := ctxFor(t, 3*time.Minute)
	h := c.client(g, client.EncodingBARE).GetOrCreate("workflowAgent", []string{"pg-agent"})
	var want []string
	send := func(from, to int) {
		for i := from; i < to; i++ {
			task := fmt.Sprintf("t-%d", i)
			if _, err := h.Send(ctx, "tasks", task, client.SendOptions{}); err != nil {
				t.Fatalf("send %s: %v", task, err)
			}
			want = append(want, task)
		}
	}
	send(0, 30)
	waitStrings(t, h, "getProcessed", 5, 30*time.Second)
	c.runners[0].Kill() // 20 ms per task: about 25 are still queued
	c.startRunner(1, "RIVETKUBE_DATA_DIR="+dir)
	c.waitRunners(1)
	send(30, 40)
	got := waitStrings(t, h, "getProcessed", len(want), 60*time.Second)
	if !slices.Equal(got, want) {
		t.Fatalf("processed %v; want each task once, in order: %v", got, want)
	}
	twice, err := testactors.AgentStepRuns(workflowEffects(t, dir), want)
	if err != nil {
		t.Fatal(err)
	}

	id, err := h.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := c.openStore()
	var steps []string
	waitFor(t, "the history compacted to the waiting iteration", 30*time.Second, func() bool {
		sts, err := s.ListWorkflowSteps(ctx, id, rivet.WorkflowRun)
		if err != nil {
			return false
		}
		steps = steps[:0]
		for _, st := range sts {
			steps = append(steps, st.Name)
		}
		return slices.Equal(steps, []string{"tasks[#]"})
	})
	t.Logf("history after %d tasks: %v; steps run twice: %d", len(want), steps, twice)
}
