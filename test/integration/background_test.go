package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/pgstore"
	"github.com/rivetkube/rivetkube/internal/testactors"
	inspector "github.com/rivetkube/rivetkube/internal/testutil/inspect"
	"github.com/rivetkube/rivetkube/rivet"
)

// Background work on the distributed engine: durable queues handled by a Run
// loop on a runner, schedules woken by the gateway leader's alarm scan,
// actor-to-actor calls from a runner through a gateway, and the inspector
// behind its token. The fixture actors are internal/testactors' worker,
// timer and caller.

// getStrings calls a []string action (getProcessed, getFired).
func getStrings(ctx context.Context, h *client.Handle, action string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return client.Call[[]string](ctx, h, action)
}

// waitStrings polls action until it returns at least n entries and returns
// them. Errors count as "not yet" (a call may meet a failover) until the
// deadline, when the last one is reported.
func waitStrings(t *testing.T, h *client.Handle, action string, n int, d time.Duration) []string {
	t.Helper()
	var (
		got     []string
		lastErr error
	)
	deadline := time.Now().Add(d)
	for {
		v, err := getStrings(context.Background(), h, action)
		if err == nil {
			got, lastErr = v, nil
			if len(v) >= n {
				return v
			}
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s to return %d entries: last %v, error %v", d, action, n, got, lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// openStore opens the cluster's database directly (no migration), to look
// at what is committed without waking any actor.
func (c *cluster) openStore() *pgstore.Store {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := pgstore.Open(ctx, c.url, pgstore.Options{MaxConns: 2, SkipMigrate: true})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = s.Close() })
	return s
}

// committedState decodes the actor's committed state into v. The generation
// may move between the two reads when the actor wakes: then it reads again.
func committedState(ctx context.Context, s *pgstore.Store, id string, v any) error {
	var err error
	for i := 0; i < 5; i++ {
		var a store.Actor
		if a, err = s.GetActor(ctx, id); err != nil {
			return err
		}
		var b []byte
		if b, err = s.LoadState(ctx, id, a.Generation); err == nil {
			if len(b) == 0 {
				return nil
			}
			return rivet.Unmarshal(b, v)
		}
		if !errors.Is(err, store.ErrFenced) {
			return err
		}
	}
	return err
}

// waitRunnersEverywhere waits until every gateway's own view of the
// registry holds n live runners. The admin status re-reads the registry on
// the gateway that serves it, so afterwards each gateway knows the runners'
// actor names. Without this, a gateway whose registry snapshot predates a
// runner's registration answers actor/name_not_found for up to a few hundred
// milliseconds after another gateway already routes to that runner (the
// router trusts a snapshot younger than 100 ms that lacks the name). That
// race is an engine issue of its own, not what these tests are about.
func (c *cluster) waitRunnersEverywhere(n int) {
	c.t.Helper()
	for _, g := range c.gateways {
		waitFor(c.t, fmt.Sprintf("%d live runners seen by %s", n, g.Name), 30*time.Second, func() bool {
			resp, err := adminGet(g, "/admin/pools/default")
			if err != nil {
				return false
			}
			live := 0
			for _, r := range resp.Runners {
				if r.Alive {
					live++
				}
			}
			return live == n
		})
	}
}

// adminGet reads a pool status from one gateway.
func adminGet(g *node, path string) (poolStatus, error) {
	var st poolStatus
	req, _ := http.NewRequest(http.MethodGet, g.endpoint()+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET %s on %s: %d", path, g.Name, resp.StatusCode)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// busyRunner returns the index in c.runners of the live runner the status shows
// with at least one actor, or -1.
func (c *cluster) busyRunner() int {
	c.t.Helper()
	st := c.status()
	for i, r := range c.runners {
		for _, s := range st.Runners {
			if s.Address == r.addr && s.Alive && s.Actors > 0 {
				return i
			}
		}
	}
	return -1
}

func TestBackgroundQueueThroughGateway(t *testing.T) {
	c := newCluster(t)
	g0, g1 := c.startGateway(), c.startGateway()
	c.startRunner(1)
	c.waitRunnersEverywhere(1)
	ctx := ctxFor(t, 2*time.Minute)

	// Sends through gateway 1 (CBOR), reads through gateway 0 (JSON).
	h := c.client(g1, client.EncodingCBOR).GetOrCreate("worker", []string{"order"})
	h0 := c.client(g0, client.EncodingJSON).GetOrCreate("worker", []string{"order"})
	var want []string
	for i := 0; i < 10; i++ {
		job := fmt.Sprintf("job-%d", i)
		want = append(want, job)
		if res, err := h.Send(ctx, "jobs", job, client.SendOptions{}); err != nil || !res.Completed {
			t.Fatalf("send %d: %+v, %v", i, res, err)
		}
	}
	if got := waitStrings(t, h0, "getProcessed", len(want), 30*time.Second); !slices.Equal(got, want) {
		t.Fatalf("handled %v; want %v, each once, in order", got, want)
	}
	if i := c.busyRunner(); i != 0 {
		t.Fatalf("the worker is not placed on the runner (status %+v)", c.status().Runners)
	}

	// A waiting send gets the Run loop's completion across the runner link.
	start := time.Now()
	res, err := h.Send(ctx, "jobs", "reply:x", client.SendOptions{Wait: true, Timeout: 10 * time.Second})
	var reply string
	if err != nil || !res.Completed || res.Decode(&reply) != nil || reply != "done:x" {
		t.Fatalf("send with a 10 s wait: %+v %q %v after %s; want completed with \"done:x\"", res, reply, err, time.Since(start))
	}
	// Handling takes at least 20 ms: a 1 ms wait times out, and the message
	// is still handled afterwards.
	res, err = h.Send(ctx, "jobs", "reply:late", client.SendOptions{Wait: true, Timeout: time.Millisecond})
	if err != nil || res.Completed {
		t.Fatalf("1 ms wait: %+v %v; want timedOut", res, err)
	}
	want = append(want, "reply:x", "reply:late")
	if got := waitStrings(t, h0, "getProcessed", len(want), 30*time.Second); !slices.Equal(got, want) {
		t.Fatalf("handled %v; want %v", got, want)
	}

	// Errors from the runner keep their group and code through the gateway.
	_, err = h.Send(ctx, "nope", "x", client.SendOptions{})
	var ae *client.ActorError
	if !errors.As(err, &ae) || ae.Group != "actor" || ae.Code != "queue_not_found" {
		t.Fatalf("unknown queue: %v; want actor/queue_not_found", err)
	}
	// Queue "other" is never read: the worker's limit of 50 fills it.
	full := c.client(g1, client.EncodingBARE).GetOrCreate("worker", []string{"full"})
	sent := 0
	for ; sent < 60; sent++ {
		if _, err = full.Send(ctx, "other", sent, client.SendOptions{}); err != nil {
			break
		}
	}
	if sent != 50 || !errors.As(err, &ae) || ae.Group != "actor" || ae.Code != "overloaded" {
		t.Fatalf("queue full after %d sends: %v; want actor/overloaded after 50", sent, err)
	}

	// With a connection open the actor never sleeps: only the handling of
	// the message itself can release its completion.
	conn, err := h.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := client.Call[[]string](ctx, conn, "getProcessed"); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"a", "b"} {
		start := time.Now()
		res, err := h.Send(ctx, "jobs", "reply:"+tag, client.SendOptions{Wait: true, Timeout: 5 * time.Second})
		var reply string
		if err != nil || !res.Completed || res.Decode(&reply) != nil || reply != "done:"+tag {
			t.Fatalf("waiting send %q to an actor kept awake by a connection: %+v %q %v after %s; want completed with %q",
				tag, res, reply, err, time.Since(start), "done:"+tag)
		}
	}
}

func TestBackgroundQueueSurvivesRunnerKill9(t *testing.T) {
	c := newCluster(t)
	g := c.startGateway()
	c.startRunner(1)
	c.startRunner(1)
	c.waitRunners(2)
	ctx := ctxFor(t, 3*time.Minute)
	cl := c.client(g, client.EncodingBARE)
	h := cl.GetOrCreate("worker", []string{"crash"})
	var want []string
	for i := 0; i < 20; i++ {
		job := fmt.Sprintf("c-%d", i)
		want = append(want, job)
		if res, err := h.Send(ctx, "jobs", job, client.SendOptions{}); err != nil || !res.Completed {
			t.Fatalf("send %d: %+v, %v", i, res, err)
		}
	}
	// Every send was acknowledged; kill -9 the worker's runner while the
	// 20 ms-per-job loop is still at work.
	victim := c.busyRunner()
	if victim < 0 {
		t.Fatalf("no runner hosts the worker: %+v", c.status().Runners)
	}
	c.runners[victim].Kill()
	t.Logf("killed %s", c.runners[victim].Name)

	// What the kill left behind: handled messages are in the committed state,
	// the others still in the queue, and together they are all 20, once.
	id, err := h.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := c.openStore()
	var st testactors.WorkerState
	if err := committedState(ctx, s, id, &st); err != nil {
		t.Fatal(err)
	}
	pending, err := s.ListQueue(ctx, id, 0, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	left := slices.Clone(st.Processed)
	for _, m := range pending {
		var body string
		if err := rivet.Unmarshal(m.Body, &body); err != nil {
			t.Fatal(err)
		}
		left = append(left, body)
	}
	t.Logf("at the kill: %d handled and committed, %d still queued", len(st.Processed), len(pending))
	if !slices.Equal(left, want) {
		t.Fatalf("committed state %v + queue %v; want exactly %v", st.Processed, pending, want)
	}
	if len(pending) == 0 {
		t.Log("note: every job was handled before the kill; only the restart path was exercised")
	}

	c.startRunner(1)
	c.waitRunners(2)
	// The next request places the worker on a live runner; its Run loop
	// handles what is left.
	if got := waitStrings(t, h, "getProcessed", len(want), 60*time.Second); !slices.Equal(got, want) {
		t.Fatalf("after kill -9: %v; want each job once, in order: %v", got, want)
	}
	waitFor(t, "the queue to be empty", 30*time.Second, func() bool {
		ms, err := s.ListQueue(ctx, id, 0, nil, 100)
		return err == nil && len(ms) == 0
	})
	if got, err := getStrings(ctx, h, "getProcessed"); err != nil || !slices.Equal(got, want) {
		t.Fatalf("finally %v (%v); want %v", got, err, want)
	}
}

func TestBackgroundSchedulesWakeSleepingActorAndSurviveKill9(t *testing.T) {
	c := newCluster(t)
	g := c.startGateway()
	r0 := c.startRunner(1)
	c.waitRunners(1)
	ctx := ctxFor(t, 3*time.Minute)
	cl := c.client(g, client.EncodingBARE)
	s := c.openStore()

	// The timer sleeps after 300 ms idle; its schedule comes due later and
	// only the leader's alarm scan can wake it: no client touches it.
	h := cl.GetOrCreate("timer", []string{"sleeping"})
	if _, err := client.Call[string](ctx, h, "scheduleIn", 2500, "a"); err != nil {
		t.Fatal(err)
	}
	id, err := client.Call[string](ctx, h, "scheduleIn", 60000, "never")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := client.Call[bool](ctx, h, "cancel", id); err != nil || !ok {
		t.Fatalf("cancel: %v %v", ok, err)
	}
	actorID, err := h.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the timer to sleep", 15*time.Second, func() bool {
		a, err := s.GetActor(ctx, actorID)
		return err == nil && a.RunnerID == ""
	})
	if fired := committedFired(t, s, actorID); len(fired) != 0 {
		t.Fatalf("fired %v before it was due", fired)
	}
	waitFor(t, "the schedule to fire on the sleeping actor", 20*time.Second, func() bool {
		return slices.Equal(committedFired(t, s, actorID), []string{"a"})
	})
	if got, err := getStrings(ctx, h, "getFired"); err != nil || !slices.Equal(got, []string{"a"}) {
		t.Fatalf("getFired = %v, %v; want [a]", got, err)
	}
	if n, err := client.Call[int](ctx, h, "pending"); err != nil || n != 0 {
		t.Fatalf("pending after fire and cancel = %d, %v; want 0", n, err)
	}

	// Schedules of an actor whose runner dies fire once each on another
	// runner, again woken by the alarm scan alone.
	h2 := cl.GetOrCreate("timer", []string{"missed"})
	for _, tag := range []string{"m1", "m2"} {
		if _, err := client.Call[string](ctx, h2, "scheduleIn", 1500, tag); err != nil {
			t.Fatal(err)
		}
	}
	id2, err := h2.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := s.GetActor(ctx, id2); err != nil || a.RunnerID == "" {
		t.Fatalf("timer %q should still be awake on the runner: %+v %v", "missed", a, err)
	}
	r0.Kill()
	c.startRunner(1)
	waitFor(t, "both missed schedules to fire after the kill", 60*time.Second, func() bool {
		return len(committedFired(t, s, id2)) >= 2
	})
	waitFor(t, "no schedule left", 10*time.Second, func() bool {
		sc, err := s.ListSchedules(ctx, id2)
		return err == nil && len(sc) == 0
	})
	if got := committedFired(t, s, id2); !slices.Equal(got, []string{"m1", "m2"}) {
		t.Fatalf("fired %v after the kill; want [m1 m2], each once", got)
	}
	if got, err := getStrings(ctx, h2, "getFired"); err != nil || !slices.Equal(got, []string{"m1", "m2"}) {
		t.Fatalf("getFired = %v, %v; want [m1 m2]", got, err)
	}
}

// committedFired reads the timer's committed fired tags from the store.
func committedFired(t *testing.T, s *pgstore.Store, id string) []string {
	t.Helper()
	var st testactors.TimerState
	if err := committedState(context.Background(), s, id, &st); err != nil {
		t.Fatal(err)
	}
	return st.Fired
}

func TestBackgroundActorToActorCallsFromRunner(t *testing.T) {
	c := newCluster(t)
	c.startGateway() // the runners' RIVET_ENDPOINT
	g1 := c.startGateway()
	c.startRunner(1)
	c.startRunner(1)
	c.waitRunnersEverywhere(2)
	ctx := ctxFor(t, 2*time.Minute)
	cl := c.client(g1, client.EncodingJSON)

	// The caller runs on a runner and calls the counter through gateway 0.
	caller := cl.GetOrCreate("caller", []string{"a"})
	n, err := client.Call[int64](ctx, caller, "incrementCounter", "target", 5)
	if err != nil || n != 5 {
		t.Fatalf("incrementCounter = %d, %v; want 5", n, err)
	}
	if n, err = client.Call[int64](ctx, caller, "incrementCounter", "target", 2); err != nil || n != 7 {
		t.Fatalf("second incrementCounter = %d, %v; want 7", n, err)
	}
	if got, err := client.Call[int64](ctx, cl.Get("counter", []string{"target"}), "getCount"); err != nil || got != 7 {
		t.Fatalf("counter after actor calls = %d, %v; want 7", got, err)
	}
	if st := c.status(); st.Actors != 2 {
		t.Fatalf("%d actors placed; want the caller and the counter: %+v", st.Actors, st.Runners)
	}

	// A queue send from an actor.
	if err := caller.Action(ctx, "sendJob", nil, "w", "from-actor"); err != nil {
		t.Fatal(err)
	}
	if got := waitStrings(t, cl.Get("worker", []string{"w"}), "getProcessed", 1, 30*time.Second); !slices.Equal(got, []string{"from-actor"}) {
		t.Fatalf("worker handled %v; want [from-actor]", got)
	}
}

// inspect calls the inspector of actor id through gateway g; token "" sends
// no Authorization header.
func inspect(t *testing.T, g *node, id, method, path, token string) (int, map[string]any) {
	t.Helper()
	return inspector.Call(t, g.endpoint(), id, method, path, token, nil)
}

func TestBackgroundInspectorAuth(t *testing.T) {
	c := newCluster(t)
	c.startGateway("RIVETKUBE_INSPECTOR_TOKEN=secret")
	g1 := c.startGateway("RIVETKUBE_INSPECTOR_TOKEN=secret")
	off := c.startGateway("RIVETKUBE_INSPECTOR_TOKEN=")
	c.startRunner(1)
	c.waitRunnersEverywhere(1)
	ctx := ctxFor(t, time.Minute)
	h := c.client(g1, client.EncodingBARE).GetOrCreate("counter", []string{"inspect"})
	if _, err := client.Call[int64](ctx, h, "increment", 4); err != nil {
		t.Fatal(err)
	}
	id, err := h.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ name, token string }{{"no token", ""}, {"wrong token", "wrong"}, {"token with a suffix", "secretx"}} {
		st, body := inspect(t, g1, id, "GET", "summary", tc.token)
		if st != http.StatusUnauthorized || body["group"] != "auth" || body["code"] != "unauthorized" {
			t.Errorf("%s: %d %v; want 401 auth/unauthorized", tc.name, st, body)
		}
	}
	st, body := inspect(t, g1, id, "GET", "summary", "secret")
	if st != http.StatusOK || body["name"] != "counter" || !slices.Contains(toStrings(body["actions"]), "increment") {
		t.Fatalf("summary with the token: %d %v; want 200 with name counter and its actions", st, body)
	}
	// The request crossed the runner link to the live actor.
	st, body = inspect(t, g1, id, "GET", "state", "secret")
	if state, _ := body["state"].(map[string]any); st != http.StatusOK || state["count"] != float64(4) {
		t.Fatalf("state with the token: %d %v; want count 4", st, body)
	}
	// A gateway without a configured token refuses the inspector outright.
	for _, tok := range []string{"", "secret"} {
		st, body = inspect(t, off, id, "GET", "summary", tok)
		if st != http.StatusForbidden || body["group"] != "auth" || body["code"] != "inspector_disabled" {
			t.Errorf("gateway without a token (sent %q): %d %v; want 403 auth/inspector_disabled", tok, st, body)
		}
	}
}

func toStrings(v any) []string {
	items, _ := v.([]any)
	out := make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
