package main

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// liar is the self-test's lying proxy in front of one gateway, for clients
// speaking JSON. It acknowledges a share of register puts without
// forwarding them (copying a genuine put answer) and answers a share of
// register gets with the first answer it ever saw for that request (a stale
// read). Swallowed puts are usually overwritten later, which hides them
// from the final state, so the self-test ends with one put per register
// that the liar swallows for sure. A correct checker must report lost
// writes and linearizability violations.
type liar struct {
	srv     *http.Server
	ln      net.Listener
	rp      *httputil.ReverseProxy
	share   float64
	mu      sync.Mutex
	rng     *rand.Rand
	putResp []byte            // a genuine answer to a put
	first   map[string][]byte // first answer per get request
	lies    atomic.Int64
	// swallow makes the liar acknowledge every put without forwarding it
	// (the self-test's closing writes, which nothing overwrites).
	swallow atomic.Bool
}

func newLiar(ctx context.Context, target string, share float64, seed uint64) (*liar, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &liar{ln: ln, rp: httputil.NewSingleHostReverseProxy(u), share: share,
		rng: rand.New(rand.NewPCG(seed, 0x1a2)), first: map[string][]byte{}}
	l.srv = &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = l.srv.Serve(ln) }()
	go func() { <-ctx.Done(); _ = l.srv.Close() }()
	return l, nil
}

func (l *liar) endpoint() string { return "http://" + l.ln.Addr().String() }

func (l *liar) coin() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rng.Float64() < l.share
}

func (l *liar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	isRegister := strings.HasPrefix(r.URL.Path, "/gateway/register/")
	put := isRegister && strings.HasSuffix(r.URL.Path, "/action/put")
	get := isRegister && strings.HasSuffix(r.URL.Path, "/action/get")
	if r.Method != http.MethodPost || (!put && !get) {
		l.rp.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	reqKey := r.URL.String() + "\x00" + string(body)
	l.mu.Lock()
	putResp, stale := l.putResp, l.first[reqKey]
	l.mu.Unlock()
	if put && putResp != nil && (l.swallow.Load() || l.coin()) {
		l.lies.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(putResp)
		return
	}
	if get && stale != nil && l.coin() {
		l.lies.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(stale)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	rec := &recorder{ResponseWriter: w}
	l.rp.ServeHTTP(rec, r)
	if rec.status/100 != 2 {
		return
	}
	l.mu.Lock()
	if put && l.putResp == nil {
		l.putResp = rec.buf.Bytes()
	}
	if get && l.first[reqKey] == nil {
		l.first[reqKey] = rec.buf.Bytes()
	}
	l.mu.Unlock()
}

// recorder copies what it forwards.
type recorder struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (r *recorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.buf.Write(p)
	return r.ResponseWriter.Write(p)
}
