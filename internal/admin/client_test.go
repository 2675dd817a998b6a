package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The real gateway behind this client is exercised by the controller tests
// (controllers); these cases pin the client's own behavior: the
// bearer token, the request bodies, and how errors are told apart.
func TestClient(t *testing.T) {
	t.Parallel()
	var got struct {
		method, path, auth string
		body               map[string]any
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path, got.auth = r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization")
		got.body = nil
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			_ = json.Unmarshal(b, &got.body)
		}
		switch {
		case r.URL.Path == "/healthz":
			w.WriteHeader(http.StatusNoContent)
		case r.Header.Get("Authorization") != "Bearer secret":
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"group":"auth","code":"unauthorized","message":"Unauthorized."}`))
		default:
			_, _ = w.Write([]byte(`{"pool":"p","ready":[2],"draining":[1],"drainRate":5,"actors":3,
				"runners":[{"id":"r1","version":2,"address":"10.0.0.1:6421","alive":true,"actors":3}],
				"versions":{"2":{"runners":1,"liveRunners":1,"actors":3}}}`))
		}
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	c := New(srv.URL+"/", "secret", nil)

	if err := c.Healthy(ctx); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	st, err := c.SetRouting(ctx, "a b", Routing{Ready: []uint64{2}, DrainRate: 5})
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodPut || got.path != "/admin/pools/a%20b" || got.auth != "Bearer secret" {
		t.Errorf("request = %s %s auth %q", got.method, got.path, got.auth)
	}
	if d, ok := got.body["draining"].([]any); !ok || len(d) != 0 {
		t.Errorf("draining must be sent as an empty list, body = %v", got.body)
	}
	if st.Version(2).Actors != 3 || st.Version(1).Actors != 0 || st.Runners[0].Address != "10.0.0.1:6421" {
		t.Errorf("status = %+v", st)
	}
	if err := c.SetRunnerDraining(ctx, "r1", true); err != nil || got.path != "/admin/runners/r1/draining" || got.body["draining"] != true {
		t.Errorf("set draining: %v %s %v", err, got.path, got.body)
	}

	_, err = New(srv.URL, "wrong", nil).PoolStatus(ctx, "p")
	var ae *Error
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized || ae.Code != "unauthorized" {
		t.Errorf("wrong token: %v", err)
	}
	if errors.Is(err, ErrUnreachable) {
		t.Errorf("an answer is not unreachable: %v", err)
	}
	srv.Close()
	if _, err := c.PoolStatus(ctx, "p"); !errors.Is(err, ErrUnreachable) {
		t.Errorf("closed server: %v, want ErrUnreachable", err)
	}
}
