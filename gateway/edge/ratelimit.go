package edge

import (
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/protocol"
)

// ClientLimits bound what one client may ask of one actor: requests per
// minute and requests in flight (an open WebSocket counts as in flight for
// its lifetime), per client IP and actor. Beyond them the gateway answers
// 429 with Retry-After and limit/rate_limited or limit/too_many_in_flight;
// other clients and other actors are not affected. The zero value imposes
// no limits.
//
// The actor of a request is what its URL names: the actor ID of a direct
// target, or namespace, name and key of a query target (the same actor
// reached both ways is counted twice). /actors requests count as one
// "actor" per client.
type ClientLimits struct {
	// PerMinute is the request rate per client IP and actor; 0 is unlimited.
	// Bursts up to PerMinute are allowed, then requests refill evenly.
	PerMinute int
	// InFlight is the number of requests and WebSockets a client IP may
	// have open to one actor at once; 0 is unlimited.
	InFlight int
	// PerIPPerMinute is the request rate per client IP over all actors
	// together; 0 is unlimited. It stops one address from spreading a flood
	// over many actors (or many keys).
	PerIPPerMinute int
	// TrustedProxies are the addresses of proxies (an Ingress, a load
	// balancer) whose X-Forwarded-For names the client. Without them the
	// client is the connection's remote address.
	TrustedProxies []netip.Prefix
	// MaxTracked bounds how many (client, actor) pairs are tracked at once
	// (default 100,000). Idle pairs are forgotten first.
	MaxTracked int
}

// RivetClientLimits are Rivet's defaults: 1,200 requests per minute and 32
// in flight per actor per client IP.
func RivetClientLimits() ClientLimits { return ClientLimits{PerMinute: 1200, InFlight: 32} }

// Enabled reports whether any limit applies.
func (l ClientLimits) Enabled() bool {
	return l.PerMinute > 0 || l.InFlight > 0 || l.PerIPPerMinute > 0
}

// String renders the limits for the start-up log.
func (l ClientLimits) String() string {
	if !l.Enabled() {
		return "none"
	}
	return fmt.Sprintf("%d/min and %d in flight per client IP and actor, %d/min per client IP (0: unlimited)", l.PerMinute, l.InFlight, l.PerIPPerMinute)
}

// ParseTrustedProxies parses a comma-separated list of addresses and CIDR
// prefixes, like "10.0.0.0/8, 192.168.1.10".
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.Contains(item, "/") {
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", item, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want an address or a CIDR prefix", item)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// limiterShards spreads the tracked pairs over independently locked maps.
const limiterShards = 32

// limiter enforces ClientLimits. Each (client, actor) pair has a token
// bucket and an in-flight count, in one of limiterShards maps.
type limiter struct {
	cfg    ClientLimits
	now    func() time.Time
	seed   maphash.Seed
	shards [limiterShards]limiterShard
	log    *slog.Logger
	logged *logOnce
}

type limiterShard struct {
	mu    sync.Mutex
	pairs map[string]*clientBucket
}

type clientBucket struct {
	rate     int // tokens per minute; 0: no rate limit
	tokens   float64
	last     time.Time
	inFlight int
}

func newLimiter(cfg ClientLimits, log *slog.Logger, now func() time.Time) *limiter {
	if cfg.MaxTracked <= 0 {
		cfg.MaxTracked = 100_000
	}
	if now == nil {
		now = time.Now
	}
	l := &limiter{cfg: cfg, now: now, seed: maphash.MakeSeed(), log: log, logged: newLogOnce(maxLoggedClients)}
	for i := range l.shards {
		l.shards[i].pairs = map[string]*clientBucket{}
	}
	return l
}

// admit reports whether r may proceed. If so, release must be called when
// r is done; otherwise admit has answered 429.
func (l *limiter) admit(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	if !l.cfg.Enabled() {
		return noRelease, true
	}
	actor, limited := limitedActor(r)
	if !limited {
		return noRelease, true
	}
	client := l.clientIP(r)
	var err *errs.Error
	var retry time.Duration
	if l.cfg.PerIPPerMinute > 0 {
		var rel func()
		if rel, err, retry = l.takeWith("ip "+client, limitRule{l.cfg.PerIPPerMinute, 0, "per client"}); err == nil {
			rel() // a rate only: nothing stays in flight
		}
	}
	if err == nil {
		var release func()
		if release, err, retry = l.take(client + " " + actor); err == nil {
			return release, true
		}
	}
	if l.logged.first(client + " " + err.Code) {
		l.log.Warn("client over its limit (logged once per client address and limit)",
			"code", err.Code, "remote", client, "path", redactPath(r.URL.Path))
	}
	w.Header().Set("Retry-After", errs.RetryAfterValue(retry))
	writeError(w, protocol.EncodingJSON, err, nil)
	return nil, false
}

func noRelease() {}

// limitRule is what one bucket allows.
type limitRule struct {
	perMinute, inFlight int
	scope               string // for the error message
}

// take charges one request to key under the per client and actor rule.
func (l *limiter) take(key string) (func(), *errs.Error, time.Duration) {
	return l.takeWith("actor "+key, limitRule{l.cfg.PerMinute, l.cfg.InFlight, "per client and actor"})
}

