package edge

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/protocol"
)

// ClientTokens are the tokens a client must present on every /actors and
// /gateway/... request when the engine is configured with any. The zero
// value requires none: the engine is open to whoever reaches it.
//
// A token is accepted in every form the official RivetKit client sends it:
// Authorization: Bearer, x-rivet-token, the rvt-token query parameter, the
// /gateway/{actor}@{token} target and the rivet_token.{token} WebSocket
// protocol. Tokens are compared as SHA-256 digests in constant time, so
// neither a token's bytes nor its length leak through timing. The
// inspector and admin tokens are separate: an inspector route is governed
// by the inspector token when one is configured.
type ClientTokens struct {
	digests [][sha256.Size]byte
}

// MinClientTokenLength is the shortest client token accepted.
const MinClientTokenLength = 16

// maxClientTokens bounds how many tokens one engine accepts.
const maxClientTokens = 64

// maxTokenLength bounds a token, configured or presented.
const maxTokenLength = 1024

// ParseClientTokens parses a comma-separated token list (for example from
// RIVETKUBE_CLIENT_TOKENS). Several tokens allow rotation: add the new one,
// move the clients, remove the old one. An empty list requires no token.
func ParseClientTokens(list string) (ClientTokens, error) {
	var c ClientTokens
	for i, tok := range strings.Split(list, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		if len(tok) < MinClientTokenLength || len(tok) > maxTokenLength {
			return ClientTokens{}, fmt.Errorf("client token %d: want %d to %d characters, got %d", i+1, MinClientTokenLength, maxTokenLength, len(tok))
		}
		if strings.ContainsAny(tok, " \t\r\n") {
			return ClientTokens{}, fmt.Errorf("client token %d: must not contain white space", i+1)
		}
		c.digests = append(c.digests, sha256.Sum256([]byte(tok)))
	}
	if len(c.digests) > maxClientTokens {
		return ClientTokens{}, fmt.Errorf("%d client tokens: at most %d", len(c.digests), maxClientTokens)
	}
	return c, nil
}

// Enabled reports whether clients must present a token.
func (c ClientTokens) Enabled() bool { return len(c.digests) > 0 }

// Count is how many tokens are configured (for the start-up log).
func (c ClientTokens) Count() int { return len(c.digests) }

// valid reports whether tok is one of the tokens. Every configured digest
// is compared, whatever matched, so the time taken does not say which.
func (c ClientTokens) valid(tok string) bool {
	if tok == "" || len(tok) > maxTokenLength {
		return false
	}
	d := sha256.Sum256([]byte(tok))
	ok := 0
	for i := range c.digests {
		ok |= subtle.ConstantTimeCompare(d[:], c.digests[i][:])
	}
	return ok == 1
}

// presentedTokens returns every token r carries, in the forms the RivetKit
// client sends.
func presentedTokens(r *http.Request) []string {
	var toks []string
	if v := r.Header.Get("Authorization"); len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		toks = append(toks, strings.TrimSpace(v[7:]))
	}
	if v := r.Header.Get("x-rivet-token"); v != "" {
		toks = append(toks, v)
	}
	if v := r.URL.Query().Get("rvt-token"); v != "" {
		toks = append(toks, v)
	}
	if seg, ok := strings.CutPrefix(r.URL.EscapedPath(), "/gateway/"); ok {
		seg, _, _ = strings.Cut(seg, "/")
		if _, tok, ok := strings.Cut(seg, "@"); ok {
			if t, err := url.PathUnescape(tok); err == nil && t != "" {
				toks = append(toks, t)
			}
		}
	}
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if t, ok := strings.CutPrefix(strings.TrimSpace(p), "rivet_token."); ok && t != "" {
				toks = append(toks, t)
			}
		}
	}
	return toks
}

// needsClientToken reports whether a request to path must carry a client
// token: the actor API (/actors) and every actor route (/gateway/...),
// except an inspector route when the inspector has its own token.
func needsClientToken(path string, inspectorToken bool) bool {
	if path == "/actors" || strings.HasPrefix(path, "/actors/") {
		return true
	}
	rest, ok := strings.CutPrefix(path, "/gateway/")
	if !ok {
		return false
	}
	if inspectorToken {
		if _, sub, ok := strings.Cut(rest, "/"); ok && (sub == "inspector" || strings.HasPrefix(sub, "inspector/")) {
			return false
		}
	}
	return true
}

// tokenGate checks client tokens and logs each refused client address once.
type tokenGate struct {
	tokens         ClientTokens
	inspectorToken bool
	log            *slog.Logger
	logged         *logOnce
}

// maxLoggedClients bounds how many refused client addresses are logged.
const maxLoggedClients = 1024

func newTokenGate(tokens ClientTokens, inspectorToken bool, log *slog.Logger) *tokenGate {
	return &tokenGate{tokens: tokens, inspectorToken: inspectorToken, log: log, logged: newLogOnce(maxLoggedClients)}
}

// admit reports whether r may proceed; otherwise it has answered 401
// auth/token_missing or 403 auth/token_invalid.
func (g *tokenGate) admit(w http.ResponseWriter, r *http.Request) bool {
	if !g.tokens.Enabled() || !needsClientToken(r.URL.Path, g.inspectorToken) {
		return true
	}
	toks := presentedTokens(r)
	for _, t := range toks {
		if g.tokens.valid(t) {
			return true
		}
	}
	err := errs.TokenInvalid()
	if len(toks) == 0 {
		err = errs.TokenMissing()
	}
	host, _, splitErr := net.SplitHostPort(r.RemoteAddr)
	if splitErr != nil {
		host = r.RemoteAddr
	}
	if g.logged.first(host + " " + err.Code) {
		g.log.Warn("refused a request without a valid client token (logged once per client address)",
			"code", err.Code, "remote", host, "path", redactPath(r.URL.Path))
	}
	writeError(w, protocol.EncodingJSON, err, nil)
	return false
}

// redactPath is path fit for a log: a /gateway/{actor}@{token} target loses
// its token, and the whole is cut to 200 bytes.
func redactPath(path string) string {
	if rest, ok := strings.CutPrefix(path, "/gateway/"); ok {
		seg, tail, hasTail := strings.Cut(rest, "/")
		if id, _, ok := strings.Cut(seg, "@"); ok {
			path = "/gateway/" + id + "@REDACTED"
			if hasTail {
				path += "/" + tail
			}
		}
	}
	return truncate(path, 200)
}
