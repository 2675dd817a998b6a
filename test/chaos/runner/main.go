// Command runner hosts the chaos test registry (test/chaos/chaosactors):
// with RIVET_ENDPOINT set it is a runner of the distributed engine, without
// it the local engine on the embedded store. CHAOS_ACTIVATION_LOG names the
// activation log the harness reads.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/rivetkube/rivetkube/rivet"
	"github.com/rivetkube/rivetkube/test/chaos/chaosactors"
)

func main() {
	if err := chaosactors.Registry(rivet.NewRegistry()).Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "chaos runner:", err)
		os.Exit(1)
	}
}
