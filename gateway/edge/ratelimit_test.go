package edge

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/store/boltstore"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestLimiterRate(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := newLimiter(ClientLimits{PerMinute: 3}, quietLog(), clk.now)
	for i := 0; i < 3; i++ {
		rel, err, _ := l.take("a")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		rel()
	}
	_, err, wait := l.take("a")
	if err == nil || err.Code != errs.CodeRateLimited || err.Status != http.StatusTooManyRequests {
		t.Fatalf("4th request: %v, want limit/rate_limited", err)
	}
	if wait != 20*time.Second {
		t.Errorf("retry after %s, want 20s (one of 3 per minute)", wait)
	}
	if _, err, _ := l.take("b"); err != nil {
		t.Errorf("another pair was limited: %v", err)
	}
	clk.add(19 * time.Second)
	if _, err, _ := l.take("a"); err == nil {
		t.Error("a request before the token refilled passed")
	}
	clk.add(time.Second)
	if _, err, _ := l.take("a"); err != nil {
		t.Errorf("after the refill: %v", err)
	}
	// An hour idle refills a full minute's worth, no more.
	clk.add(time.Hour)
	for i := 0; i < 3; i++ {
		if _, err, _ := l.take("a"); err != nil {
			t.Fatalf("burst %d: %v", i, err)
		}
	}
	if _, err, _ := l.take("a"); err == nil {
		t.Error("the burst exceeded PerMinute")
	}
}

func TestLimiterInFlight(t *testing.T) {
	t.Parallel()
	l := newLimiter(ClientLimits{InFlight: 2}, quietLog(), nil)
	r1, err, _ := l.take("a")
	if err != nil {
		t.Fatal(err)
	}
	r2, err, _ := l.take("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err, _ := l.take("a"); err == nil || err.Code != errs.CodeTooManyInFlight {
		t.Fatalf("3rd in flight: %v, want limit/too_many_in_flight", err)
	}
	if _, err, _ := l.take("b"); err != nil {
		t.Errorf("another pair was limited: %v", err)
	}
	r1()
	r1() // release is idempotent: it must not free a second slot
	r3, err, _ := l.take("a")
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if _, err, _ := l.take("a"); err == nil {
		t.Error("a double release freed two slots")
	}
	r2()
	r3()
}

// The tracked pairs stay within MaxTracked, and a pair with requests in
// flight is never forgotten (its slots would be lost).
func TestLimiterBounded(t *testing.T) {
	t.Parallel()
	l := newLimiter(ClientLimits{PerMinute: 10, InFlight: 1, MaxTracked: limiterShards}, quietLog(), nil)
	busy, err, _ := l.take("busy")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5000; i++ {
		rel, err, _ := l.take("k" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Duration(i).String())
		if err != nil {
			t.Fatal(err)
		}
		rel()
	}
	total := 0
	for i := range l.shards {
		total += len(l.shards[i].pairs)
	}
	if total > 2*limiterShards {
		t.Errorf("%d pairs tracked, want at most about %d", total, limiterShards)
	}
	if _, err, _ := l.take("busy"); err == nil || err.Code != errs.CodeTooManyInFlight {
		t.Errorf("the busy pair was forgotten: %v", err)
	}
	busy()
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.168.1.10")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		remote  string
		xff     string
		want    string
	}{
		{"remote address", nil, "203.0.113.7:5555", "", "203.0.113.7"},
		{"untrusted proxy's header ignored", nil, "203.0.113.7:5555", "1.2.3.4", "203.0.113.7"},
		{"trusted proxy", trusted, "10.1.2.3:5555", "1.2.3.4", "1.2.3.4"},
		{"chain of trusted proxies", trusted, "10.1.2.3:5555", "1.2.3.4, 192.168.1.10, 10.9.9.9", "1.2.3.4"},
		{"spoofed left entries ignored", trusted, "10.1.2.3:5555", "6.6.6.6, 1.2.3.4", "1.2.3.4"},
		{"all trusted", trusted, "10.1.2.3:5555", "10.0.0.1", "10.0.0.1"},
		{"malformed hop", trusted, "10.1.2.3:5555", "1.2.3.4, garbage", "10.1.2.3"},
		{"no header from trusted proxy", trusted, "10.1.2.3:5555", "", "10.1.2.3"},
		{"ipv6", nil, "[2001:db8::1]:5555", "", "2001:db8::1"},
	}
	for _, tt := range tests {
		l := newLimiter(ClientLimits{PerMinute: 1, TrustedProxies: tt.trusted}, quietLog(), nil)
		r := httptest.NewRequest("GET", "/actors", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := l.clientIP(r); got != tt.want {
			t.Errorf("%s: clientIP = %q, want %q", tt.name, got, tt.want)
		}
	}
	if _, err := ParseTrustedProxies("10.0.0.0/99"); err == nil {
		t.Error("a bad prefix parsed")
	}
	if _, err := ParseTrustedProxies("proxy.local"); err == nil {
		t.Error("a host name parsed")
	}
}

func TestLimitedActor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		want    string
		limited bool
	}{
		{"/healthz", "", false},
		{"/metadata", "", false},
		{"/admin/pools/default", "", false},
		{"/actors?name=x", "/actors", true},
		{"/actors/abc", "/actors", true},
		{"/gateway/abc/action/x", "id:abc", true},
		{"/gateway/abc@tok/action/x", "id:abc", true},
		{"/gateway/counter/action/x?rvt-method=getOrCreate&rvt-key=a,b&rvt-namespace=ns", "name:ns/counter/a,b", true},
	}
	for _, tt := range tests {
		got, limited := limitedActor(httptest.NewRequest("GET", tt.url, nil))
		if got != tt.want || limited != tt.limited {
			t.Errorf("limitedActor(%s) = %q, %v; want %q, %v", tt.url, got, limited, tt.want, tt.limited)
		}
	}
}

func TestClientLimitsFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env     map[string]string
		want    string
		wantErr string
	}{
		{env: nil, want: "none"},
		{env: map[string]string{"RIVETKUBE_CLIENT_RATE_PER_MINUTE": "1200", "RIVETKUBE_CLIENT_MAX_IN_FLIGHT": "32"}, want: RivetClientLimits().String()},
		{env: map[string]string{"RIVETKUBE_CLIENT_IP_RATE_PER_MINUTE": "6000"}, want: "0/min and 0 in flight per client IP and actor, 6000/min per client IP (0: unlimited)"},
		{env: map[string]string{"RIVETKUBE_CLIENT_RATE_PER_MINUTE": "-1"}, wantErr: "RIVETKUBE_CLIENT_RATE_PER_MINUTE"},
		{env: map[string]string{"RIVETKUBE_CLIENT_MAX_IN_FLIGHT": "many"}, wantErr: "RIVETKUBE_CLIENT_MAX_IN_FLIGHT"},
		{env: map[string]string{"RIVETKUBE_TRUSTED_PROXIES": "nope"}, wantErr: "RIVETKUBE_TRUSTED_PROXIES"},
	}
	for _, tt := range tests {
		l, err := ClientLimitsFromEnv(func(k string) string { return tt.env[k] })
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: error %v, want %q", tt.env, err, tt.wantErr)
			}
			continue
		}
		if err != nil || l.String() != tt.want {
			t.Errorf("%v: %q, %v; want %q", tt.env, l.String(), err, tt.want)
		}
	}
}

// The per-IP rate spans actors: a client spreading requests over many keys
// is stopped, another client is not.
func TestLimitsPerIP(t *testing.T) {
	t.Parallel()
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	s := New(Config{Directory: bs, Host: &fakeHost{st: bs}, Log: quietLog(), Limits: ClientLimits{PerIPPerMinute: 3}})
	do := func(remote, key string) int {
		r := httptest.NewRequest("POST", "/gateway/counter/action/whoami?rvt-method=getOrCreate&rvt-runner=default&rvt-key="+key, strings.NewReader(`{"args":[]}`))
		r.RemoteAddr = remote
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		return rec.Code
	}
	for i, key := range []string{"a", "b", "c"} {
		if got := do("198.51.100.1:1", key); got != http.StatusOK {
			t.Fatalf("request %d: %d", i, got)
		}
	}
	if got := do("198.51.100.1:1", "d"); got != http.StatusTooManyRequests {
		t.Errorf("4th request over 4 actors: %d, want 429", got)
	}
	if got := do("198.51.100.2:1", "d"); got != http.StatusOK {
		t.Errorf("another client: %d", got)
	}
}

// blockingHost holds every action until release is closed.
type blockingHost struct {
	*fakeHost
	entered chan struct{}
	release chan struct{}
}

func (h *blockingHost) Action(ctx context.Context, req hostapi.ActionRequest) ([]byte, error) {
	h.entered <- struct{}{}
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return h.fakeHost.Action(ctx, req)
}

// Through the gateway: beyond a limit a client gets 429 with Retry-After
// and the error shape; other clients, other actors and the health check do
// not notice.
func TestLimitsThroughGateway(t *testing.T) {
	t.Parallel()
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	host := &blockingHost{fakeHost: &fakeHost{st: bs}, entered: make(chan struct{}, 8), release: make(chan struct{})}
	s := New(Config{Directory: bs, Host: host, Log: quietLog(), Limits: ClientLimits{PerMinute: 3, InFlight: 1}})
	do := func(remote, key string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/gateway/counter/action/whoami?rvt-method=getOrCreate&rvt-runner=default&rvt-key="+key, strings.NewReader(`{"args":[]}`))
		r.RemoteAddr = remote
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		return rec
	}
	expect := func(rec *httptest.ResponseRecorder, status int, code string) {
		t.Helper()
		var eb struct{ Group, Code string }
		_ = json.Unmarshal(rec.Body.Bytes(), &eb)
		if rec.Code != status || eb.Code != code {
			t.Fatalf("got %d %s/%s, want %d %s", rec.Code, eb.Group, eb.Code, status, code)
		}
		if status == http.StatusTooManyRequests {
			if eb.Group != errs.GroupLimit || rec.Header().Get("Retry-After") == "" {
				t.Fatalf("429 without the limit group or Retry-After: %v %s", rec.Header(), rec.Body)
			}
		}
	}

	// In flight: one request held in the actor, a second one refused.
	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- do("198.51.100.1:1000", "a") }()
	<-host.entered
	expect(do("198.51.100.1:1001", "a"), http.StatusTooManyRequests, errs.CodeTooManyInFlight)
	close(host.release)
	expect(<-first, http.StatusOK, "")
	// Rate: 3 per minute, one already charged (the refused one is not).
	expect(do("198.51.100.1:1002", "a"), http.StatusOK, "")
	expect(do("198.51.100.1:1003", "a"), http.StatusOK, "")
	expect(do("198.51.100.1:1003", "a"), http.StatusTooManyRequests, errs.CodeRateLimited)
	// Others are unaffected.
	expect(do("198.51.100.2:1000", "a"), http.StatusOK, "")
	expect(do("198.51.100.1:1004", "b"), http.StatusOK, "")
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/healthz", nil)
	r.RemoteAddr = "198.51.100.1:1005"
	s.ServeHTTP(rec, r)
	if rec.Code != http.StatusNoContent {
		t.Errorf("healthz: %d", rec.Code)
	}
}
