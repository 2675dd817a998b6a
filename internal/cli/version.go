package cli

import (
	"context"
	"fmt"
	"runtime/debug"
)

// Version is the tool's version, stamped at build time
// (-ldflags "-X github.com/rivetkube/rivetkube/internal/cli.Version=v1.2.3").
var Version = "dev"

func versionCmd() cmd {
	return cmd{path: "version", summary: "print the tool's version", run: func(_ context.Context, r *runner, _ []string) error {
		v := Version
		if v == "dev" {
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
		}
		if r.o.output == "json" {
			return r.printJSON(map[string]string{"version": v})
		}
		_, err := fmt.Fprintf(r.env.Stdout, "%s %s\n", r.prog, v)
		return err
	}}
}
