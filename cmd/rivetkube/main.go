// Command rivetkube is the rivetkube command-line tool: actors on an
// engine, status and rollouts on Kubernetes, and `rivetkube dev`. Installed
// (copied or linked) as kubectl-rivet it is the kubectl plugin
// `kubectl rivet`. See docs/cli.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rivetkube/rivetkube/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, cli.Env{Prog: os.Args[0], Stdout: os.Stdout, Stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}
