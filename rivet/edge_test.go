package rivet_test

import (
	"context"
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
