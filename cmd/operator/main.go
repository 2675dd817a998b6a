// Command operator runs the rivetkube Kubernetes operator: it reconciles
// RivetEngine, RunnerPool and ActorVersion objects into the gateway and
// runner Deployments, routes versions and drains old ones through the
// gateway's admin API, and autoscales runner pools.
//
//	operator [--metrics-bind-address :8080] [--health-probe-bind-address :8081]
//	         [--leader-elect] [--namespace NS] [--active-poll 2s] [--idle-poll 15s]
package main

import (
	"flag"
	"fmt"
	"os"

	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/rivetkube/rivetkube/internal/operator"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	var cfg operator.Config
	fs := flag.NewFlagSet("operator", flag.ExitOnError)
	cfg.BindFlags(fs)
	zopts := zap.Options{}
	zopts.BindFlags(fs)
	_ = fs.Parse(os.Args[1:])
	cfg.Logger = zap.New(zap.UseFlagOptions(&zopts))
	cfg.Logger.Info("rivetkube operator", "version", version)
	if err := operator.Run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "operator:", err)
		os.Exit(1)
	}
}
