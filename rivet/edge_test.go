package rivet_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/testactors"
	"github.com/rivetkube/rivetkube/rivet"
)

// A local engine that requires client tokens refuses a client without
// one, and still serves actor-to-actor calls, which pass the same check.
func TestLocalEngineClientTokens(t *testing.T) {
	const token = "local-engine-token-0123456789"
	eng, err := testactors.Register(rivet.NewRegistry()).StartLocal(context.Background(), rivet.EngineConfig{
		Listen: "127.0.0.1:0", DataDir: t.TempDir(), ClientTokens: token,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	anon, err := client.New(client.Config{Endpoint: eng.Endpoint(), Token: "", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Call[int64](ctx, anon.GetOrCreate("counter", []string{"t"}), "increment", int64(1))
	if err == nil || !strings.Contains(err.Error(), "token_missing") {
		t.Fatalf("call without a token: %v, want auth/token_missing", err)
	}

	cl, err := client.New(client.Config{Endpoint: eng.Endpoint(), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	n, err := client.Call[int64](ctx, cl.GetOrCreate("caller", []string{"t"}), "incrementCounter", "t", int64(2))
	if err != nil {
		t.Fatalf("actor-to-actor call through a token-protected engine: %v", err)
	}
	if n != 2 {
		t.Errorf("counter = %d, want 2", n)
	}
}

// A bad token list stops the engine from starting.
func TestLocalEngineRejectsShortToken(t *testing.T) {
	_, err := testactors.Register(rivet.NewRegistry()).StartLocal(context.Background(), rivet.EngineConfig{
		Listen: "127.0.0.1:0", DataDir: t.TempDir(), ClientTokens: "short",
	})
	if err == nil || !strings.Contains(err.Error(), "RIVETKUBE_CLIENT_TOKENS") {
		t.Fatalf("StartLocal with a short token: %v", err)
	}
}

type guardState struct {
	Calls int `cbor:"calls"`
}

// guarded admits connections (and HTTP actions) that carry X-Api-Key, the
// header-based auth RivetKit documents, written in Go.
var guarded = rivet.New("guarded", rivet.Options[guardState]{
	OnBeforeConnect: func(c *rivet.Ctx[guardState], _ rivet.Raw) error {
		if r := c.Request(); r == nil || r.Header.Get("X-Api-Key") != "let-me-in" {
			return rivet.NewUserError("forbidden", "missing or wrong X-Api-Key", nil)
		}
		return nil
	},
}).Action("whoami", func(c *rivet.Ctx[guardState]) (map[string]string, error) {
	r := c.Request()
	if r == nil {
		return nil, rivet.NewUserError("no_request", "no request", nil)
	}
	return map[string]string{"origin": r.Origin, "remote": r.RemoteAddr, "key": r.Header.Get("X-Api-Key"),
		"token": r.Header.Get("X-Rivet-Token")}, nil
})

// OnBeforeConnect and actions see the client's headers, origin and address,
// over HTTP and over a WebSocket connection.
func TestLocalEngineRequestReachesActor(t *testing.T) {
	eng, err := rivet.NewRegistry().Register(guarded).StartLocal(context.Background(), rivet.EngineConfig{
		Listen: "127.0.0.1:0", DataDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	newClient := func(key string) *client.Client {
		h := http.Header{"Origin": {"https://app.example.com"}, "X-Rivet-Token": {"not-for-actors"}}
		if key != "" {
			h.Set("X-Api-Key", key)
		}
		cl, err := client.New(client.Config{Endpoint: eng.Endpoint(), Header: h, Encoding: client.EncodingCBOR, MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	want := map[string]string{"origin": "https://app.example.com", "remote": "127.0.0.1", "key": "let-me-in", "token": ""}

	got, err := client.Call[map[string]string](ctx, newClient("let-me-in").GetOrCreate("guarded", []string{"a"}), "whoami")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("HTTP action: %v, %v; want %v", got, err, want)
	}
	for _, key := range []string{"", "wrong"} {
		_, err := client.Call[map[string]string](ctx, newClient(key).GetOrCreate("guarded", []string{"a"}), "whoami")
		if err == nil || !strings.Contains(err.Error(), "forbidden") {
			t.Errorf("HTTP action with key %q: %v, want user/forbidden", key, err)
		}
	}

	conn, err := newClient("let-me-in").GetOrCreate("guarded", []string{"a"}).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got = nil
	if err := conn.Action(ctx, "whoami", &got); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("connection action: %v, %v; want %v", got, err, want)
	}
	bad, err := newClient("wrong").GetOrCreate("guarded", []string{"a"}).Connect(ctx)
	if err == nil {
		err = bad.Action(ctx, "whoami", &got)
		bad.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("connection with a wrong key: %v, want user/forbidden", err)
	}
}
