package chaosactors

import (
	"sort"
	"strings"
	"time"

	"github.com/rivetkube/rivetkube/rivet"
)

// CounterState is the counter's durable state. Last holds each client's
// latest increment (by the client prefix of the operation id) so that a
// client may resend an increment whose outcome it does not know: the
// resend answers the recorded result instead of counting twice.
type CounterState struct {
	Count int64            `cbor:"count"`
	Last  map[string]OpAck `cbor:"last"`
}

// OpAck is a recorded answer.
type OpAck struct {
	Op  string `cbor:"op"`
	Ack Ack    `cbor:"ack"`
}

// RegisterState maps keys to the last value put; Last holds each client's
// latest put, as CounterState.Last does.
type RegisterState struct {
	Values map[string]string `cbor:"values"`
	Last   map[string]string `cbor:"last"`
}

// clientOf is the client prefix of an operation id ("w3" of "w3-17").
func clientOf(op string) string {
	if i := strings.IndexByte(op, '-'); i >= 0 {
		return op[:i]
	}
	return op
}

// JobsState holds the ids of the messages the Run loop handled.
type JobsState struct {
	Done map[string]bool `cbor:"done"`
}

// Ack is what a counter operation or a put answers: the count, and the
// generation and runner of the instance that ran it, so the harness knows which
// activation committed a write or served a read.
type Ack struct {
	Count  int64  `cbor:"count"`
	Gen    uint64 `cbor:"gen"`
	Runner string `cbor:"runner"` // as in the activation log
}

// Value is what a register read answers: the value and the generation of
// the instance that served it.
type Value struct {
	Val    string `cbor:"val"`
	Gen    uint64 `cbor:"gen"`
	Runner string `cbor:"runner"`
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
	Action("increment", func(c *rivet.Ctx[CounterState], op string) (Ack, error) {
		logEntry(id(c), c.Generation(), "act", op)
		s := c.State()
		if last, ok := s.Last[clientOf(op)]; ok && last.Op == op {
			return Ack{Count: last.Ack.Count, Gen: c.Generation(), Runner: runnerName()}, nil // a resend
		}
		s.Count++
		if err := c.Broadcast(CountEvent, s.Count); err != nil {
			return Ack{}, err
		}
		if s.Last == nil {
			s.Last = map[string]OpAck{}
		}
		a := Ack{Count: s.Count, Gen: c.Generation(), Runner: runnerName()}
		s.Last[clientOf(op)] = OpAck{Op: op, Ack: a}
		return a, nil
	}).
	Action("get", func(c *rivet.Ctx[CounterState]) (Ack, error) {
		return Ack{Count: c.State().Count, Gen: c.Generation(), Runner: runnerName()}, nil
	})

// Register is a map of registers: put(k, v, op) answers an Ack, get(k)
// the value ("" when unset).
var Register = rivet.New("register", hooks[RegisterState]()).
	Action("put", func(c *rivet.Ctx[RegisterState], k, v, op string) (Ack, error) {
		logEntry(id(c), c.Generation(), "act", op)
		s := c.State()
		if s.Last[clientOf(op)] == op {
			return Ack{Gen: c.Generation(), Runner: runnerName()}, nil // a resend
		}
		if s.Values == nil {
			s.Values, s.Last = map[string]string{}, map[string]string{}
		}
		s.Values[k] = v
		s.Last[clientOf(op)] = op
		return Ack{Gen: c.Generation(), Runner: runnerName()}, nil
	}).
	Action("get", func(c *rivet.Ctx[RegisterState], k string) (Value, error) {
		return Value{Val: c.State().Values[k], Gen: c.Generation(), Runner: runnerName()}, nil
	})

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
			if err := m.Complete(Ack{Gen: c.Generation(), Runner: runnerName()}); err != nil {
				return err
			}
		}
	}
	return o
}

// Jobs handles the messages of its "work" queue in its Run loop, records
// each message's body (an operation id) and completes it with an Ack.
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
