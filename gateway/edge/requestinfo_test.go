package edge

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
)

func TestRequestInfo(t *testing.T) {
	t.Parallel()
	trusted, err := ParseTrustedProxies("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Log: quietLog(), Limits: ClientLimits{TrustedProxies: trusted}})
	tests := []struct {
		name    string
		header  map[string][]string
		remote  string
		wantErr bool
		check   func(t *testing.T, info *hostapi.RequestInfo)
	}{
		{name: "headers, origin and address", remote: "203.0.113.5:4000",
			header: map[string][]string{"Origin": {"https://app.test"}, "X-Api-Key": {"a", "b"}, "Cookie": {"s=1"}},
			check: func(t *testing.T, info *hostapi.RequestInfo) {
				if info.Header.Get("Origin") != "https://app.test" || len(info.Header.Values("X-Api-Key")) != 2 || info.Header.Get("Cookie") != "s=1" {
					t.Errorf("headers = %v", info.Header)
				}
				if info.RemoteAddr != "203.0.113.5" {
					t.Errorf("remote = %q", info.RemoteAddr)
				}
			}},
		{name: "hop-by-hop, handshake and token headers removed", remote: "203.0.113.5:4000",
			header: map[string][]string{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Key": {"k"},
				"Sec-Websocket-Protocol": {"rivet, rivet_token.secret"}, "X-Rivet-Token": {"secret"}, "X-Rivet-Conn-Params": {"{}"}, "X-Kept": {"1"}},
			check: func(t *testing.T, info *hostapi.RequestInfo) {
				if len(info.Header) != 1 || info.Header.Get("X-Kept") != "1" {
					t.Errorf("headers = %v, want only X-Kept", info.Header)
				}
			}},
		{name: "client address behind a trusted proxy", remote: "10.1.1.1:80",
			header: map[string][]string{"X-Forwarded-For": {"198.51.100.7"}},
			check: func(t *testing.T, info *hostapi.RequestInfo) {
				if info.RemoteAddr != "198.51.100.7" {
					t.Errorf("remote = %q", info.RemoteAddr)
				}
			}},
		{name: "too many values", remote: "203.0.113.5:4000", header: func() map[string][]string {
			h := map[string][]string{}
			for i := 0; i <= hostapi.MaxRequestHeaders; i++ {
				h[fmt.Sprintf("X-H%d", i)] = []string{"v"}
			}
			return h
		}(), wantErr: true},
		{name: "too many bytes", remote: "203.0.113.5:4000",
			header: map[string][]string{"X-Big": {strings.Repeat("x", hostapi.MaxRequestHeaderBytes)}}, wantErr: true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/gateway/a/connect", nil)
		r.RemoteAddr = tt.remote
		for k, vs := range tt.header {
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
		info, err := s.requestInfo(r)
		if tt.wantErr {
			if e := errs.From(err); err == nil || e.Code != errs.CodeHeadersTooLarge || e.Status != 431 {
				t.Errorf("%s: err = %v, want 431 request/headers_too_large", tt.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		tt.check(t, info)
	}
}
