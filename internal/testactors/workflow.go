package testactors

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rivetkube/rivetkube/rivet"
)

// FlowState is what the workflow test actor keeps.
type FlowState struct {
	Log       []string `cbor:"log"`
	FailsLeft int      `cbor:"failsLeft"`
	Sum       int      `cbor:"sum"`
	Done      bool     `cbor:"done"`
}

// sideEffect appends to a file outside the actor's commits, so tests can
// count how often a step's code really ran (across kill -9).
func sideEffect(what string) {
	dir := os.Getenv("RIVETKUBE_DATA_DIR")
	if dir == "" {
		return
	}
	f, err := os.OpenFile(filepath.Join(dir, EffectsFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.WriteString(what + "\n")
	_ = f.Sync()
}

// EffectsFile is the file in RIVETKUBE_DATA_DIR where the workflow test
// actors record each run of their steps' code.
const EffectsFile = "workflow-effects.log"

// Effects reads the side effects recorded in dir (none when the file does
// not exist yet).
func Effects(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, EffectsFile))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

// Count is how many of effects are what.
func Count(effects []string, what string) int {
	n := 0
	for _, e := range effects {
		if e == what {
			n++
		}
	}
	return n
}

// Flow runs a durable workflow: a step, a wait for a "go" message, a step
// that fails twice before it succeeds, a durable sleep, a loop of three
// iterations, and a last step.
var Flow = rivet.New("flow", rivet.Options[FlowState]{
	Queues:       []string{"go"},
	SleepTimeout: 5 * time.Second,
	CreateState:  func(*rivet.Ctx[FlowState], rivet.Raw) (FlowState, error) { return FlowState{FailsLeft: 2}, nil },
	Workflow: func(w *rivet.Workflow[FlowState]) error {
		if _, err := rivet.Step(w, "one", func(c *rivet.Ctx[FlowState]) (int, error) {
			sideEffect("one")
			c.State().Log = append(c.State().Log, "one")
			return 1, nil
		}); err != nil {
			return err
		}
		msg, err := w.Next("wait-go", "go")
		if err != nil {
			return err
		}
		var goBody string
		_ = msg.Decode(&goBody)
		if _, err := rivet.Step(w, "two", func(c *rivet.Ctx[FlowState]) (string, error) {
			sideEffect("two")
			if c.State().FailsLeft > 0 {
				c.State().FailsLeft--
				return "", errors.New("transient failure")
			}
			c.State().Log = append(c.State().Log, "two:"+goBody)
			return goBody, nil
		}, rivet.StepOptions{Backoff: 20 * time.Millisecond}); err != nil {
			return err
		}
		if err := w.Sleep("nap", 300*time.Millisecond); err != nil {
			return err
		}
		sum, err := rivet.Loop(w, "loop", func(w *rivet.Workflow[FlowState], i int) (int, bool, error) {
			v, err := rivet.Step(w, "add", func(c *rivet.Ctx[FlowState]) (int, error) {
				sideEffect("add")
				c.State().Sum += i
				return c.State().Sum, nil
			})
			return v, i >= 2, err
		})
		if err != nil {
			return err
		}
		_, err = rivet.Step(w, "three", func(c *rivet.Ctx[FlowState]) (int, error) {
			sideEffect("three")
			c.State().Log = append(c.State().Log, "three")
			c.State().Done = true
			return sum, nil
		})
		return err
	},
}).
	Action("status", func(c *rivet.Ctx[FlowState]) (FlowState, error) { return *c.State(), nil })

// AgentState is what the agent test actor keeps.
type AgentState struct {
	Processed []string `cbor:"processed"`
}

// Agent is a workflow that runs forever: a LoopWithState takes each
// message of queue "tasks", handles it in a step (recording a side effect,
// see sideEffect) and carries the count of handled tasks as its loop
// state. Its history stays the size of one iteration.
var Agent = rivet.New("workflowAgent", rivet.Options[AgentState]{
	Queues:       []string{"tasks"},
	SleepTimeout: 5 * time.Second,
	Workflow: func(w *rivet.Workflow[AgentState]) error {
		_, err := rivet.LoopWithState(w, "tasks", 0, func(w *rivet.Workflow[AgentState], i int, handled int) (int, struct{}, bool, error) {
			msg, err := w.Next("take", "tasks")
			if err != nil {
				return handled, struct{}{}, false, err
			}
			var task string
			if err := msg.Decode(&task); err != nil {
				return handled, struct{}{}, false, err
			}
			_, err = rivet.Step(w, "handle", func(c *rivet.Ctx[AgentState]) (int, error) {
				sideEffect("task:" + task)
				time.Sleep(20 * time.Millisecond) // long enough to be killed mid-step
				c.State().Processed = append(c.State().Processed, task)
				return len(c.State().Processed), nil
			})
			return handled + 1, struct{}{}, false, err
		})
		return err
	},
}).
	Action("getProcessed", func(c *rivet.Ctx[AgentState]) ([]string, error) { return c.State().Processed, nil })

// AgentStepRuns checks the agent's side effects against the tasks it was
// sent: each task's step ran once, except at most one that ran twice (the
// step that was running when its process was killed: at least once). It
// returns how many ran twice.
func AgentStepRuns(effects, tasks []string) (twice int, err error) {
	for _, task := range tasks {
		switch n := Count(effects, "task:"+task); n {
		case 1:
		case 2:
			twice++
		default:
			return twice, fmt.Errorf("task %s's step ran %d times (effects %v)", task, n, effects)
		}
	}
	if twice > 1 {
		return twice, fmt.Errorf("%d tasks' steps ran twice; only the one running at the kill may", twice)
	}
	return twice, nil
}
