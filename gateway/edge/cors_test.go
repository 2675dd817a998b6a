package edge

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/store/boltstore"
)

func newCORSServer(t *testing.T, policy CORS) *Server {
	t.Helper()
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	return New(Config{Directory: bs, Host: &fakeHost{st: bs}, CORS: policy, Log: quietLog()})
}

// quietLog drops the gateway's log: the refusals these tests provoke are
// logged by design.
func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustCORS(t *testing.T, list string) CORS {
	t.Helper()
	c, err := ParseCORSOrigins(list)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseCORSOrigins(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string // String() of the policy
		wantErr string
	}{
		{in: "", want: "same origin only"},
		{in: " , ", want: "same origin only"},
		{in: "*", want: "any origin (development)"},
		{in: "http://localhost:5173", want: "same origin and http://localhost:5173"},
		{in: "HTTPS://App.Example.COM:443/", want: "same origin and https://app.example.com"},
		{in: "http://a.test:80, https://*.example.com", want: "same origin and http://a.test, https://*.example.com"},
		{in: "http://[::1]:5173", want: "same origin and http://[::1]:5173"},
		{in: "localhost:5173", wantErr: "want http:// or https://"},
		{in: "ftp://a.test", wantErr: "want http:// or https://"},
		{in: "http://a.test/app", wantErr: "nothing else"},
		{in: "http://a.test?x=1", wantErr: "nothing else"},
		{in: "http://user@a.test", wantErr: "nothing else"},
		{in: "https://a.*.example.com", wantErr: "wildcard"},
		{in: "https://*.", wantErr: "wildcard"},
	}
	for _, tt := range tests {
		c, err := ParseCORSOrigins(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseCORSOrigins(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseCORSOrigins(%q): %v", tt.in, err)
			continue
		}
		if got := c.String(); got != tt.want {
			t.Errorf("ParseCORSOrigins(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCORSRequests(t *testing.T) {
	t.Parallel()
	const host = "gw.test:6420"
	tests := []struct {
		name    string
		policy  string
		method  string
		path    string
		header  map[string]string
		status  int
		allowed string // expected Access-Control-Allow-Origin ("" = none)
		check   func(t *testing.T, h http.Header)
	}{
		{name: "no origin passes untouched", policy: "", method: "GET", path: "/healthz", status: 204},
		{name: "no origin OPTIONS", policy: "", method: "OPTIONS", path: "/actors", status: 204},
		{name: "same origin allowed by default", policy: "", method: "GET", path: "/healthz",
			header: map[string]string{"Origin": "http://gw.test:6420"}, status: 204, allowed: "http://gw.test:6420"},
		{name: "same origin behind TLS proxy", policy: "", method: "GET", path: "/healthz",
			header: map[string]string{"Origin": "https://gw.test:6420"}, status: 204, allowed: "https://gw.test:6420"},
		{name: "other port is another origin", policy: "", method: "GET", path: "/healthz",
			header: map[string]string{"Origin": "http://gw.test:5173"}, status: 403},
		{name: "cross origin refused by default", policy: "", method: "POST", path: "/gateway/counter/action/x",
			header: map[string]string{"Origin": "http://evil.test"}, status: 403},
		{name: "listed origin allowed", policy: "http://localhost:5173", method: "GET", path: "/healthz",
			header: map[string]string{"Origin": "http://localhost:5173"}, status: 204, allowed: "http://localhost:5173",
			check: func(t *testing.T, h http.Header) {
				if got := h.Get("Access-Control-Allow-Credentials"); got != "true" {
					t.Errorf("Allow-Credentials = %q", got)
				}
				if got := h.Values("Vary"); len(got) != 1 || got[0] != "Origin" {
					t.Errorf("Vary = %q", got)
				}
				exp := h.Get("Access-Control-Expose-Headers")
				for _, want := range []string{"x-rivet-actor", "x-rivet-ray-id", "retry-after"} {
					if !strings.Contains(exp, want) {
						t.Errorf("Expose-Headers %q lacks %s", exp, want)
					}
				}
				if strings.Contains(exp, "*") {
					t.Errorf("Expose-Headers %q has a wildcard, which credentialed requests ignore", exp)
				}
			}},
		{name: "unlisted port refused", policy: "http://localhost:5173", method: "GET", path: "/healthz",
			header: map[string]string{"Origin": "http://localhost:5174"}, status: 403},
		{name: "wildcard subdomain", policy: "https://*.example.com", method: "GET", path: "/healthz",
			header: map[string]string{"Origin": "https://app.example.com"}, status: 204, allowed: "https://app.example.com"},
		{name: "wildcard does not match apex", policy: "https://*.example.com", method: "GET", path: "/healthz",
			header: map[string]string{"Origin": "https://example.com"}, status: 403},
		{name: "wildcard keeps the scheme", policy: "https://*.example.com", method: "GET", path: "/healthz",
			header: map[string]string{"Origin": "http://app.example.com"}, status: 403},
		{name: "wildcard suffix is a label", policy: "https://*.example.com", method: "GET", path: "/healthz",
			header: map[string]string{"Origin": "https://evilexample.com"}, status: 403},
		{name: "null origin refused", policy: "http://localhost:5173", method: "GET", path: "/healthz",
			header: map[string]string{"Origin": "null"}, status: 403},
		{name: "any origin reflects", policy: "*", method: "GET", path: "/healthz",
			header: map[string]string{"Origin": "http://evil.test"}, status: 204, allowed: "http://evil.test"},
		{name: "preflight echoes method and headers", policy: "http://localhost:5173", method: "OPTIONS", path: "/gateway/counter/action/increment",
			header: map[string]string{"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST",
				"Access-Control-Request-Headers": "Content-Type, x-rivet-encoding,x-rivet-conn-params"},
			status: 204, allowed: "http://localhost:5173",
			check: func(t *testing.T, h http.Header) {
				if got := h.Get("Access-Control-Allow-Methods"); got != "POST" {
					t.Errorf("Allow-Methods = %q", got)
				}
				if got := h.Get("Access-Control-Allow-Headers"); got != "content-type, x-rivet-encoding, x-rivet-conn-params" {
					t.Errorf("Allow-Headers = %q", got)
				}
				if h.Get("Access-Control-Max-Age") == "" || h.Get("Access-Control-Allow-Credentials") != "true" {
					t.Errorf("preflight headers = %v", h)
				}
				if got := strings.Join(h.Values("Vary"), ","); got != "Origin,Access-Control-Request-Method,Access-Control-Request-Headers" {
					t.Errorf("Vary = %q", got)
				}
			}},
		{name: "preflight with a bad header name echoes none", policy: "*", method: "OPTIONS", path: "/actors",
			header: map[string]string{"Origin": "http://a.test", "Access-Control-Request-Method": "PUT",
				"Access-Control-Request-Headers": "content-type, bad header"},
			status: 204, allowed: "http://a.test",
			check: func(t *testing.T, h http.Header) {
				if got := h.Get("Access-Control-Allow-Headers"); got != "" {
					t.Errorf("Allow-Headers = %q, want none", got)
				}
			}},
		{name: "preflight from a refused origin", policy: "http://localhost:5173", method: "OPTIONS", path: "/actors",
			header: map[string]string{"Origin": "http://evil.test", "Access-Control-Request-Method": "PUT"}, status: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newCORSServer(t, mustCORS(t, tt.policy))
			req := httptest.NewRequest(tt.method, "http://"+host+tt.path, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			h := rec.Result().Header
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
			}
			if got := h.Get("Access-Control-Allow-Origin"); got != tt.allowed {
				t.Errorf("Allow-Origin = %q, want %q", got, tt.allowed)
			}
			if tt.status == http.StatusForbidden {
				var body struct{ Group, Code string }
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
					t.Fatalf("error body %q: %v", rec.Body, err)
				}
				if body.Group != errs.GroupRequest || body.Code != errs.CodeOriginNotAllowed {
					t.Errorf("error = %s/%s, want request/origin_not_allowed", body.Group, body.Code)
				}
			}
			if tt.check != nil {
				tt.check(t, h)
			}
		})
	}
}

// A WebSocket upgrade is checked against the same list: a refused origin
// never gets its 101.
func TestCORSWebSocketOrigin(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(newCORSServer(t, mustCORS(t, "http://localhost:5173")))
	t.Cleanup(srv.Close)
	url := srv.URL + "/gateway/counter/connect?rvt-method=getOrCreate&rvt-key=a"
	for _, tt := range []struct {
		origin string
		status int
	}{
		{"http://localhost:5173", http.StatusSwitchingProtocols},
		{"http://evil.test", http.StatusForbidden},
		{"", http.StatusSwitchingProtocols}, // not a browser
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		h := http.Header{}
		if tt.origin != "" {
			h.Set("Origin", tt.origin)
		}
		c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{"rivet", "rivet_encoding.json"}})
		cancel()
		if resp == nil {
			t.Fatalf("origin %q: no response: %v", tt.origin, err)
		}
		if resp.StatusCode != tt.status {
			t.Errorf("origin %q: status %d, want %d (err %v)", tt.origin, resp.StatusCode, tt.status, err)
		}
		if c != nil {
			_ = c.CloseNow()
		}
	}
}
