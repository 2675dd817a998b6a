package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// Status is what `status` reports (-o json), read from the status fields
// the operator writes; the engine itself is not called.
type Status struct {
	Engines  []EngineStatus  `json:"engines"`
	Pools    []PoolStatus    `json:"pools"`
	Versions []VersionStatus `json:"versions"`
	// Problems lists every Degraded=True condition, one line each.
	Problems []string `json:"problems"`
}

// EngineStatus is one RivetEngine.
type EngineStatus struct {
	Namespace     string `json:"namespace"`
	Name          string `json:"name"`
	Ready         bool   `json:"ready"`
	Reason        string `json:"reason"`
	Replicas      int32  `json:"replicas"`
	ReadyReplicas int32  `json:"readyReplicas"`
	Endpoint      string `json:"endpoint"`
}

// PoolStatus is one RunnerPool.
type PoolStatus struct {
	Namespace       string `json:"namespace"`
	Name            string `json:"name"`
	Engine          string `json:"engine"`
	Ready           bool   `json:"ready"`
	CurrentVersion  int64  `json:"currentVersion"`
	LatestVersion   int64  `json:"latestVersion"`
	Replicas        int32  `json:"replicas"`
	DesiredReplicas int32  `json:"desiredReplicas"`
	Actors          int32  `json:"actors"`
}

// VersionStatus is one ActorVersion, with the pool's view of it.
type VersionStatus struct {
	Namespace         string `json:"namespace"`
	Name              string `json:"name"`
	Pool              string `json:"pool"`
	Version           int64  `json:"version"`
	Phase             string `json:"phase"`
	Image             string `json:"image"`
	Replicas          int32  `json:"replicas"`
	AvailableReplicas int32  `json:"availableReplicas"`
	Runners           int32  `json:"runners"`
	Actors            int32  `json:"actors"`
	Degraded          string `json:"degraded,omitempty"` // reason: message when Degraded=True
}

func statusCmd() cmd {
	return cmd{
		path: "status", args: "", summary: "engines, pools, versions, runners and actors per version (Kubernetes)",
		min: 0, max: 0, run: runStatus,
	}
}

func runStatus(ctx context.Context, r *runner, _ []string) error {
	c, ns, err := r.kube()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.o.requestTimeout)
	defer cancel()
	var opts []client.ListOption
	if !r.o.allNamespaces {
		opts = append(opts, client.InNamespace(ns))
	}
	var engines rivetv1.RivetEngineList
	var pools rivetv1.RunnerPoolList
	var versions rivetv1.ActorVersionList
	for _, l := range []client.ObjectList{&engines, &pools, &versions} {
		if err := c.List(ctx, l, opts...); err != nil {
			return kubeErr("list", err)
		}
	}
	st := buildStatus(engines.Items, pools.Items, versions.Items)
	if r.o.output == "json" {
		return r.printJSON(st)
	}
	return r.printStatus(st, ns)
}

