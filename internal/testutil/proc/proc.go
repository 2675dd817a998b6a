// Package proc starts the project's binaries as real processes for tests:
// build once, start with an environment, wait until a health URL answers,
// stop with SIGTERM, kill with SIGKILL, pause with SIGSTOP. Logs are kept
// and printed when the test fails.
package proc

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles pkg (e.g. "./test/e2e/fixture", relative to dir) into
// outDir and returns the binary's path.
func Build(dir, pkg, outDir, name string) (string, error) {
	bin := filepath.Join(outDir, name)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return bin, cmd.Run()
}

// FreeAddr returns a free 127.0.0.1 port as host:port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Proc is a running process.
type Proc struct {
	Name   string
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start starts bin with env added to the test's environment. If health is
// not empty, Start waits (up to 60 s) until GET health answers 2xx. The
// process is stopped when the test ends; its log is printed if it failed.
func Start(t testing.TB, name, bin string, env []string, health string, args ...string) *Proc {
	t.Helper()
	p, err := Launch(name, bin, env, health, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("--- log of %s:\n%s", name, p.Logs())
		}
	})
	return p
}

// Logs returns what the process printed so far.
func (p *Proc) Logs() string { return p.logs.String() }

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Kill sends SIGKILL and waits for the exit.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Pause sends SIGSTOP; Resume sends SIGCONT.
func (p *Proc) Pause()  { _ = p.cmd.Process.Signal(syscall.SIGSTOP) }
func (p *Proc) Resume() { _ = p.cmd.Process.Signal(syscall.SIGCONT) }

// Stop sends SIGTERM and waits up to grace, then SIGKILL. It reports
// whether the process exited on its own.
func (p *Proc) Stop(grace time.Duration) bool {
	select {
	case <-p.exited:
		return true
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return true
	case <-time.After(grace):
		p.Kill()
		return false
	}
}
