// Package e2e drives the engine as a real process: the fixture engine
// (test/e2e/fixture) is built once, started on a free loopback port with its
// own data directory, and driven over HTTP and WebSocket by the Go client
// and by the official RivetKit JavaScript client.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

var fixtureBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rivetkube-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixtureBin = filepath.Join(dir, "fixture")
	if runtime.GOOS == "windows" {
		fixtureBin += ".exe"
	}
	build := exec.Command("go", "build", "-o", fixtureBin, "./fixture")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build fixture engine:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// engineProc is a running fixture engine process.
type engineProc struct {
	Endpoint string
	DataDir  string
	addr     string
	cmd      *exec.Cmd
	logs     *bytes.Buffer
	exited   chan struct{}
	t        *testing.T
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// startEngine starts the fixture engine on a free port and waits until it
// answers. It is stopped (SIGTERM, then SIGKILL) when the test ends.
func startEngine(t *testing.T) *engineProc {
	t.Helper()
	return startEngineAt(t, freeAddr(t), t.TempDir())
}

func startEngineAt(t *testing.T, addr, dataDir string) *engineProc {
	t.Helper()
	p := &engineProc{Endpoint: "http://" + addr, DataDir: dataDir, addr: addr, logs: &bytes.Buffer{}, exited: make(chan struct{}), t: t}
	cmd := exec.Command(fixtureBin)
	cmd.Env = append(os.Environ(),
		"RIVETKUBE_LISTEN="+addr,
		"RIVETKUBE_DATA_DIR="+dataDir,
		"RIVETKUBE_ACTION_TIMEOUT=2s",
		"RIVETKUBE_MAX_MESSAGE_SIZE=1048576",
		"RIVETKUBE_SHUTDOWN_TIMEOUT=5s",
		"RIVET_ENDPOINT=",
	)
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd = cmd
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("engine log (%s):\n%s", addr, p.logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.Endpoint + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("engine exited during start:\n%s", p.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine did not answer in time:\n%s", p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *engineProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop sends SIGTERM and waits, then SIGKILL after 10 s.
func (p *engineProc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.kill()
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