// kubeErr explains the usual Kubernetes failures.
func kubeErr(what string, err error) error {
	if meta.IsNoMatchError(err) {
		return failedErr("the rivetkube CRDs are not installed in this cluster (%v)", err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// buildStatus is the pure projection of the three kinds into a Status.
func buildStatus(engines []rivetv1.RivetEngine, pools []rivetv1.RunnerPool, versions []rivetv1.ActorVersion) Status {
	st := Status{Engines: []EngineStatus{}, Pools: []PoolStatus{}, Versions: []VersionStatus{}, Problems: []string{}}
	problem := func(kind, ns, name string, conds []metav1.Condition) string {
		c := meta.FindStatusCondition(conds, rivetv1.ConditionDegraded)
		if c == nil || c.Status != metav1.ConditionTrue {
			return ""
		}
		msg := c.Reason
		if c.Message != "" {
			msg += ": " + c.Message
		}
		st.Problems = append(st.Problems, fmt.Sprintf("%s %s/%s: %s", kind, ns, name, msg))
		return msg
	}
	for _, e := range engines {
		ready := meta.FindStatusCondition(e.Status.Conditions, rivetv1.ConditionReady)
		es := EngineStatus{
			Namespace: e.Namespace, Name: e.Name, Replicas: e.Status.Replicas, ReadyReplicas: e.Status.ReadyReplicas, Endpoint: e.Status.Endpoint,
		}
		if ready != nil {
			es.Ready, es.Reason = ready.Status == metav1.ConditionTrue, ready.Reason
		}
		st.Engines = append(st.Engines, es)
		problem("RivetEngine", e.Namespace, e.Name, e.Status.Conditions)
	}
	planned := map[string]rivetv1.PoolVersionStatus{} // ns/name of the version → pool's entry
	for _, p := range pools {
		ps := PoolStatus{
			Namespace: p.Namespace, Name: p.Name, Engine: p.Spec.EngineRef.Name,
			Ready:          meta.IsStatusConditionTrue(p.Status.Conditions, rivetv1.ConditionReady),
			CurrentVersion: p.Status.CurrentVersion, LatestVersion: p.Status.LatestVersion,
			Replicas: p.Status.Replicas, DesiredReplicas: p.Status.DesiredReplicas, Actors: p.Status.Actors,
		}
		st.Pools = append(st.Pools, ps)
		for _, v := range p.Status.Versions {
			planned[p.Namespace+"/"+v.Name] = v
		}
		problem("RunnerPool", p.Namespace, p.Name, p.Status.Conditions)
	}
	for _, v := range versions {
		vs := VersionStatus{
			Namespace: v.Namespace, Name: v.Name, Pool: v.Spec.PoolRef.Name, Version: v.Spec.Version, Image: v.Spec.Image,
			Phase: string(v.Status.Phase), Replicas: v.Status.Replicas, AvailableReplicas: v.Status.AvailableReplicas,
			Runners: v.Status.Runners, Actors: v.Status.Actors,
		}
		if e, ok := planned[v.Namespace+"/"+v.Name]; ok {
			// The pool's plan is fresher than the version's copy of it.
			vs.Phase, vs.Runners, vs.Actors = string(e.Phase), e.Runners, e.Actors
			vs.Replicas, vs.AvailableReplicas = e.Replicas, e.AvailableReplicas
			if e.Rejected {
				vs.Phase = "Rejected"
			}
		}
		vs.Degraded = problem("ActorVersion", v.Namespace, v.Name, v.Status.Conditions)
		st.Versions = append(st.Versions, vs)
	}
	sort.Slice(st.Versions, func(i, j int) bool {
		a, b := st.Versions[i], st.Versions[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Pool != b.Pool {
			return a.Pool < b.Pool
		}
		return a.Version > b.Version
	})
	return st
}

func (r *runner) printStatus(st Status, ns string) error {
	w := r.env.Stdout
	if len(st.Engines)+len(st.Pools)+len(st.Versions) == 0 {
		where := "namespace " + ns
		if r.o.allNamespaces {
			where = "any namespace"
		}
		_, err := fmt.Fprintf(w, "No RivetEngine, RunnerPool or ActorVersion in %s.\n", where)
		return err
	}
	t := newTable(w, "ENGINE", "READY", "GATEWAYS", "ENDPOINT")
	for _, e := range st.Engines {
		t.row(qualify(r, e.Namespace, e.Name), readyText(e.Ready, e.Reason), fmt.Sprintf("%d/%d", e.ReadyReplicas, e.Replicas), dash(e.Endpoint))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t = newTable(w, "POOL", "ENGINE", "READY", "CURRENT", "LATEST", "PODS", "ACTORS")
	for _, p := range st.Pools {
		t.row(qualify(r, p.Namespace, p.Name), p.Engine, readyText(p.Ready, ""), vname(p.CurrentVersion), vname(p.LatestVersion),
			fmt.Sprintf("%d/%d", p.Replicas, p.DesiredReplicas), strconv.Itoa(int(p.Actors)))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t = newTable(w, "VERSION", "POOL", "NAME", "PHASE", "PODS", "RUNNERS", "ACTORS", "IMAGE")
	for _, v := range st.Versions {
		t.row(vname(v.Version), v.Pool, qualify(r, v.Namespace, v.Name), dash(v.Phase),
			fmt.Sprintf("%d/%d", v.AvailableReplicas, v.Replicas), strconv.Itoa(int(v.Runners)), strconv.Itoa(int(v.Actors)), v.Image)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(st.Problems) > 0 {
		fmt.Fprintln(w, "\nPROBLEMS")
		for _, p := range st.Problems {
			fmt.Fprintln(w, "  "+p)
		}
	}
	return nil
}

func qualify(r *runner, ns, name string) string {
	if r.o.allNamespaces {
		return ns + "/" + name
	}
	return name
}

func readyText(ready bool, reason string) string {
	if ready {
		return "True"
	}
	if reason != "" {
		return "False (" + reason + ")"
	}
	return "False"
}

func vname(v int64) string {
	if v == 0 {
		return "-"
	}
	return "v" + strconv.FormatInt(v, 10)
}
