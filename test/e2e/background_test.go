package e2e

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/testutil/inspect"
)

func newClient(t *testing.T, endpoint string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Endpoint: endpoint, Encoding: client.EncodingBARE})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func poll(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func processed(t *testing.T, h *client.Handle) []string {
	t.Helper()
	got, err := client.Call[[]string](ctxT(t, 30*time.Second), h, "getProcessed")
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestQueueOrderWaitAndFull(t *testing.T) {
	e := startEngine(t)
	c := newClient(t, e.Endpoint)
	ctx := ctxT(t, time.Minute)
	h := c.GetOrCreate("worker", []string{"order"})
	var want []string
	for i := 0; i < 10; i++ {
		job := fmt.Sprintf("job-%d", i)
		want = append(want, job)
		if res, err := h.Send(ctx, "jobs", job, client.SendOptions{}); err != nil || !res.Completed {
			t.Fatalf("send %d: %+v, %v", i, res, err)
		}
	}
	poll(t, "10 jobs handled", 20*time.Second, func() bool { return len(processed(t, h)) >= 10 })
	if got := processed(t, h); !slices.Equal(got, want) {
		t.Fatalf("handled %v; want %v in order", got, want)
	}

	res, err := h.Send(ctx, "jobs", "reply:x", client.SendOptions{Wait: true, Timeout: 20 * time.Second})
	var reply string
	if err != nil || !res.Completed || res.Decode(&reply) != nil || reply != "done:x" {
		t.Fatalf("send with wait: %+v %q %v", res, reply, err)
	}
	// Handling takes at least 20 ms, so a 1 ms wait times out; the message
	// is still handled afterwards.
	res, err = h.Send(ctx, "jobs", "reply:late", client.SendOptions{Wait: true, Timeout: time.Millisecond})
	if err != nil || res.Completed {
		t.Fatalf("short wait: %+v %v; want timedOut", res, err)
	}
	poll(t, "the timed-out message handled", 20*time.Second, func() bool { return slices.Contains(processed(t, h), "reply:late") })

	// Unknown queue.
	_, err = h.Send(ctx, "nope", "x", client.SendOptions{})
	var ae *client.ActorError
	if !errors.As(err, &ae) || ae.Code != "queue_not_found" {
		t.Fatalf("unknown queue: %v", err)
	}
	// The "other" queue is never read: it fills up at the actor's limit of 50.
	full := c.GetOrCreate("worker", []string{"full"})
	var sent int
	for ; sent < 60; sent++ {
		if _, err = full.Send(ctx, "other", sent, client.SendOptions{}); err != nil {
			break
		}
	}
	if sent != 50 || !errors.As(err, &ae) || ae.Group != "actor" || ae.Code != "overloaded" {
		t.Fatalf("queue full after %d sends: %v; want actor/overloaded after 50", sent, err)
	}
}

func TestQueueSurvivesKill9(t *testing.T) {
	addr, dir := freeAddr(t), t.TempDir()
	e := startEngineAt(t, addr, dir)
	ctx := ctxT(t, time.Minute)
	h := newClient(t, e.Endpoint).GetOrCreate("worker", []string{"crash"})
	var want []string
	for i := 0; i < 20; i++ {
		job := fmt.Sprintf("c-%d", i)
		want = append(want, job)
		if _, err := h.Send(ctx, "jobs", job, client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Every send was acknowledged; kill -9 before the 20 ms-per-job loop
	// can have handled them all.
	e.kill()
	e2 := startEngineAt(t, addr, dir)
	h2 := newClient(t, e2.Endpoint).GetOrCreate("worker", []string{"crash"})
	poll(t, "all jobs handled after restart", 30*time.Second, func() bool { return len(processed(t, h2)) >= 20 })
	// Handling and removal commit together: each job is in the state once.
	if got := processed(t, h2); !slices.Equal(got, want) {
		t.Fatalf("after kill -9: %v; want each job once, in order: %v", got, want)
	}
}

func fired(t *testing.T, h *client.Handle) []string {
	t.Helper()
	got, err := client.Call[[]string](ctxT(t, 30*time.Second), h, "getFired")
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestSchedulesFireOnSleepingActorAndAcrossRestart(t *testing.T) {
	addr, dir := freeAddr(t), t.TempDir()
	e := startEngineAt(t, addr, dir)
	ctx := ctxT(t, 2*time.Minute)
	c := newClient(t, e.Endpoint)
	h := c.GetOrCreate("timer", []string{"sleeping"})
	// The actor sleeps after 300 ms idle; the schedule is due later.
	if _, err := client.Call[string](ctx, h, "scheduleIn", 1500, "a"); err != nil {
		t.Fatal(err)
	}
	id, err := client.Call[string](ctx, h, "scheduleIn", 60000, "never")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := client.Call[bool](ctx, h, "cancel", id); err != nil || !ok {
		t.Fatalf("cancel: %v %v", ok, err)
	}
	time.Sleep(2500 * time.Millisecond) // no calls: let it sleep and the schedule come due
	poll(t, "schedule fired", 10*time.Second, func() bool { return slices.Equal(fired(t, h), []string{"a"}) })
	if n, err := client.Call[int](ctx, h, "pending"); err != nil || n != 0 {
		t.Fatalf("pending after fire and cancel = %d, %v", n, err)
	}

	// Schedules missed while the engine is down fire once each on restart.
	h2 := c.GetOrCreate("timer", []string{"missed"})
	for _, tag := range []string{"m1", "m2"} {
		if _, err := client.Call[string](ctx, h2, "scheduleIn", 800, tag); err != nil {
			t.Fatal(err)
		}
	}
	e.kill()
	time.Sleep(1500 * time.Millisecond) // both come due while nothing runs
	e2 := startEngineAt(t, addr, dir)
	h3 := newClient(t, e2.Endpoint).GetOrCreate("timer", []string{"missed"})
	poll(t, "missed schedules fired", 15*time.Second, func() bool { return len(fired(t, h3)) >= 2 })
	time.Sleep(500 * time.Millisecond)
	if got := fired(t, h3); !slices.Equal(got, []string{"m1", "m2"}) {
		t.Fatalf("missed schedules fired %v; want each once", got)
	}
}

func TestActorToActorCalls(t *testing.T) {
	e := startEngine(t)
	ctx := ctxT(t, time.Minute)
	c := newClient(t, e.Endpoint)
	n, err := client.Call[int64](ctx, c.GetOrCreate("caller", []string{"a"}), "incrementCounter", "target", 5)
	if err != nil || n != 5 {
		t.Fatalf("incrementCounter = %d, %v", n, err)
	}
	if got, err := client.Call[int64](ctx, c.Get("counter", []string{"target"}), "getCount"); err != nil || got != 5 {
		t.Fatalf("counter after actor call = %d, %v", got, err)
	}
	if err := c.GetOrCreate("caller", []string{"a"}).Action(ctx, "sendJob", nil, "w", "from-actor"); err != nil {
		t.Fatal(err)
	}
	w := c.Get("worker", []string{"w"})
	poll(t, "job sent by an actor handled", 20*time.Second, func() bool { return slices.Contains(processed(t, w), "from-actor") })
}

func inspector(t *testing.T, endpoint, actorID, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return inspect.Call(t, endpoint, actorID, method, path, "", body)
}

func TestInspectorLocalEngine(t *testing.T) {
	e := startEngine(t)
	ctx := ctxT(t, time.Minute)
	c := newClient(t, e.Endpoint)
	h := c.GetOrCreate("counter", []string{"inspect"})
	if _, err := client.Call[int64](ctx, h, "increment", 4); err != nil {
		t.Fatal(err)
	}
	id, err := h.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, body := inspector(t, e.Endpoint, id, "GET", "summary", nil)
	if st != 200 || body["name"] != "counter" || !slices.Contains(toStrings(body["actions"]), "increment") {
		t.Fatalf("summary: %d %v", st, body)
	}
	if st, body = inspector(t, e.Endpoint, id, "GET", "state", nil); st != 200 || body["state"].(map[string]any)["count"] != float64(4) {
		t.Fatalf("state: %d %v", st, body)
	}
	if st, body = inspector(t, e.Endpoint, id, "PATCH", "state", map[string]any{"state": map[string]any{"count": 40}}); st != 200 {
		t.Fatalf("patch state: %d %v", st, body)
	}
	if n, err := client.Call[int64](ctx, h, "getCount"); err != nil || n != 40 {
		t.Fatalf("count after PATCH = %d, %v", n, err)
	}
	if st, body = inspector(t, e.Endpoint, id, "POST", "action/increment", map[string]any{"args": []any{2}}); st != 200 || body["output"] != float64(42) {
		t.Fatalf("action: %d %v", st, body)
	}
	if st, body = inspector(t, e.Endpoint, id, "GET", "rpcs", nil); st != 200 || len(toStrings(body["rpcs"])) != 2 {
		t.Fatalf("rpcs: %d %v", st, body)
	}
	if st, body = inspector(t, e.Endpoint, id, "GET", "connections", nil); st != 200 {
		t.Fatalf("connections: %d %v", st, body)
	}
	if st, body = inspector(t, e.Endpoint, id, "GET", "traces?limit=10", nil); st != 200 || body["resourceSpans"] == nil {
		t.Fatalf("traces: %d %v", st, body)
	}
	spans := body["resourceSpans"].([]any)[0].(map[string]any)["scopeSpans"].([]any)[0].(map[string]any)["spans"].([]any)
	if len(spans) == 0 || spans[0].(map[string]any)["name"] == "" {
		t.Fatalf("traces recorded no spans: %v", body)
	}
	if st, body = inspector(t, e.Endpoint, id, "GET", "queue?limit=5", nil); st != 200 || body["size"] != float64(0) {
		t.Fatalf("queue: %d %v", st, body)
	}
	if st, body = inspector(t, e.Endpoint, id, "GET", "workflow-history", nil); st != 200 {
		t.Fatalf("workflow-history: %d %v", st, body)
	}
	if st, body = inspector(t, e.Endpoint, id, "GET", "nope", nil); st != 404 || body["group"] != "inspector" {
		t.Fatalf("unknown endpoint: %d %v", st, body)
	}
	if st, body = inspector(t, e.Endpoint, id, "PATCH", "state", map[string]any{"state": "not an object"}); st != 400 {
		t.Fatalf("bad state: %d %v", st, body)
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
