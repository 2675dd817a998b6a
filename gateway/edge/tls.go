package edge

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// tlsReloadInterval is how often, at most, the certificate files are
// checked for a change.
const tlsReloadInterval = 10 * time.Second

// TLSFiles is a certificate and key read from PEM files. The files are
// re-read when they change on disk (a rotated Kubernetes Secret, a
// cert-manager renewal), checked at most every 10 s; a pair that fails to
// load keeps the previous one in use.
type TLSFiles struct {
	certFile, keyFile string
	now               func() time.Time
	interval          time.Duration

	mu        sync.Mutex
	cert      *tls.Certificate
	certMod   time.Time
	keyMod    time.Time
	checkedAt time.Time
}

// LoadTLSFiles loads certFile and keyFile, failing if they do not form a
// valid pair.
func LoadTLSFiles(certFile, keyFile string) (*TLSFiles, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("TLS needs both a certificate file and a key file")
	}
	f := &TLSFiles{certFile: certFile, keyFile: keyFile, now: time.Now, interval: tlsReloadInterval}
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *TLSFiles) load() error {
	cs, err := os.Stat(f.certFile)
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	ks, err := os.Stat(f.keyFile)
	if err != nil {
		return fmt.Errorf("TLS key: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate and key: %w", err)
	}
	f.cert, f.certMod, f.keyMod = &cert, cs.ModTime(), ks.ModTime()
	return nil
}

// certificate returns the current pair, reloading it if the files changed.
func (f *TLSFiles) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if now.Sub(f.checkedAt) < f.interval {
		return f.cert, nil
	}
	f.checkedAt = now
	cs, cerr := os.Stat(f.certFile)
	ks, kerr := os.Stat(f.keyFile)
	if cerr != nil || kerr != nil || (cs.ModTime().Equal(f.certMod) && ks.ModTime().Equal(f.keyMod)) {
		return f.cert, nil
	}
	old := f.cert
	if err := f.load(); err != nil {
		// Half-written files during a rotation: keep serving the old pair
		// and look again at the next check.
		f.cert = old
	}
	return f.cert, nil
}

// Config returns a server TLS configuration (TLS 1.2 or newer) that serves
// HTTP/2 and HTTP/1.1 (WebSocket upgrades use HTTP/1.1).
func (f *TLSFiles) Config() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: f.certificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// Serve serves srv on ln: with TLS and HTTP/2 when files is set, plain
// HTTP/1.1 otherwise. It returns what Serve or ServeTLS returns.
func Serve(srv *http.Server, ln net.Listener, files *TLSFiles) error {
	if files == nil {
		return srv.Serve(ln)
	}
	srv.TLSConfig = files.Config()
	return srv.ServeTLS(ln, "", "")
}
