package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
)

// Helpers of the Go client suite (goclient_test.go).

var goEncodings = []client.Encoding{client.EncodingBARE, client.EncodingJSON, client.EncodingCBOR}

// eachEncoding runs fn in one parallel subtest per wire encoding, each with
// its own client of that encoding.
func eachEncoding(t *testing.T, endpoint string, fn func(t *testing.T, c *client.Client)) {
	t.Helper()
	for _, enc := range goEncodings {
		t.Run(string(enc), func(t *testing.T) {
			t.Parallel()
			fn(t, newGoClient(t, endpoint, enc, nil))
		})
	}
}

// newGoClient returns a client of the encoding with its own HTTP transport
// (closed when the test ends). rec, when set, records every request.
func newGoClient(t *testing.T, endpoint string, enc client.Encoding, rec *requestLog) *client.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	t.Cleanup(tr.CloseIdleConnections)
	var rt http.RoundTripper = tr
	if rec != nil {
		rec.next = tr
		rt = rec
	}
	c, err := client.New(client.Config{
		Endpoint:   endpoint,
		Encoding:   enc,
		HTTPClient: &http.Client{Transport: rt},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// requestLog is a RoundTripper that records "METHOD /path" of each request.
type requestLog struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.reqs = append(l.reqs, r.Method+" "+r.URL.Path)
	l.mu.Unlock()
	return l.next.RoundTrip(r)
}

// take returns the recorded requests and forgets them.
func (l *requestLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.reqs
	l.reqs = nil
	return out
}

// uniq returns a URL-safe key part no other test uses.
func uniq(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// wantActorError fails unless err wraps an *client.ActorError group/code.
func wantActorError(t *testing.T, err error, group, code string) *client.ActorError {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %s/%s, got success", group, code)
	}
	var ae *client.ActorError
	if !errors.As(err, &ae) {
		t.Fatalf("want *client.ActorError %s/%s, got %T: %v", group, code, err, err)
	}
	if ae.Group != group || ae.Code != code {
		t.Fatalf("want error %s/%s, got %s/%s (%q)", group, code, ae.Group, ae.Code, ae.Message)
	}
	return ae
}

// call calls an action and fails the test on error.
func call[T any](t *testing.T, ctx context.Context, a client.ActionCaller, name string, args ...any) T {
	t.Helper()
	v, err := client.Call[T](ctx, a, name, args...)
	if err != nil {
		t.Fatalf("action %s%v: %v", name, args, err)
	}
	return v
}

// eventLog records the first argument of each event of one name.
type eventLog[T any] struct {
	name   string
	mu     sync.Mutex
	vals   []T
	errs   []error
	signal chan struct{}
}

func recordEvents[T any](conn *client.Conn, name string) *eventLog[T] {
	l := &eventLog[T]{name: name, signal: make(chan struct{}, 1)}
	conn.On(name, func(args client.RawArgs) {
		var v T
		err := args.Decode(0, &v)
		if err == nil && args.Len() != 1 {
			err = fmt.Errorf("event %q has %d arguments, want 1", name, args.Len())
		}
		l.mu.Lock()
		if err != nil {
			l.errs = append(l.errs, err)
		} else {
			l.vals = append(l.vals, v)
		}
		l.mu.Unlock()
		select {
		case l.signal <- struct{}{}:
		default:
		}
	})
	return l
}

func (l *eventLog[T]) snapshot() ([]T, []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]T(nil), l.vals...), append([]error(nil), l.errs...)
}

// wait waits (at most d) until n events arrived and returns them all.
func (l *eventLog[T]) wait(t *testing.T, n int, d time.Duration) []T {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		vals, errs := l.snapshot()
		if len(errs) > 0 {
			t.Fatalf("event %q: %v", l.name, errs)
		}
		if len(vals) >= n {
			return vals
		}
		select {
		case <-l.signal:
		case <-deadline.C:
			t.Fatalf("event %q: got %d event(s) %v within %v, want %d", l.name, len(vals), vals, d, n)
		}
	}
}

// waitUntil polls cond every interval until it reports true or d passes.
func waitUntil(t *testing.T, d, interval time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (last error: %v)", d, what, err)
		}
		time.Sleep(interval)
	}
}

// normalize makes decoded values comparable: big integers of either Go
// representation compare by value; nil and empty byte slices are equal.
func normalize(v any) any {
	switch x := v.(type) {
	case big.Int:
		return "bigint:" + x.String()
	case *big.Int:
		return "bigint:" + x.String()
	case []byte:
		if x == nil {
			return []byte{}
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = normalize(x[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	}
	return v
}

func sameValue(got, want any) bool {
	return reflect.DeepEqual(normalize(got), normalize(want))
}

// describe renders a value with its Go types, shortened.
func describe(v any) string {
	s := fmt.Sprintf("%#v", normalize(v))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return strings.ReplaceAll(s, "interface {}", "any")
}
