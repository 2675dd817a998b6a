package edge

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/store/boltstore"
)

const (
	goodToken  = "client-token-0123456789"
	otherToken = "client-token-abcdefghij"
	slashToken = "client/token+with=odd/chars"
)

func newTokenServer(t *testing.T, tokens, inspectorToken string) *httptest.Server {
	t.Helper()
	ct, err := ParseClientTokens(tokens)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	srv := httptest.NewServer(New(Config{Directory: bs, Host: &fakeHost{st: bs}, ClientTokens: ct, InspectorToken: inspectorToken, Log: quietLog()}))
	t.Cleanup(srv.Close)
	return srv
}

func TestParseClientTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		count   int
		wantErr string
	}{
		{in: "", count: 0},
		{in: " , ", count: 0},
		{in: goodToken, count: 1},
		{in: goodToken + ", " + otherToken, count: 2},
		{in: "short", wantErr: "want 16 to 1024 characters"},
		{in: goodToken + ",tiny", wantErr: "client token 2"},
		{in: "client token with spaces", wantErr: "white space"},
		{in: strings.Repeat("x", 1025), wantErr: "want 16 to 1024"},
	}
	for _, tt := range tests {
		c, err := ParseClientTokens(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseClientTokens(%.30q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || c.Count() != tt.count || c.Enabled() != (tt.count > 0) {
			t.Errorf("ParseClientTokens(%.30q) = %d tokens, %v; want %d", tt.in, c.Count(), err, tt.count)
		}
	}
}

func TestClientTokenValid(t *testing.T) {
	t.Parallel()
	c, err := ParseClientTokens(goodToken + "," + otherToken)
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]bool{
		goodToken: true, otherToken: true,
		"": false, goodToken[:len(goodToken)-1]: false, goodToken + "x": false,
		strings.ToUpper(goodToken): false, strings.Repeat("y", 5000): false,
	} {
		if got := c.valid(tok); got != want {
			t.Errorf("valid(%.30q) = %v, want %v", tok, got, want)
		}
	}
}

// Every form the RivetKit client sends a token in is accepted; missing and
// wrong tokens get 401 auth/token_missing and 403 auth/token_invalid.
func TestClientTokenRequests(t *testing.T) {
	t.Parallel()
	srv := newTokenServer(t, goodToken+","+slashToken, "")
	open := newTokenServer(t, "", "")
	action := "/gateway/counter/action/whoami?rvt-method=getOrCreate&rvt-runner=default&rvt-key=k"
	tests := []struct {
		name   string
		srv    *httptest.Server
		method string
		path   string
		header map[string]string
		status int
		code   string // expected error code, for 4xx
	}{
		{name: "healthz is open", method: "GET", path: "/healthz", status: 204},
		{name: "metadata is open", method: "GET", path: "/metadata", status: 200},
		{name: "list without token", method: "GET", path: "/actors?name=counter", status: 401, code: errs.CodeTokenMissing},
		{name: "list with bearer", method: "GET", path: "/actors?name=counter", header: map[string]string{"Authorization": "Bearer " + goodToken}, status: 200},
		{name: "bearer scheme is case-insensitive", method: "GET", path: "/actors?name=counter", header: map[string]string{"Authorization": "bearer " + goodToken}, status: 200},
		{name: "basic auth is not a token", method: "GET", path: "/actors?name=counter", header: map[string]string{"Authorization": "Basic " + goodToken}, status: 401, code: errs.CodeTokenMissing},
		{name: "list with wrong bearer", method: "GET", path: "/actors?name=counter", header: map[string]string{"Authorization": "Bearer " + otherToken}, status: 403, code: errs.CodeTokenInvalid},
		{name: "list with x-rivet-token", method: "GET", path: "/actors?name=counter", header: map[string]string{"x-rivet-token": goodToken}, status: 200},
		{name: "destroy without token", method: "DELETE", path: "/actors/some-id", status: 401, code: errs.CodeTokenMissing},
		{name: "action without token", method: "POST", path: action, status: 401, code: errs.CodeTokenMissing},
		{name: "action with rvt-token", method: "POST", path: action + "&rvt-token=" + url.QueryEscape(goodToken), status: 200},
		{name: "action with wrong rvt-token", method: "POST", path: action + "&rvt-token=" + otherToken, status: 403, code: errs.CodeTokenInvalid},
		{name: "one good token among bad ones", method: "POST", path: action + "&rvt-token=" + otherToken, header: map[string]string{"x-rivet-token": goodToken}, status: 200},
		// The target passes the check, then the actor does not exist.
		{name: "id@token target", method: "POST", path: "/gateway/no-such-actor@" + goodToken + "/action/whoami", status: 404, code: "not_found"},
		{name: "id@token escaped", method: "POST", path: "/gateway/no-such-actor@" + url.PathEscape(slashToken) + "/action/whoami", status: 404, code: "not_found"},
		{name: "id@wrong token", method: "POST", path: "/gateway/no-such-actor@" + otherToken + "/action/whoami", status: 403, code: errs.CodeTokenInvalid},
		{name: "inspector needs a client token without an inspector token", method: "GET", path: "/gateway/no-such-actor/inspector/state", status: 401, code: errs.CodeTokenMissing},
		{name: "open engine", srv: open, method: "POST", path: action, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tt.srv
			if s == nil {
				s = srv
			}
			var body *strings.Reader
			if tt.method == "POST" {
				body = strings.NewReader(`{"args":[]}`)
			} else {
				body = strings.NewReader("")
			}
			req, err := http.NewRequest(tt.method, s.URL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var eb struct{ Group, Code string }
			_ = json.NewDecoder(resp.Body).Decode(&eb)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d (%s/%s), want %d", resp.StatusCode, eb.Group, eb.Code, tt.status)
			}
			if tt.code != "" && eb.Code != tt.code {
				t.Errorf("code = %s/%s, want %s", eb.Group, eb.Code, tt.code)
			}
			if strings.HasPrefix(tt.code, "token_") && eb.Group != errs.GroupAuth {
				t.Errorf("group = %q, want auth", eb.Group)
			}
		})
	}
}

