package edge

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/protocol"
)

// CORS is the gateway's cross-origin policy: which browser origins may
// call it. The zero value allows same-origin requests only (the
// distributed gateway's default); AllowAnyOrigin reflects every origin (the
// local engine's development default).
//
// An allowed origin gets Access-Control-Allow-Origin set to itself (never
// "*": the RivetKit browser client sends credentials, for which a wildcard
// is invalid), Access-Control-Allow-Credentials: true and Vary: Origin. A
// request whose Origin is not allowed, WebSocket upgrades included, is
// refused with 403 request/origin_not_allowed before it reaches a handler.
// Requests without an Origin header (curl, servers, Node) are not browser
// cross-origin requests and pass.
type CORS struct {
	// AnyOrigin reflects every origin.
	AnyOrigin bool
	// Origins are exact origins, "scheme://host[:port]", normalized.
	Origins []string
	// Suffixes are wildcard patterns "scheme://*.example.com[:port]",
	// stored as scheme, ".example.com" and port.
	Suffixes []originSuffix
}

type originSuffix struct{ scheme, suffix, port string }

// AllowAnyOrigin is the development policy: every origin is reflected.
func AllowAnyOrigin() CORS { return CORS{AnyOrigin: true} }

// corsExposedHeaders are the response headers a browser client may read:
// the ones the RivetKit client and our own pages look at.
const corsExposedHeaders = "x-rivet-actor, x-rivet-ray-id, x-rivet-actor-key, x-rivet-actor-generation, retry-after, content-type"

// corsMaxAge is how long a browser may cache a preflight answer, in seconds.
const corsMaxAge = "3600"

// maxPreflightHeaders bounds the echoed Access-Control-Request-Headers.
const maxPreflightHeaders = 4 << 10

// ParseCORSOrigins parses an allow-list: a comma-separated list of origins
// like "https://app.example.com, http://localhost:5173", wildcard
// subdomains like "https://*.example.com", or "*" for any origin. An empty
// list is the same-origin-only policy.
func ParseCORSOrigins(list string) (CORS, error) {
	var c CORS
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if item == "*" {
			c.AnyOrigin = true
			continue
		}
		scheme, host, port, err := splitOrigin(strings.TrimSuffix(item, "/"))
		if err != nil {
			return CORS{}, fmt.Errorf("CORS origin %q: %w", item, err)
		}
		if rest, ok := strings.CutPrefix(host, "*."); ok {
			if rest == "" || strings.Contains(rest, "*") {
				return CORS{}, fmt.Errorf("CORS origin %q: a wildcard must be a whole leading label, like https://*.example.com", item)
			}
			c.Suffixes = append(c.Suffixes, originSuffix{scheme: scheme, suffix: "." + rest, port: port})
			continue
		}
		if strings.Contains(host, "*") {
			return CORS{}, fmt.Errorf("CORS origin %q: a wildcard must be a whole leading label, like https://*.example.com", item)
		}
		c.Origins = append(c.Origins, scheme+"://"+joinHostPort(host, port))
	}
	return c, nil
}

// String renders the policy for the start-up log.
func (c CORS) String() string {
	if c.AnyOrigin {
		return "any origin (development)"
	}
	if len(c.Origins) == 0 && len(c.Suffixes) == 0 {
		return "same origin only"
	}
	parts := append([]string(nil), c.Origins...)
	for _, s := range c.Suffixes {
		parts = append(parts, s.scheme+"://*"+s.suffix+portSuffix(s.port))
	}
	return "same origin and " + strings.Join(parts, ", ")
}

// splitOrigin parses "scheme://host[:port]" into its lower-case parts, the
// port empty when it is the scheme's default.
func splitOrigin(s string) (scheme, host, port string, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", "", fmt.Errorf("not a URL: %w", err)
	}
	scheme = strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", "", "", fmt.Errorf("want http:// or https://")
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", "", "", fmt.Errorf("want scheme://host[:port] and nothing else")
	}
	host = strings.ToLower(u.Hostname())
	port = u.Port()
	if host == "" {
		return "", "", "", fmt.Errorf("missing host")
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	return scheme, host, port, nil
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") { // IPv6
		host = "[" + host + "]"
	}
	return host + portSuffix(port)
}

