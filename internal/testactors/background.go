package testactors

import (
	"time"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/rivet"
)

// WorkerState records what the Run loop handled.
type WorkerState struct {
	Processed []string `cbor:"processed"`
}

// Worker handles its "jobs" queue in a Run loop, 20 ms per message. A job
// "reply:X" is completed with "done:X" for a waiting sender.
var Worker = rivet.New("worker", rivet.Options[WorkerState]{
	Queues:       []string{"jobs", "other"},
	MaxQueueSize: 50,
	SleepTimeout: 300 * time.Millisecond,
	Run: func(c *rivet.Ctx[WorkerState], q *rivet.Queue) error {
		for {
			msg, err := q.Next(c, "jobs")
			if err != nil {
				return err
			}
			var body string
			_ = msg.Decode(&body)
			select {
			case <-time.After(20 * time.Millisecond):
			case <-c.Done():
				return c.Err()
			}
			c.State().Processed = append(c.State().Processed, body)
			if len(body) > 6 && body[:6] == "reply:" {
				if err := msg.Complete("done:" + body[6:]); err != nil {
					return err
				}
			}
		}
	},
}).
	Action("getProcessed", func(c *rivet.Ctx[WorkerState]) ([]string, error) {
		if c.State().Processed == nil {
			return []string{}, nil
		}
		return c.State().Processed, nil
	})

// TimerState records fired schedules.
type TimerState struct {
	Fired []string `cbor:"fired"`
}

// Timer schedules calls of its own fired action; it sleeps after 300 ms idle
// so schedules usually fire on a sleeping actor.
var Timer = rivet.New("timer", rivet.Options[TimerState]{
	SleepTimeout: 300 * time.Millisecond,
}).
	Action("scheduleIn", func(c *rivet.Ctx[TimerState], ms int64, tag string) (string, error) {
		return c.Schedule().After(time.Duration(ms)*time.Millisecond, "fired", tag)
	}).
	Action("cancel", func(c *rivet.Ctx[TimerState], id string) (bool, error) {
		return c.Schedule().Cancel(id), nil
	}).
	Action("pending", func(c *rivet.Ctx[TimerState]) (int, error) { return len(c.Schedule().List()), nil }).
	Action("fired", func(c *rivet.Ctx[TimerState], tag string) error {
		c.State().Fired = append(c.State().Fired, tag)
		return nil
	}).
	Action("getFired", func(c *rivet.Ctx[TimerState]) ([]string, error) {
		if c.State().Fired == nil {
			return []string{}, nil
		}
		return c.State().Fired, nil
	})

// CallerState counts calls made to other actors.
type CallerState struct {
	Calls int `cbor:"calls"`
}

// Caller calls other actors through the engine, as a client would.
var Caller = rivet.New("caller", rivet.Options[CallerState]{}).
	Action("incrementCounter", func(c *rivet.Ctx[CallerState], key string, by int64) (int64, error) {
		c.State().Calls++
		return client.Call[int64](c, c.Client().GetOrCreate("counter", []string{key}), "increment", by)
	}).
	Action("sendJob", func(c *rivet.Ctx[CallerState], key, job string) error {
		c.State().Calls++
		_, err := c.Client().GetOrCreate("worker", []string{key}).Send(c, "jobs", job, client.SendOptions{})
		return err
	})
