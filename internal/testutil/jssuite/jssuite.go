//go:build unix

// Package jssuite runs the RivetKit JavaScript conformance suite (test/js,
// the official rivetkit client under Node's test runner) against an engine
// endpoint, for the e2e and integration suites.
package jssuite

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// jsSuiteTimeout bounds one run of the JS conformance suite (about 40 s on a
// healthy engine; the rest is headroom for retries inside the client).
const jsSuiteTimeout = 10 * time.Minute

// Available skips t (or fails it with RIVETKUBE_REQUIRE_JS=1) when the
// suite cannot run: no node_modules in dir or no node on PATH. It returns
// node's path.
func Available(t *testing.T, dir string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "rivetkit", "package.json")); err != nil {
		requireJS(t, "test/js/node_modules is missing: run `npm ci` in test/js to run the JS client conformance suite")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		requireJS(t, "node is not on PATH: the JS client conformance suite needs Node.js 20 or newer")
	}
	return node
}

// Run runs the suite in dir (test/js) against endpoint with `node --test`,
// streaming its output to the test log, and fails t if any test fails.
func Run(t *testing.T, dir, endpoint string) {
	t.Helper()
	RunFiles(t, dir, endpoint)
}

// RunFiles is Run for the given test files only (paths relative to dir),
// for instance ones outside node's default test file patterns such as
// cluster/quickstart.mjs. No files means node's default: the whole suite.
func RunFiles(t *testing.T, dir, endpoint string, files ...string) {
	t.Helper()
	node := Available(t, dir)

	ctx, cancel := context.WithTimeout(context.Background(), jsSuiteTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"--test", "--test-reporter=spec"}, files...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RIVET_ENDPOINT="+endpoint, "NO_COLOR=1", "FORCE_COLOR=0")
	if os.Getenv("RIVET_LOG_LEVEL") == "" {
		// The client logs every expected error at warn level; keep the log readable.
		cmd.Env = append(cmd.Env, "RIVET_LOG_LEVEL=error")
	}
	// node --test runs each file in a child process: signal the whole group on timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second

	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for sc.Scan() {
			t.Log(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()

	t.Logf("running `node --test` in %s against %s", dir, endpoint)
	runErr := cmd.Run()
	_ = pw.Close()
	wg.Wait()

	if ctx.Err() != nil {
		t.Fatalf("JS conformance suite did not finish within %s", jsSuiteTimeout)
	}
	if runErr != nil {
		var exitErr *exec.ExitError
		if errors.As(runErr, &exitErr) {
			t.Fatalf("JS conformance suite failed (exit code %d); see the spec output above", exitErr.ExitCode())
		}
		t.Fatalf("JS conformance suite: %v", runErr)
	}
}

// requireJS skips the test with msg, or fails it when RIVETKUBE_REQUIRE_JS=1.
func requireJS(t *testing.T, msg string) {
	t.Helper()
	if strings.TrimSpace(os.Getenv("RIVETKUBE_REQUIRE_JS")) == "1" {
		t.Fatal(msg + " (RIVETKUBE_REQUIRE_JS=1)")
	}
	t.Skip(msg + " (set RIVETKUBE_REQUIRE_JS=1 to make this a failure)")
}
