package testactors

import (
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
	})
