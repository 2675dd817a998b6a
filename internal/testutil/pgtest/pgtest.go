package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultBinDir is where Debian's postgresql-15 package puts the server.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// RequireEnv, when set to a non-empty value, turns a missing PostgreSQL into
// a test failure instead of a skip.
const RequireEnv = "RIVETKUBE_REQUIRE_PG"

// BinDirEnv overrides DefaultBinDir.
const BinDirEnv = "RIVETKUBE_PG_BIN"

// startTimeout bounds initdb plus server start-up.
const startTimeout = 2 * time.Minute

// Server is a running throwaway PostgreSQL.
type Server struct {
	// URL connects as the superuser "postgres" to database "postgres".
	URL  string
	Dir  string // temporary directory holding data, socket and log
	Port int

	opts   Options
	cmd    *exec.Cmd
	waited chan error // receives cmd.Wait's result once
	cred   *syscall.Credential
	bin    string
	mu     sync.Mutex
	n      int
}

// BinDir returns the directory of the PostgreSQL server binaries and
// whether initdb and postgres exist there.
func BinDir() (string, bool) {
	dir := os.Getenv(BinDirEnv)
	if dir == "" {
		dir = DefaultBinDir
	}
	for _, b := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return dir, false
		}
	}
	return dir, true
}

// Options changes whom a server serves. The zero value is the default: TCP
// on 127.0.0.1 only, trusting local connections.
type Options struct {
	// ListenAddresses are IP addresses postgres listens on in addition to
	// 127.0.0.1, for example 10.88.0.1 (a local cluster's bridge gateway)
	// so that pods can reach a server on the host. An address that does
	// not exist on the host only makes postgres log a warning.
	ListenAddresses []string
	// TrustNetworks are CIDRs (e.g. 10.88.0.0/16) whose TCP connections
	// are trusted: any user, any database, no password.
	TrustNetworks []string
	// Settings are extra server settings, each "name=value" (passed as
	// postgres -c), e.g. "shared_preload_libraries=pg_stat_statements".
	Settings []string
}

func (o Options) validate() error {
	for _, a := range o.ListenAddresses {
		if net.ParseIP(a) == nil {
			return fmt.Errorf("listen address %q is not an IP address", a)
		}
	}
	for _, n := range o.TrustNetworks {
		if _, _, err := net.ParseCIDR(n); err != nil {
			return fmt.Errorf("trust network %q: %w", n, err)
		}
	}
	for _, kv := range o.Settings {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("setting %q is not name=value", kv)
		}
	}
	return nil
}

// listenAddresses is postgres' listen_addresses setting.
func (o Options) listenAddresses() string {
	return strings.Join(append([]string{"127.0.0.1"}, o.ListenAddresses...), ",")
}

// Start starts a server for t and returns its URL.
func Start(t testing.TB) string {
	t.Helper()
	return StartServer(t).URL
}

// StartServer starts a server for t; see the package doc.
func StartServer(t testing.TB) *Server {
	t.Helper()
	return StartServerWith(t, Options{})
}

// StartServerWith is StartServer with Options.
func StartServerWith(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, ok := BinDir()
	if !ok {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("pgtest: PostgreSQL binaries not found in %s and %s is set", bin, RequireEnv)
		}
		t.Skipf("pgtest: PostgreSQL binaries not found in %s (install postgresql-15 or set %s); set %s=1 to fail instead", bin, BinDirEnv, RequireEnv)
	}
	s, err := start(bin, opts)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("pgtest: stop: %v", err)
		}
	})
	return s
}

// Launch starts a server outside a test (benchmarks, tools); see the
// package doc. It fails when the binaries are missing. Stop stops the
// server and removes its directory.
func Launch() (*Server, error) { return LaunchWith(Options{}) }

// LaunchWith is Launch with Options.
func LaunchWith(opts Options) (*Server, error) {
	bin, ok := BinDir()
	if !ok {
		return nil, fmt.Errorf("pgtest: PostgreSQL binaries not found in %s (install postgresql-15 or set %s)", bin, BinDirEnv)
	}
	s, err := start(bin, opts)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	return s, nil
}

