package pgtest

import (
	"net"
	"os"
	"strconv"
	"testing"
)

// TestStart starts a server, checks it listens on its port and owns its
// socket directory, and relies on Cleanup to stop it.
func TestStart(t *testing.T) {
	t.Parallel()
	s := StartServer(t)
	if s.URL == "" || s.Port == 0 {
		t.Fatalf("server without URL or port: %+v", s)
	}
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)))
	if err != nil {
		t.Fatalf("postgres does not listen on its port: %v", err)
	}
	c.Close()
	if _, err := os.Stat(s.Dir + "/.s.PGSQL." + strconv.Itoa(s.Port)); err != nil {
		t.Fatalf("unix socket not in the temp dir: %v", err)
	}
	if url := s.NewDatabase(t); url == s.URL {
		t.Fatal("NewDatabase returned the server URL")
	}
}

// TestLaunch starts a server without a test's cleanup and stops it.
func TestLaunch(t *testing.T) {
	t.Parallel()
	if _, ok := BinDir(); !ok && os.Getenv(RequireEnv) == "" {
		t.Skip("PostgreSQL binaries not found")
	}
	s, err := Launch()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)))
	if err != nil {
		_ = s.Stop()
		t.Fatalf("postgres does not listen on its port: %v", err)
	}
	c.Close()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Fatalf("Stop left the directory %s: %v", s.Dir, err)
	}
}
