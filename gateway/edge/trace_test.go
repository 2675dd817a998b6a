package edge_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/rivetkube/rivetkube/gateway/edge"
	"github.com/rivetkube/rivetkube/internal/link"
	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/boltstore"
	"github.com/rivetkube/rivetkube/rivet"
	"github.com/rivetkube/rivetkube/runner"
)

// linkHost is the edge's host over a real link to a runtime (the
// distributed path without PostgreSQL and placement).
type linkHost struct {
	*link.Client
	names *runner.Runtime
}

func (h linkHost) HasActor(name string) bool { return h.names.HasActor(name) }

type tcount struct {
	N int64 `cbor:"n"`
}

// TestTraceparentAcrossTheLink sends a client traceparent through the edge
// and a real link to a runtime, and checks the span tree: the client's span
// is the parent of the gateway span, then link call, runner action, commit.
func TestTraceparentAcrossTheLink(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) })

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cm := store.NewCommitter(st, store.CommitterOptions{})
	def := rivet.New("counter", rivet.Options[tcount]{}).
		Action("inc", func(c *rivet.Ctx[tcount], n int64) (int64, error) {
			c.State().N += n
			return c.State().N, nil
		})
	rt := runner.NewRuntime(runner.RuntimeConfig{Store: st, Committer: cm, Defs: []runner.Definition{def}, RunnerID: "r1", Log: quiet})
	ls := link.NewServer(rt, link.ServerOptions{Log: quiet})
	mux := http.NewServeMux()
	mux.Handle("/link", ls)
	runnerSrv := httptest.NewServer(mux)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lc, err := link.Dial(ctx, "ws"+strings.TrimPrefix(runnerSrv.URL, "http")+"/link", link.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(edge.New(edge.Config{Directory: st, Host: linkHost{lc, rt}, Log: quiet}))
	t.Cleanup(func() {
		gw.Close()
		lc.Close()
		ls.Close(ctx)
		runnerSrv.Close()
		rt.Close(ctx)
		cm.Close()
		_ = st.Close()
	})

	const traceID, parentID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost,
		gw.URL+"/gateway/counter/action/inc?rvt-method=getOrCreate&rvt-key=trace", strings.NewReader(`{"args":[1]}`))
	req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("action: %s %s", res.Status, body)
	}

	// The gateway span ends after the response left: wait for it.
	byName := map[string]sdktrace.ReadOnlySpan{}
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, s := range sr.Ended() {
			byName[s.Name()] = s
		}
		if byName["gateway gateway_action"] != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	gws, lks, act, com := byName["gateway gateway_action"], byName["link action"], byName["action inc"], byName["commit"]
	if gws == nil || lks == nil || act == nil || com == nil {
		names := make([]string, 0, len(byName))
		for n := range byName {
			names = append(names, n)
		}
		t.Fatalf("missing spans; got %v", names)
	}
	for _, s := range []sdktrace.ReadOnlySpan{gws, lks, act, com} {
		if got := s.SpanContext().TraceID().String(); got != traceID {
			t.Errorf("span %q is in trace %s, want the client's %s", s.Name(), got, traceID)
		}
	}
	if got := gws.Parent().SpanID().String(); got != parentID || !gws.Parent().IsRemote() {
		t.Errorf("gateway span's parent = %s (remote %v), want the client's %s", got, gws.Parent().IsRemote(), parentID)
	}
	chain := []struct{ child, parent sdktrace.ReadOnlySpan }{{lks, gws}, {act, lks}, {com, act}}
	for _, c := range chain {
		if c.child.Parent().SpanID() != c.parent.SpanContext().SpanID() {
			t.Errorf("span %q's parent is %s, want %q (%s)", c.child.Name(), c.child.Parent().SpanID(), c.parent.Name(), c.parent.SpanContext().SpanID())
		}
	}
	if !act.Parent().IsRemote() {
		t.Error("the runner's action span does not continue a remote parent: the trace did not cross the link")
	}
}
