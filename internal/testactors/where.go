package testactors

import (
	"errors"
	"os"
	"strconv"

	"github.com/rivetkube/rivetkube/rivet"
)

// Where tells which runner version and process host the actor; the
// integration suites use it to see placement and drain.
type Where struct {
	Version uint64 `cbor:"version"`
	PID     int    `cbor:"pid"`
	Gen     uint64 `cbor:"gen"`
}

// Locate answers where it runs.
var Locate = rivet.New("locate", rivet.Options[none]{}).
	Action("where", func(c *rivet.Ctx[none]) (Where, error) {
		v, _ := strconv.ParseUint(os.Getenv("RIVET_RUNNER_VERSION"), 10, 64)
		return Where{Version: v, PID: os.Getpid(), Gen: c.Generation()}, nil
	}).
	// work answers the runner's version like where, but fails with an
	// internal error on a runner started with RIVETKUBE_TEST_BROKEN=1: the
	// bad build a rollout gate must catch.
	Action("work", func(c *rivet.Ctx[none]) (uint64, error) {
		v, _ := strconv.ParseUint(os.Getenv("RIVET_RUNNER_VERSION"), 10, 64)
		if os.Getenv("RIVETKUBE_TEST_BROKEN") == "1" {
			return 0, errors.New("this build is broken")
		}
		return v, nil
	})