func portSuffix(port string) string {
	if port == "" {
		return ""
	}
	return ":" + port
}

// allows reports whether origin may call a gateway reached at host (the
// request's Host header). The same origin is always allowed: its host and
// port equal the request's. The scheme is not compared there, since a
// gateway behind a TLS-terminating proxy cannot know it.
func (c CORS) allows(origin, host string) bool {
	if c.AnyOrigin {
		return true
	}
	scheme, oh, op, err := splitOrigin(origin)
	if err != nil {
		return false
	}
	if sameHost(oh, op, scheme, host) {
		return true
	}
	norm := scheme + "://" + joinHostPort(oh, op)
	for _, o := range c.Origins {
		if o == norm {
			return true
		}
	}
	for _, s := range c.Suffixes {
		if s.scheme == scheme && s.port == op && strings.HasSuffix(oh, s.suffix) {
			return true
		}
	}
	return false
}

// sameHost compares an origin's host and port with a Host header.
func sameHost(oh, op, scheme, hostHeader string) bool {
	h, p, err := net.SplitHostPort(hostHeader)
	if err != nil {
		h, p = hostHeader, ""
	}
	h = strings.ToLower(strings.Trim(h, "[]"))
	if (scheme == "http" && p == "80") || (scheme == "https" && p == "443") {
		p = ""
	}
	return h != "" && h == oh && p == op
}

// corsGate applies a CORS policy to requests and logs each refused origin
// once (up to a bound, so a flood of made-up origins cannot flood the log).
type corsGate struct {
	policy CORS
	log    *slog.Logger
	logged *logOnce
}

// maxLoggedOrigins bounds how many distinct refused origins are logged.
const maxLoggedOrigins = 256

func newCORSGate(policy CORS, log *slog.Logger) *corsGate {
	return &corsGate{policy: policy, log: log, logged: newLogOnce(maxLoggedOrigins)}
}

// intercept sets the CORS response headers for r and reports whether it
// answered the request itself (a preflight, any OPTIONS, or a refused
// origin), in which case the caller must not serve it.
func (g *corsGate) intercept(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	origin := r.Header.Get("Origin")
	if origin == "" {
		if r.Method == http.MethodOptions {
			h.Set("Allow", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return true
		}
		return false
	}
	h.Add("Vary", "Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if preflight {
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	if !g.policy.allows(origin, r.Host) {
		g.logRefused(origin, r)
		writeError(w, protocol.EncodingJSON, errs.OriginNotAllowed(origin), nil)
		return true
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	if r.Method == http.MethodOptions {
		if preflight {
			if m := r.Header.Get("Access-Control-Request-Method"); isToken(m) {
				h.Set("Access-Control-Allow-Methods", m)
			}
			if hs := requestedHeaders(r); hs != "" {
				h.Set("Access-Control-Allow-Headers", hs)
			}
			h.Set("Access-Control-Max-Age", corsMaxAge)
		}
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	h.Set("Access-Control-Expose-Headers", corsExposedHeaders)
	return false
}

func (g *corsGate) logRefused(origin string, r *http.Request) {
	if !g.logged.first(origin) {
		return
	}
	g.log.Warn("refused a request from an origin outside the CORS allow-list (logged once per origin)",
		"origin", truncate(origin, 200), "path", redactPath(r.URL.Path), "remote", r.RemoteAddr, "policy", g.policy.String())
}

// requestedHeaders returns Access-Control-Request-Headers as a clean
// comma-separated list of header names, or "" when it is absent, too long
// or holds anything but header names.
func requestedHeaders(r *http.Request) string {
	var names []string
	total := 0
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		total += len(v)
		if total > maxPreflightHeaders {
			return ""
		}
		for _, n := range strings.Split(v, ",") {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			if !isToken(n) {
				return ""
			}
			names = append(names, strings.ToLower(n))
		}
	}
	return strings.Join(names, ", ")
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
