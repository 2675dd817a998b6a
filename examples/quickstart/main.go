// Command quickstart hosts the quickstart actors (counter, chatRoom, user,
// leaderboard).
// Without RIVET_ENDPOINT it runs the local engine on 127.0.0.1:6420 with
// its data in ./.rivetkube.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/rivetkube/rivetkube/examples/quickstart/actors"
	"github.com/rivetkube/rivetkube/rivet"
)

func main() {
	reg := actors.Register(rivet.NewRegistry())
	if err := reg.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}