// With an inspector token the inspector route is governed by it alone: a
// client token is neither needed nor enough.
func TestClientTokensLeaveInspectorSeparate(t *testing.T) {
	t.Parallel()
	srv := newTokenServer(t, goodToken, "inspector-token-0123456789")
	req, _ := http.NewRequest("GET", srv.URL+"/gateway/counter/inspector/state?rvt-method=getOrCreate&rvt-runner=default&rvt-key=insp", nil)
	req.Header.Set("Authorization", "Bearer "+goodToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb struct{ Group, Code string }
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	if resp.StatusCode != http.StatusUnauthorized || eb.Code != "unauthorized" {
		t.Errorf("inspector with a client token: %d %s/%s, want 401 auth/unauthorized from the inspector check", resp.StatusCode, eb.Group, eb.Code)
	}
}

// The WebSocket upgrade accepts the rivet_token protocol and rvt-token.
func TestClientTokenWebSocket(t *testing.T) {
	t.Parallel()
	srv := newTokenServer(t, goodToken, "")
	base := srv.URL + "/gateway/counter/connect?rvt-method=getOrCreate&rvt-runner=default&rvt-key=ws"
	for _, tt := range []struct {
		name   string
		url    string
		protos []string
		status int
	}{
		{"no token", base, nil, http.StatusUnauthorized},
		{"protocol token", base, []string{"rivet_token." + goodToken}, http.StatusSwitchingProtocols},
		{"wrong protocol token", base, []string{"rivet_token." + otherToken}, http.StatusForbidden},
		{"query token", base + "&rvt-token=" + goodToken, nil, http.StatusSwitchingProtocols},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, resp, err := websocket.Dial(ctx, tt.url, &websocket.DialOptions{Subprotocols: append([]string{"rivet", "rivet_encoding.json"}, tt.protos...)})
		cancel()
		if resp == nil {
			t.Fatalf("%s: no response: %v", tt.name, err)
		}
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
		if c != nil {
			_ = c.CloseNow()
		}
	}
}

// The Go client's Token reaches the gateway in a form it accepts.
func TestClientTokenGoClient(t *testing.T) {
	t.Parallel()
	srv := newTokenServer(t, goodToken, "")
	for _, tt := range []struct {
		token string
		code  string
	}{
		{goodToken, ""},
		{otherToken, errs.CodeTokenInvalid},
	} {
		cl, err := client.New(client.Config{Endpoint: srv.URL, Token: tt.token, Encoding: client.EncodingJSON})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var id string
		err = cl.GetOrCreate("counter", []string{"go"}).Action(ctx, "whoami", &id)
		cancel()
		if tt.code == "" && err != nil {
			t.Errorf("token %q: %v", tt.token, err)
		}
		if tt.code != "" && (err == nil || !strings.Contains(err.Error(), tt.code)) {
			t.Errorf("token %q: err = %v, want %s", tt.token, err, tt.code)
		}
	}
}
