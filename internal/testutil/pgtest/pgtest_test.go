package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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

// TestOptionsListenAndTrust listens on an extra loopback address and trusts
// a network that a client bound to 127.0.0.2 comes from; a server without
// the option refuses that client (pg_hba.conf has no line for it).
func TestOptionsListenAndTrust(t *testing.T) {
	t.Parallel()
	from := func(url string) error {
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			return err
		}
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 10 * time.Second}
		cfg.DialFunc = d.DialContext
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var one int
		return conn.QueryRow(ctx, "select 1").Scan(&one)
	}

	s := StartServerWith(t, Options{ListenAddresses: []string{"127.0.0.2"}, TrustNetworks: []string{"127.0.0.2/32"}})
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(s.Port)))
	if err != nil {
		t.Fatalf("postgres does not listen on the extra address: %v", err)
	}
	c.Close()
	url := fmt.Sprintf("postgres://postgres@127.0.0.2:%d/postgres?sslmode=disable", s.Port)
	if err := from(url); err != nil {
		t.Fatalf("client from a trusted network refused: %v", err)
	}

	plain := StartServer(t)
	if err := from(plain.URL); err == nil || !strings.Contains(err.Error(), "pg_hba.conf") {
		t.Fatalf("client from 127.0.0.2 without TrustNetworks: err = %v, want a pg_hba.conf refusal", err)
	}
}

func TestOptionsRejected(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{{ListenAddresses: []string{"localhost"}}, {TrustNetworks: []string{"10.88.0.1"}}} {
		if err := o.validate(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if got := (Options{ListenAddresses: []string{"10.88.0.1"}}).listenAddresses(); got != "127.0.0.1,10.88.0.1" {
		t.Errorf("listen_addresses = %q", got)
	}
}

// TestRestartImmediate crashes the server with SIGQUIT and checks it comes
// back on the same port with its data.
func TestRestartImmediate(t *testing.T) {
	t.Parallel()
	s := StartServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, s.URL)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("create table kept (v int); insert into kept values (7)"); err != nil {
		t.Fatal(err)
	}
	if err := s.RestartImmediate(); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		t.Fatalf("server not back after an immediate restart: %v", err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "select v from kept").Scan(&v); err != nil || v != 7 {
		t.Fatalf("committed row after crash recovery: %d, %v", v, err)
	}
}
