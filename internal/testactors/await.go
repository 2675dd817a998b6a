package testactors

import (
	"time"

	"github.com/rivetkube/rivetkube/rivet"
)

// WaiterState is the log of a waiter.
type WaiterState struct {
	Log []string `cbor:"log"`
	N   int64    `cbor:"n"`
}

// Waiter logs a tag, waits at a wait point, then logs tag+":after": a test
// kills the process during the wait and checks that the first entry, and
// only it, survived.
var Waiter = rivet.New("waiter", rivet.Options[WaiterState]{
	CreateState: func(*rivet.Ctx[WaiterState], rivet.Raw) (WaiterState, error) {
		return WaiterState{Log: []string{}}, nil
	},
}).
	Action("noteAndWait", func(c *rivet.Ctx[WaiterState], tag string, ms int64) ([]string, error) {
		c.State().Log = append(c.State().Log, tag)
		if err := c.Wait(time.Duration(ms) * time.Millisecond); err != nil {
			return nil, err
		}
		c.State().Log = append(c.State().Log, tag+":after")
		return c.State().Log, nil
	}).
	Action("log", func(c *rivet.Ctx[WaiterState]) ([]string, error) { return c.State().Log, nil }).
	// bump is a plain durable write; bumpWait is the same with a wait
	// point in the middle (two commits, a release and a resume): the
	// benchmark compares them.
	Action("bump", func(c *rivet.Ctx[WaiterState]) (int64, error) {
		c.State().N++
		return c.State().N, nil
	}).
	Action("bumpWait", func(c *rivet.Ctx[WaiterState]) (int64, error) {
		c.State().N++
		if err := c.Wait(0); err != nil {
			return 0, err
		}
		c.State().N++
		return c.State().N, nil
	})