// Stop shuts a server started by Launch down and removes its directory.
// Servers of StartServer are stopped by the test's cleanup instead.
func (s *Server) Stop() error { return s.stop() }

// credential returns who runs the server: nil when not root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("running as root and no postgres or nobody user: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user %s: %w", u.Username, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(bin string, opts Options) (_ *Server, err error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rivetkube-pg-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("chown %s: %w", dir, err)
		}
	}
	s := &Server{Dir: dir, cred: cred, bin: bin, opts: opts}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()

	data := filepath.Join(dir, "data")
	initdb := s.command(ctx, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if err := trustNetworks(data, opts.TrustNetworks); err != nil {
		return nil, err
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.Port = port
	if err := s.launch(ctx); err != nil {
		return nil, err
	}
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	return s, nil
}

func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

// trustNetworks appends a trust line per network to pg_hba.conf in data.
func trustNetworks(data string, networks []string) error {
	if len(networks) == 0 {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pg_hba.conf: %w", err)
	}
	var b strings.Builder
	b.WriteString("\n# pgtest.Options.TrustNetworks\n")
	for _, n := range networks {
		fmt.Fprintf(&b, "host all all %s trust\n", n)
	}
	_, err = f.WriteString(b.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pg_hba.conf: %w", err)
	}
	return nil
}

// stop shuts the server down and removes its directory.
func (s *Server) stop() error {
	defer os.RemoveAll(s.Dir)
	return s.halt()
}

// launch starts postgres on s.Dir and s.Port and waits until it accepts
// connections.
func (s *Server) launch(ctx context.Context) error {
	data := filepath.Join(s.Dir, "data")
	cmd := s.command(context.Background(), "postgres", "-D", data, "-p", strconv.Itoa(s.Port), "-k", s.Dir,
		"-c", "listen_addresses="+s.opts.listenAddresses(), "-c", "fsync=on", "-c", "max_connections=200",
		"-c", "logging_collector=off")
	for _, kv := range s.opts.Settings {
		cmd.Args = append(cmd.Args, "-c", kv)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd = cmd
	s.waited = make(chan error, 1)

	// Readiness is the log line; the server's whole log goes to a file.
	logf, err := os.OpenFile(filepath.Join(s.Dir, "postgres.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return err
	}
	ready := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer logf.Close()
		sc := bufio.NewScanner(stderr)
		signaled := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if !signaled && strings.Contains(line, "database system is ready to accept connections") {
				signaled = true
				close(ready)
			}
		}
		_, _ = io.Copy(logf, stderr)
		close(exited)
		s.waited <- cmd.Wait()
	}()
	select {
	case <-ready:
		return nil
	case <-exited:
		log, _ := os.ReadFile(filepath.Join(s.Dir, "postgres.log"))
		return fmt.Errorf("postgres exited during start-up:\n%s", log)
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return fmt.Errorf("postgres not ready after %v", startTimeout)
	}
}

// halt shuts the server down (fast shutdown, then SIGKILL after a grace
// period), keeping its data.
func (s *Server) halt() error {
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return fmt.Errorf("signal postgres: %w", err)
	}
	select {
	case <-s.waited:
		return nil
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.waited
		return errors.New("postgres ignored SIGINT for 30s; killed")
	}
}

// Restart stops the server and starts it again on the same data directory
// and port, as an operator's restart would: clients see their connections
// drop and the server come back.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.halt(); err != nil {
		t.Fatalf("pgtest: restart: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.launch(ctx); err != nil {
		t.Fatalf("pgtest: restart: %v", err)
	}
}

// NewDatabase creates a fresh database on the server and returns its URL.
// It uses the server's own createdb binary, so it needs no driver.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	s.mu.Lock()
	s.n++
	name := fmt.Sprintf("test_%d", s.n)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := s.command(ctx, "createdb", "-h", s.Dir, "-p", strconv.Itoa(s.Port), "-U", "postgres", name)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: createdb %s: %v\n%s", name, err, out)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, name)
}
