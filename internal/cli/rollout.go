package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// Rollout stages.
const (
	StageWaiting  = "waiting"  // no version planned yet, or the operator is behind
	StageStarting = "starting" // the newest version's runners are coming up
	StageRamping  = "ramping"  // a Progressive or Manual rollout splits actors between the newest and the stable version
	StageDraining = "draining" // actors move from older versions to the newest
	StageDone     = "done"     // the newest version is current, every older one drained
	StageFailed   = "failed"   // the newest version was rejected, or rolled back by its gate
)

// Rollout is a pool's rollout progress as `rollout status` reports it
// (one JSON line per change with -o json).
type Rollout struct {
	Pool    string `json:"pool"`
	Stage   string `json:"stage"`
	Target  int64  `json:"target"`  // the newest version
	Current int64  `json:"current"` // the version new actors go to
	// Pods of the target version: available of wanted.
	TargetAvailable int32 `json:"targetAvailable"`
	TargetReplicas  int32 `json:"targetReplicas"`
	// Actors on the target version and on older versions not drained yet.
	ActorsMoved int32   `json:"actorsMoved"`
	ActorsLeft  int32   `json:"actorsLeft"`
	Draining    []int64 `json:"draining"` // older versions not drained yet
	// Progress of the stage, 0 to 1.
	Progress float64 `json:"progress"`
	// Problem is the Degraded reason and message of the target version or
	// the pool, when there is one.
	Problem string `json:"problem,omitempty"`
	Message string `json:"message,omitempty"`
}

func rolloutStatusCmd() cmd {
	return cmd{
		path: "rollout status", args: "POOL", summary: "follow a pool's rollout until the older versions are drained (Kubernetes)",
		min: 1, max: 1,
		flags: func(fs *flag.FlagSet, o *opts) {
			fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up (exit 4) after this long")
			fs.DurationVar(&o.interval, "interval", time.Second, "how often the pool is read")
		},
		run: runRolloutStatus,
	}
}

// rolloutProgress is the pure projection of a pool (and its newest
// ActorVersion, nil when unknown) into a Rollout.
func rolloutProgress(pool *rivetv1.RunnerPool, target *rivetv1.ActorVersion) Rollout {
	ro := Rollout{Pool: pool.Name, Target: pool.Status.LatestVersion, Current: pool.Status.CurrentVersion, Draining: []int64{}}
	if c := degraded(pool.Status.Conditions); c != "" {
		ro.Problem = c
	}
	if target != nil {
		if c := degraded(target.Status.Conditions); c != "" {
			ro.Problem = c
		}
	}
	if pool.Status.ObservedGeneration < pool.Generation || ro.Target == 0 {
		ro.Stage, ro.Message = StageWaiting, "waiting for the operator to plan the pool"
		return ro
	}
	var entry *rivetv1.PoolVersionStatus
	for i, v := range pool.Status.Versions {
		switch {
		case v.Version == ro.Target:
			entry = &pool.Status.Versions[i]
		case v.Phase != rivetv1.PhaseDrained && !v.Rejected:
			ro.Draining = append(ro.Draining, v.Version)
			ro.ActorsLeft += v.Actors
		}
	}
	if entry == nil {
		ro.Stage, ro.Message = StageWaiting, fmt.Sprintf("waiting for the operator to plan v%d", ro.Target)
		return ro
	}
	ro.TargetAvailable, ro.TargetReplicas, ro.ActorsMoved = entry.AvailableReplicas, entry.Replicas, entry.Actors
	rs := pool.Status.Rollout
	switch {
	case entry.Rejected:
		ro.Stage, ro.Message = StageFailed, fmt.Sprintf("v%d was rejected: %s", ro.Target, entry.Message)
	case rs != nil && rs.ToVersion == ro.Target && rs.Phase == rivetv1.RolloutRolledBack:
		ro.Stage, ro.Problem = StageFailed, rs.Reason+": "+rs.Message
		ro.Message = fmt.Sprintf("v%d was rolled back to v%d: %s: %s", ro.Target, rs.FromVersion, rs.Reason, rs.Message)
	case rs != nil && rs.ToVersion == ro.Target && rs.Phase == rivetv1.RolloutRamping:
		ro.Stage = StageRamping
		ro.Progress = fraction(rs.Step-1, max(rs.Steps, 1))
		ro.Message = fmt.Sprintf("v%d ramping (%s): step %d of %d, %d%% of new actors, %d%% of actors asked; %d actors on v%d, %d on v%d",
			ro.Target, rs.Strategy, rs.Step, rs.Steps, rs.NewActorShare, rs.MoveShare, rs.ToActors, ro.Target, rs.FromActors, rs.FromVersion)
	case ro.Current != ro.Target:
		ro.Stage = StageStarting
		ro.Progress = fraction(entry.AvailableReplicas, max(entry.Replicas, 1))
		ro.Message = fmt.Sprintf("v%d starting: %d of %d pods available", ro.Target, entry.AvailableReplicas, entry.Replicas)
	case len(ro.Draining) > 0:
		ro.Stage = StageDraining
		ro.Progress = 1
		if total := ro.ActorsMoved + ro.ActorsLeft; total > 0 {
			ro.Progress = fraction(ro.ActorsMoved, total)
		}
		ro.Message = fmt.Sprintf("draining %s: %d actors left, %d on v%d", versions(ro.Draining), ro.ActorsLeft, ro.ActorsMoved, ro.Target)
	default:
		ro.Stage, ro.Progress = StageDone, 1
		ro.Message = fmt.Sprintf("v%d is current and every older version is drained", ro.Target)
	}
	return ro
}

