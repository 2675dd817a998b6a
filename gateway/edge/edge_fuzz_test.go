package edge

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzCORSAllows: any Origin and Host header is judged without panicking,
// a policy never allows what it should not (an empty allow-list allows
// only the request's own host), and echoed preflight headers are clean.
func FuzzCORSAllows(f *testing.F) {
	for _, s := range [][2]string{
		{"http://localhost:5173", "localhost:5173"}, {"null", "a"}, {"https://[::1]:8443", "[::1]:8443"},
		{"http://a.test:80", "a.test"}, {"http://%zz", "x"}, {"", ""}, {"https://*.a.test", "b.a.test"},
	} {
		f.Add(s[0], s[1])
	}
	sameOnly := CORS{}
	listed, err := ParseCORSOrigins("https://app.example.com, https://*.example.org")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, origin, host string) {
		if sameOnly.allows(origin, host) {
			scheme, oh, op, err := splitOrigin(origin)
			if err != nil || !sameHost(oh, op, scheme, host) {
				t.Fatalf("same-origin policy allowed %q for host %q", origin, host)
			}
		}
		if listed.allows(origin, "gateway.internal:6420") {
			_, oh, _, err := splitOrigin(origin)
			if err != nil || !(oh == "app.example.com" || strings.HasSuffix(oh, ".example.org")) {
				t.Fatalf("allow-list allowed %q", origin)
			}
		}
		r := httptest.NewRequest("OPTIONS", "/actors", nil)
		r.Header.Set("Access-Control-Request-Headers", origin+","+host)
		for _, n := range strings.Split(requestedHeaders(r), ", ") {
			if n != "" && !isToken(n) {
				t.Fatalf("echoed a header name that is not a token: %q", n)
			}
		}
	})
}

// FuzzPresentedTokens: any URL and headers yield tokens without panicking.
func FuzzPresentedTokens(f *testing.F) {
	f.Add("/gateway/abc@tok%2Fen/action/x?rvt-token=q", "Bearer t", "rivet, rivet_token.p")
	f.Add("/gateway/@/x", "", "rivet_token.")
	f.Fuzz(func(t *testing.T, path, auth, protos string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = path
		r.URL.RawPath = ""
		r.Header.Set("Authorization", auth)
		r.Header.Set("Sec-WebSocket-Protocol", protos)
		for _, tok := range presentedTokens(r) {
			if tok == "" {
				t.Fatal("an empty token was presented")
			}
		}
		_ = redactPath(path)
	})
}

func TestLogOnce(t *testing.T) {
	t.Parallel()
	l := newLogOnce(2)
	for _, tt := range []struct {
		key  string
		want bool
	}{{"a", true}, {"a", false}, {"b", true}, {"c", false}, {"b", false}} {
		if got := l.first(tt.key); got != tt.want {
			t.Errorf("first(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}
