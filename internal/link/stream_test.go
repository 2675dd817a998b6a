package link

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rivetkube/rivetkube/internal/hostapi"
)

// A raw response the host flushes crosses the link chunk by chunk: the
// client reads the first chunk while the host has not produced the second,
// and the host's next flush waits for the client (the ack).
func TestRequestStreamsFlushedChunks(t *testing.T) {
	next := make(chan struct{})
	flushed := make(chan error, 3)
	h := &fakeHost{request: func(ctx context.Context, _ hostapi.Target, w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, word := range []string{"one", "two", "three"} {
			if _, err := io.WriteString(w, "data: "+word+"\n\n"); err != nil {
				return err
			}
			flushed <- http.NewResponseController(w).Flush()
			select {
			case <-next:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		_, err := io.WriteString(w, "data: end\n\n")
		return err
	}}
	p := newPair(t, h, ServerOptions{}, DialOptions{}, nil)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.client.Request(r.Context(), hostapi.Target{ActorID: "a", Generation: 1}, w, r); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
	}))
	defer gw.Close()
	resp, err := http.Get(gw.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rd := bufio.NewReader(resp.Body)
	readEvent := func() string {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if _, err := rd.ReadString('\n'); err != nil {
			t.Fatalf("read: %v", err)
		}
		return line
	}
	for _, want := range []string{"data: one\n", "data: two\n", "data: three\n"} {
		// This chunk arrives before the host may produce the next one.
		if got := readEvent(); got != want {
			t.Fatalf("event %q, want %q", got, want)
		}
		if err := recvOrFail(t, flushed, "flush"); err != nil {
			t.Fatalf("flush: %v", err)
		}
		next <- struct{}{}
	}
	if got := readEvent(); got != "data: end\n" {
		t.Fatalf("last event %q", got)
	}
}

// A client that goes away mid-stream cancels the host's call.
func TestRequestStreamClientGone(t *testing.T) {
	cancelled := make(chan struct{})
	h := &fakeHost{request: func(ctx context.Context, _ hostapi.Target, w http.ResponseWriter, r *http.Request) error {
		_, _ = io.WriteString(w, "data: hello\n\n")
		_ = http.NewResponseController(w).Flush()
		<-ctx.Done()
		close(cancelled)
		return ctx.Err()
	}}
	p := newPair(t, h, ServerOptions{}, DialOptions{}, nil)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = p.client.Request(r.Context(), hostapi.Target{ActorID: "a", Generation: 1}, w, r)
	}))
	defer gw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, gw.URL+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	if line != "data: hello\n" {
		t.Fatalf("first line %q", line)
	}
	cancel()
	resp.Body.Close()
	recvOrFail(t, cancelled, "host call cancelled")
}
