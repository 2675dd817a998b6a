package local_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/metrics/scrape"
	"github.com/rivetkube/rivetkube/rivet"
	"github.com/rivetkube/rivetkube/runner"
	"github.com/rivetkube/rivetkube/runner/local"
)

type counter struct {
	N int64 `cbor:"n"`
}

func counterActor() *rivet.Actor[counter] {
	return rivet.New("counter", rivet.Options[counter]{}).
		Action("inc", func(c *rivet.Ctx[counter], n int64) (int64, error) {
			c.State().N += n
			return c.State().N, nil
		}).
		Action("boom", func(c *rivet.Ctx[counter]) (int64, error) {
			var m map[string]int
			m["x"]++ // a nil map write: a real runtime panic in actor code
			return 0, nil
		})
}

// syncBuffer is a log sink shared by the engine's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startEngine(t *testing.T, logs *syncBuffer) *local.Engine {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := local.Start(ctx, []runner.Definition{counterActor()}, local.Config{
		Listen: "127.0.0.1:0", DataDir: t.TempDir(), Log: log,
		Metrics: metrics.ListenerConfig{Addr: "127.0.0.1:0", Pprof: true},
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func value(t *testing.T, e *local.Engine, name string, labels ...string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := scrape.Fetch(ctx, "http://"+e.MetricsAddr()+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	v, found := scrape.Sum(s, name, labels...)
	if !found {
		t.Fatalf("metric %s%v is missing", name, labels)
	}
	return v
}

// TestLocalEngineMetricsMove checks that an action moves the gateway,
// runner and store metrics of the local engine, and that the Go and
// process collectors and pprof are served on the metrics listener.
func TestLocalEngineMetricsMove(t *testing.T) {
	t.Parallel()
	e := startEngine(t, &syncBuffer{})
	cl, err := client.New(client.Config{Endpoint: e.Endpoint()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := cl.GetOrCreate("counter", []string{"m"})
	if n, err := client.Call[int64](ctx, h, "inc", 1); err != nil || n != 1 {
		t.Fatalf("inc: %d, %v", n, err)
	}
	before := map[string]float64{
		"requests": value(t, e, "rivetkube_gateway_requests_total", "route", "gateway_action", "code", "200"),
		"actions":  value(t, e, "rivetkube_runner_actions_total", "outcome", "ok"),
		"commits":  value(t, e, "rivetkube_store_commits_total", "result", "ok"),
		"batches":  value(t, e, "rivetkube_store_commit_batch_size_count"),
		"latency":  value(t, e, "rivetkube_runner_action_duration_seconds_count", "outcome", "ok"),
	}
	if n, err := client.Call[int64](ctx, h, "inc", 2); err != nil || n != 3 {
		t.Fatalf("inc: %d, %v", n, err)
	}
	after := map[string]float64{
		"requests": value(t, e, "rivetkube_gateway_requests_total", "route", "gateway_action", "code", "200"),
		"actions":  value(t, e, "rivetkube_runner_actions_total", "outcome", "ok"),
		"commits":  value(t, e, "rivetkube_store_commits_total", "result", "ok"),
		"batches":  value(t, e, "rivetkube_store_commit_batch_size_count"),
		"latency":  value(t, e, "rivetkube_runner_action_duration_seconds_count", "outcome", "ok"),
	}
	for k := range before {
		if after[k] < before[k]+1 {
			t.Errorf("%s did not move with an action: %v -> %v", k, before[k], after[k])
		}
	}
	if v := value(t, e, "rivetkube_runner_actors_awake"); v != 1 {
		t.Errorf("actors awake = %v, want 1", v)
	}
	if v := value(t, e, "rivetkube_runner_activations_total", "result", "ok"); v != 1 {
		t.Errorf("activations = %v, want 1", v)
	}
	if v := value(t, e, "rivetkube_gateway_actor_resolutions_total", "method", "getOrCreate"); v < 2 {
		t.Errorf("getOrCreate resolutions = %v, want at least 2", v)
	}
	if v := value(t, e, "go_goroutines"); v <= 0 {
		t.Errorf("go_goroutines = %v", v)
	}
	_ = value(t, e, "process_cpu_seconds_total")

	// A connection is an open WebSocket until it closes.
	conn, err := h.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got int64
	if err := conn.Action(ctx, "inc", &got, 1); err != nil || got != 4 {
		t.Fatalf("inc over the connection: %d, %v", got, err)
	}
	if v := value(t, e, "rivetkube_gateway_websockets_open"); v != 1 {
		t.Errorf("websockets open = %v with one connection, want 1", v)
	}
	_ = conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for value(t, e, "rivetkube_gateway_websockets_open") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the closed connection is still counted as open")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := value(t, e, "rivetkube_gateway_requests_total", "route", "gateway_connect", "code", "101"); v != 1 {
		t.Errorf("connect requests with 101 = %v, want 1", v)
	}

	res, err := http.Get("http://" + e.MetricsAddr() + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("pprof on the metrics listener: %s", res.Status)
	}
	res, err = http.Get(e.Endpoint() + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode == http.StatusOK {
		t.Error("pprof is served on the client listener")
	}
}

// TestPanicStackLoggedOnce checks that a panic in an action is answered as
// actor/internal_error and logged exactly once, with its stack and the
// actor's id; and that the request has a debug access log line.
func TestPanicStackLoggedOnce(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	e := startEngine(t, logs)
	cl, err := client.New(client.Config{Endpoint: e.Endpoint()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := cl.GetOrCreate("counter", []string{"p"})
	id, err := h.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Call[int64](ctx, h, "boom")
	var ae *client.ActorError
	if !errors.As(err, &ae) || ae.Group != "actor" || ae.Code != "internal_error" {
		t.Fatalf("boom: %v; want actor/internal_error", err)
	}
	if strings.Contains(err.Error(), "nil map") {
		t.Errorf("the panic's detail reached the client: %v", err)
	}
	var panics []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"msg":"actor code panicked"`) {
			panics = append(panics, line)
		}
	}
	if len(panics) != 1 {
		t.Fatalf("%d panic log lines, want 1:\n%s", len(panics), strings.Join(panics, "\n"))
	}
	for _, want := range []string{`"actor_id":"` + id + `"`, `"stack":"goroutine `, "observe_test.go", "nil map"} {
		if !strings.Contains(panics[0], want) {
			t.Errorf("panic log line lacks %q: %s", want, panics[0])
		}
	}
	if n := strings.Count(logs.String(), "[running]:"); n != 1 {
		t.Errorf("%d stacks in the log, want 1", n)
	}
	if v := value(t, e, "rivetkube_runner_actions_total", "outcome", "internal_error"); v != 1 {
		t.Errorf("internal_error actions = %v, want 1", v)
	}
	access := false
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"msg":"request"`) && strings.Contains(line, `"route":"gateway_action"`) &&
			strings.Contains(line, `"status":500`) && strings.Contains(line, `"actor_id":"`+id+`"`) {
			access = true
		}
	}
	if !access {
		t.Errorf("no access log line for the failed action:\n%s", logs.String())
	}
}
