package chaosactors

import (
	"sort"
	"strings"
	"time"

	"github.com/rivetkube/rivetkube/rivet"
)

// CounterState is the counter's durable state.
type CounterState struct {
	Count int64 `cbor:"count"`
}

// RegisterState maps keys to the last value put.
type RegisterState struct {
	Values map[string]string `cbor:"values"`
}

// JobsState holds the ids of the messages the Run loop handled.
type JobsState struct {
	Done map[string]bool `cbor:"done"`
}

// CountEvent is the event the counter broadcasts after each increment.
const CountEvent = "count"

// sleepAfter makes idle actors sleep often, so that wakes happen under load.
const sleepAfter = 2 * time.Second

func id[S any](c *rivet.Ctx[S]) string { return c.Name() + "/" + strings.Join(c.Key(), "/") }

func hooks[S any]() rivet.Options[S] {
	return rivet.Options[S]{
		SleepTimeout: sleepAfter,
		OnWake:       func(c *rivet.Ctx[S]) error { logEntry(id(c), c.Generation(), "wake", ""); return nil },
		OnSleep:      func(c *rivet.Ctx[S]) error { logEntry(id(c), c.Generation(), "sleep", ""); return nil },
	}
}

// Counter counts; increment broadcasts the new count as CountEvent.
var Counter = rivet.New("counter", hooks[CounterState]()).
	Action("increment", func(c *rivet.Ctx[CounterState], op string) (int64, error) {
		logEntry(id(c), c.Generation(), "act", op)
		c.State().Count++
		if err := c.Broadcast(CountEvent, c.State().Count); err != nil {
			return 0, err
		}
		return c.State().Count, nil
	}).
	Action("get", func(c *rivet.Ctx[CounterState]) (int64, error) { return c.State().Count, nil })

// Register is a map of registers: put(k, v, op) and get(k) ("" when unset).
var Register = rivet.New("register", hooks[RegisterState]()).
	Action("put", func(c *rivet.Ctx[RegisterState], k, v, op string) error {
		logEntry(id(c), c.Generation(), "act", op)
		if c.State().Values == nil {
			c.State().Values = map[string]string{}
		}
		c.State().Values[k] = v
		return nil
	}).
	Action("get", func(c *rivet.Ctx[RegisterState], k string) (string, error) { return c.State().Values[k], nil })

// jobsOptions adds the Run loop to the hooks.
func jobsOptions() rivet.Options[JobsState] {
	o := hooks[JobsState]()
	o.Queues = []string{"work"}
	o.MaxQueueSize = 200
	o.Run = func(c *rivet.Ctx[JobsState], q *rivet.Queue) error {
		for {
			m, err := q.Next(c, "work")
			if err != nil {
				return err
			}
			var op string
			if err := m.Decode(&op); err != nil {
				return err
			}
			logEntry(id(c), c.Generation(), "act", op)
			if c.State().Done == nil {
				c.State().Done = map[string]bool{}
			}
			c.State().Done[op] = true
			if err := m.Complete(op); err != nil {
				return err
			}
		}
	}
	return o
}

// Jobs handles the messages of its "work" queue in its Run loop, records
// each message's body (an operation id) and completes it with that body.
var Jobs = rivet.New("jobs", jobsOptions()).
	Action("done", func(c *rivet.Ctx[JobsState]) ([]string, error) {
		out := make([]string, 0, len(c.State().Done))
		for op := range c.State().Done {
			out = append(out, op)
		}
		sort.Strings(out)
		return out, nil
	})

// Registry adds the chaos actors to r.
func Registry(r *rivet.Registry) *rivet.Registry { return r.Register(Counter, Register, Jobs) }