func degraded(conds []metav1.Condition) string {
	c := meta.FindStatusCondition(conds, rivetv1.ConditionDegraded)
	if c == nil || c.Status != metav1.ConditionTrue {
		return ""
	}
	if c.Message == "" {
		return c.Reason
	}
	return c.Reason + ": " + c.Message
}

func fraction(a, b int32) float64 {
	if b <= 0 {
		return 0
	}
	return min(1, max(0, float64(a)/float64(b)))
}

func versions(vs []int64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = vname(v)
	}
	return strings.Join(s, ", ")
}

// bar draws a progress bar of width cells.
func bar(p float64, width int) string {
	n := int(p*float64(width) + 0.5)
	return "[" + strings.Repeat("#", n) + strings.Repeat("-", width-n) + "]"
}

// line is the human form of a Rollout.
func (ro Rollout) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", ro.Pool)
	switch ro.Stage {
	case StageStarting, StageDraining:
		fmt.Fprintf(&b, "%s %3.0f%%  %s", bar(ro.Progress, 24), ro.Progress*100, ro.Message)
	default:
		b.WriteString(ro.Message)
	}
	if ro.Problem != "" {
		fmt.Fprintf(&b, "  (Degraded: %s)", cut(ro.Problem, 160))
	}
	return b.String()
}

func runRolloutStatus(ctx context.Context, r *runner, args []string) error {
	if r.o.timeout <= 0 || r.o.interval <= 0 {
		return usageErr("--timeout and --interval must be positive")
	}
	c, ns, err := r.kube()
	if err != nil {
		return err
	}
	name := args[0]
	ctx, cancel := context.WithTimeout(ctx, r.o.timeout)
	defer cancel()
	tty := r.o.output != "json" && isTerminal(r.env.Stdout)
	var last Rollout
	lastLine := ""
	tick := time.NewTicker(r.o.interval)
	defer tick.Stop()
	for {
		ro, err := readRollout(ctx, c, ns, name, r.o.requestTimeout)
		switch {
		case err == nil:
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return r.rolloutTimeout(tty, name, last)
		case apierrors.IsNotFound(err):
			return notFoundErr("RunnerPool %s/%s does not exist", ns, name)
		default:
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= r.o.interval {
				// The read failed because --timeout is about to pass
				// (client-go's rate limiter refuses a wait that would
				// cross the deadline): that is the timeout.
				return r.rolloutTimeout(tty, name, last)
			}
			return err
		}
		last = ro
		if err := r.showRollout(ro, tty, &lastLine); err != nil {
			return err
		}
		switch ro.Stage {
		case StageDone:
			if tty {
				fmt.Fprintln(r.env.Stdout)
			}
			return nil
		case StageFailed:
			if tty {
				fmt.Fprintln(r.env.Stdout)
			}
			return failedErr("rollout of %s failed: %s", name, ro.Message)
		}
		select {
		case <-ctx.Done():
			return r.rolloutTimeout(tty, name, last)
		case <-tick.C:
		}
	}
}

func (r *runner) rolloutTimeout(tty bool, name string, last Rollout) error {
	if tty {
		fmt.Fprintln(r.env.Stdout)
	}
	msg := last.Message
	if last.Problem != "" {
		msg += " (Degraded: " + last.Problem + ")"
	}
	return timeoutErr("rollout of %s not finished after %s: %s", name, r.o.timeout, dash(msg))
}

// readRollout reads the pool and its newest version.
func readRollout(ctx context.Context, c client.Client, ns, name string, callTimeout time.Duration) (Rollout, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	pool := &rivetv1.RunnerPool{}
	if err := c.Get(cctx, types.NamespacedName{Namespace: ns, Name: name}, pool); err != nil {
		return Rollout{}, kubeErr("read RunnerPool", err)
	}
	var target *rivetv1.ActorVersion
	for _, v := range pool.Status.Versions {
		if v.Version == pool.Status.LatestVersion && v.Name != "" {
			av := &rivetv1.ActorVersion{}
			if err := c.Get(cctx, types.NamespacedName{Namespace: ns, Name: v.Name}, av); err == nil {
				target = av
			} else if !apierrors.IsNotFound(err) {
				return Rollout{}, kubeErr("read ActorVersion", err)
			}
		}
	}
	return rolloutProgress(pool, target), nil
}

// showRollout prints a change: NDJSON with -o json, a redrawn line on a
// terminal, one line per change otherwise.
func (r *runner) showRollout(ro Rollout, tty bool, lastLine *string) error {
	l := ro.line()
	if l == *lastLine {
		return nil
	}
	*lastLine = l
	switch {
	case r.o.output == "json":
		b, err := json.Marshal(ro)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(r.env.Stdout, string(b))
		return err
	case tty:
		_, err := fmt.Fprint(r.env.Stdout, "\r\033[K"+l)
		return err
	}
	_, err := fmt.Fprintln(r.env.Stdout, l)
	return err
}
