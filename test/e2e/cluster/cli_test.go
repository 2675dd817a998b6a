package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/cli"
)

// cliScenario runs the rivetkube CLI's Kubernetes commands against the
// cluster after the rollout: `status -o json` shows the engine ready and
// the pool on version 2, and `rollout status` ends at once with exit 0
// because version 1 is drained.
func (s *suite) cliScenario(t *testing.T) {
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		code := cli.Run(ctx, cli.Env{Prog: "rivetkube", Stdout: &out, Stderr: &errOut},
			append([]string{"--kubeconfig", s.cfg.kubeconfig, "-n", ns}, args...))
		return code, out.String(), errOut.String()
	}
	code, out, errOut := run("status", "-o", "json")
	if code != cli.ExitOK {
		s.fatalf(t, "rivetkube status: exit %d: %s", code, errOut)
	}
	var st cli.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		s.fatalf(t, "rivetkube status -o json: %v: %s", err, out)
	}
	var problems []string
	if len(st.Engines) != 1 || !st.Engines[0].Ready {
		problems = append(problems, fmt.Sprintf("engines %+v, want one ready", st.Engines))
	}
	var pool *cli.PoolStatus
	for i := range st.Pools {
		if st.Pools[i].Name == poolName {
			pool = &st.Pools[i]
		}
	}
	if pool == nil || pool.CurrentVersion != 2 {
		problems = append(problems, fmt.Sprintf("pools %+v, want %s on version 2", st.Pools, poolName))
	}
	seen := false
	for _, v := range st.Versions {
		seen = seen || (v.Pool == poolName && v.Version == 2)
	}
	if !seen {
		problems = append(problems, fmt.Sprintf("versions %+v, want version 2 of %s", st.Versions, poolName))
	}
	if len(problems) > 0 {
		s.fatalf(t, "rivetkube status: %v", problems)
	}
	if code, out, errOut := run("rollout", "status", poolName, "--timeout", "2m"); code != cli.ExitOK {
		s.fatalf(t, "rivetkube rollout status %s: exit %d: %s%s", poolName, code, out, errOut)
	}
}