// takeWith charges one request to key; it returns the error to answer and
// how long to wait when the request is refused.
func (l *limiter) takeWith(key string, rule limitRule) (func(), *errs.Error, time.Duration) {
	sh := &l.shards[maphash.String(l.seed, key)%limiterShards]
	now := l.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, ok := sh.pairs[key]
	if !ok {
		l.makeRoom(sh, now)
		b = &clientBucket{rate: rule.perMinute, tokens: float64(rule.perMinute), last: now}
		sh.pairs[key] = b
	}
	l.refill(b, now)
	if rule.inFlight > 0 && b.inFlight >= rule.inFlight {
		return nil, errs.TooManyInFlight(rule.scope, rule.inFlight), time.Second
	}
	if rule.perMinute > 0 {
		if b.tokens < 1 {
			perToken := time.Minute / time.Duration(rule.perMinute)
			wait := time.Duration((1 - b.tokens) * float64(perToken))
			return nil, errs.RateLimited(rule.scope, rule.perMinute, wait), wait
		}
		b.tokens--
	}
	b.inFlight++
	var once sync.Once
	return func() {
		once.Do(func() {
			sh.mu.Lock()
			b.inFlight--
			sh.mu.Unlock()
		})
	}, nil, 0
}

// refill adds the tokens earned since b.last, up to a full minute's worth.
func (l *limiter) refill(b *clientBucket, now time.Time) {
	if b.rate <= 0 {
		return
	}
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens += dt.Minutes() * float64(b.rate)
		if max := float64(b.rate); b.tokens > max {
			b.tokens = max
		}
	}
	b.last = now
}

// makeRoom keeps sh under its share of MaxTracked: it forgets idle pairs
// (full bucket, nothing in flight), and if none are idle, any pair with
// nothing in flight (whose client only gains from being forgotten).
func (l *limiter) makeRoom(sh *limiterShard, now time.Time) {
	limit := l.cfg.MaxTracked / limiterShards
	if limit < 1 {
		limit = 1
	}
	if len(sh.pairs) < limit {
		return
	}
	for k, b := range sh.pairs {
		l.refill(b, now)
		if b.inFlight == 0 && (b.rate <= 0 || b.tokens >= float64(b.rate)) {
			delete(sh.pairs, k)
		}
	}
	for k, b := range sh.pairs {
		if len(sh.pairs) < limit {
			return
		}
		if b.inFlight == 0 {
			delete(sh.pairs, k)
		}
	}
}

// limitedActor names the actor a request is counted against, and whether
// the request is limited at all (only /actors and /gateway/... are).
func limitedActor(r *http.Request) (string, bool) {
	path := r.URL.Path
	if path == "/actors" || strings.HasPrefix(path, "/actors/") {
		return "/actors", true
	}
	rest, ok := strings.CutPrefix(path, "/gateway/")
	if !ok {
		return "", false
	}
	seg, _, _ := strings.Cut(rest, "/")
	q := r.URL.Query()
	if m := q.Get("rvt-method"); m != "" {
		return "name:" + q.Get("rvt-namespace") + "/" + seg + "/" + q.Get("rvt-key"), true
	}
	id, _, _ := strings.Cut(seg, "@")
	return "id:" + id, true
}

// clientIP is the request's client address: the remote address, or, when
// that is a trusted proxy, the right-most X-Forwarded-For entry that is not
// itself a trusted proxy.
func (l *limiter) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !l.trusted(addr) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		a, err := netip.ParseAddr(h)
		if err != nil {
			break // a malformed hop: trust nothing left of it
		}
		if !l.trusted(a) {
			return a.Unmap().String()
		}
		host = a.Unmap().String()
	}
	return host
}

func (l *limiter) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range l.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientLimitsFromEnv reads the limits from RIVETKUBE_CLIENT_RATE_PER_MINUTE,
// RIVETKUBE_CLIENT_MAX_IN_FLIGHT (0 or unset: unlimited; Rivet's values are
// 1200 and 32), RIVETKUBE_CLIENT_IP_RATE_PER_MINUTE and
// RIVETKUBE_TRUSTED_PROXIES, through getenv.
func ClientLimitsFromEnv(getenv func(string) string) (ClientLimits, error) {
	var l ClientLimits
	for _, v := range []struct {
		name string
		dst  *int
	}{{"RIVETKUBE_CLIENT_RATE_PER_MINUTE", &l.PerMinute}, {"RIVETKUBE_CLIENT_MAX_IN_FLIGHT", &l.InFlight},
		{"RIVETKUBE_CLIENT_IP_RATE_PER_MINUTE", &l.PerIPPerMinute}} {
		s := getenv(v.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 1_000_000 {
			return ClientLimits{}, fmt.Errorf("%s: want a number from 0 (unlimited) to 1000000, got %q", v.name, s)
		}
		*v.dst = n
	}
	var err error
	if l.TrustedProxies, err = ParseTrustedProxies(getenv("RIVETKUBE_TRUSTED_PROXIES")); err != nil {
		return ClientLimits{}, fmt.Errorf("RIVETKUBE_TRUSTED_PROXIES: %w", err)
	}
	return l, nil
}
