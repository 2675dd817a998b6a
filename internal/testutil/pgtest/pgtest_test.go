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
