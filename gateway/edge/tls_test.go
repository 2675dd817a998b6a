package edge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rivetkube/rivetkube/internal/store/boltstore"
	"github.com/rivetkube/rivetkube/internal/testutil/tlstest"
)

// The gateway serves HTTP/2 over TLS, and WebSockets (HTTP/1.1 upgrades)
// on the same port.
func TestServeTLSAndHTTP2(t *testing.T) {
	t.Parallel()
	certFile, keyFile, cert := tlstest.Write(t, t.TempDir(), "gateway-a")
	files, err := LoadTLSFiles(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: New(Config{Directory: bs, Host: &fakeHost{st: bs}, Log: quietLog()}), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- Serve(srv, ln, files) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-served; err != http.ErrServerClosed {
			t.Errorf("serve: %v", err)
		}
	})
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	base := "https://" + ln.Addr().String()

	resp, err := hc.Post(base+"/gateway/counter/action/whoami?rvt-method=getOrCreate&rvt-runner=default&rvt-key=tls", "application/json", strings.NewReader(`{"args":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("action over TLS: %d %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}

	// Plain HTTP on the TLS port is refused.
	if resp, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusNoContent {
			t.Error("plain HTTP served on the TLS port")
		}
	}

	// A WebSocket upgrade over TLS (HTTP/1.1 ALPN).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c, wresp, err := websocket.Dial(ctx, "wss://"+ln.Addr().String()+"/gateway/counter/connect?rvt-method=getOrCreate&rvt-runner=default&rvt-key=tls",
		&websocket.DialOptions{HTTPClient: wsClient, Subprotocols: []string{"rivet", "rivet_encoding.json"}})
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	if wresp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("wss status %d", wresp.StatusCode)
	}
	_ = c.CloseNow()
}

// Rotated files are picked up at the next check; broken files keep the
// previous pair in use.
func TestTLSFilesReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, _ := tlstest.Write(t, dir, "first")
	files, err := LoadTLSFiles(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: time.Unix(1000, 0)}
	files.now = clk.now
	commonName := func() string {
		t.Helper()
		c, err := files.certificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.Subject.CommonName
	}
	if got := commonName(); got != "first" {
		t.Fatalf("CN %q", got)
	}
	tlstest.Write(t, dir, "second")
	// Make sure the modification time moves even on coarse file systems.
	future := time.Now().Add(time.Minute)
	_ = os.Chtimes(certFile, future, future)
	_ = os.Chtimes(keyFile, future, future)
	if got := commonName(); got != "first" {
		t.Errorf("reloaded before the interval: CN %q", got)
	}
	clk.add(tlsReloadInterval)
	if got := commonName(); got != "second" {
		t.Errorf("after rotation: CN %q, want second", got)
	}
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := future.Add(time.Minute)
	_ = os.Chtimes(certFile, later, later)
	clk.add(tlsReloadInterval)
	if got := commonName(); got != "second" {
		t.Errorf("a broken file replaced the pair: CN %q", got)
	}

	if _, err := LoadTLSFiles(certFile, keyFile); err == nil {
		t.Error("a broken pair loaded")
	}
	if _, err := LoadTLSFiles("", keyFile); err == nil {
		t.Error("a missing certificate file loaded")
	}
}
