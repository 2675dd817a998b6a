package integration

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
)

// The client request reaches the actor through the distributed engine:
// the gateway sends headers, origin and client address over the link, and
// OnBeforeConnect and actions on the runner see them.
func TestRequestReachesActorThroughGateway(t *testing.T) {
	c := newCluster(t)
	g := c.startGateway()
	c.startRunner(1)
	c.waitRunners(1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	newClient := func(key string) *client.Client {
		// Node-like clients send no Origin; this one sends the gateway's
		// own, which the default same-origin policy allows.
		cl, err := client.New(client.Config{Endpoint: g.endpoint(), Encoding: client.EncodingBARE,
			Header: http.Header{"Origin": {g.endpoint()}, "X-Api-Key": {key}}})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	want := map[string]string{"origin": g.endpoint(), "remote": "127.0.0.1", "apiKey": "k1"}
	h := newClient("k1").GetOrCreate("requestEcho", []string{"r"})
	got, err := client.Call[map[string]string](ctx, h, "request")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("HTTP action: %v, %v; want %v", got, err, want)
	}
	conn, err := h.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got = nil
	if err := conn.Action(ctx, "request", &got); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("connection action: %v, %v; want %v", got, err, want)
	}
	if _, err := client.Call[map[string]string](ctx, newClient("deny").GetOrCreate("requestEcho", []string{"r"}), "request"); err == nil ||
		!strings.Contains(err.Error(), "forbidden") {
		t.Errorf("OnBeforeConnect with X-Api-Key deny: %v, want user/forbidden", err)
	}
}
