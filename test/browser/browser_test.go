//go:build unix

// Package browser runs the built examples/web page and a plain rivetkit
// browser client in Debian's headless chromium, against the local engine
// (the quickstart program) and the distributed gateway (cmd/gateway, a
// quickstart runner and PostgreSQL). The page is always served from
// another origin (port) than the engine, so every call is a credentialed
// cross-origin request the browser checks against the gateway's CORS
// answers. web.test.mjs holds the browser steps; this file starts the
// processes and runs it.
//
// It needs /usr/bin/chromium (or $CHROMIUM), `npm ci` in test/browser and a
// built examples/web/dist (see README.md). Without them the tests skip, or
// fail when RIVETKUBE_REQUIRE_BROWSER=1.
package browser

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/testutil/pgtest"
	"github.com/rivetkube/rivetkube/internal/testutil/proc"
	"github.com/rivetkube/rivetkube/internal/testutil/tlstest"
)

// suiteTimeout bounds one run of web.test.mjs.
const suiteTimeout = 5 * time.Minute

var quickstartBin, gatewayBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rivetkube-browser-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if quickstartBin, err = proc.Build("../..", "./examples/quickstart", dir, "quickstart"); err == nil {
		gatewayBin, err = proc.Build("../..", "./cmd/gateway", dir, "gateway")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// TestLocalEngine: the page works end to end against the local engine,
// whose default CORS policy reflects any origin.
func TestLocalEngine(t *testing.T) {
	app := serveApp(t)
	addr := proc.FreeAddr(t)
	proc.Start(t, "quickstart", quickstartBin, []string{
		"RIVETKUBE_LISTEN=" + addr, "RIVETKUBE_DATA_DIR=" + t.TempDir(),
	}, "http://"+addr+"/healthz")
	runSuite(t, app, "http://"+addr, "allowed")
}

// TestLocalEngineAllowList: a local engine whose allow-list names another
// origin refuses the page's requests and WebSockets.
func TestLocalEngineAllowList(t *testing.T) {
	app := serveApp(t)
	addr := proc.FreeAddr(t)
	proc.Start(t, "quickstart", quickstartBin, []string{
		"RIVETKUBE_LISTEN=" + addr, "RIVETKUBE_DATA_DIR=" + t.TempDir(),
		"RIVETKUBE_CORS_ORIGINS=http://localhost:1",
	}, "http://"+addr+"/healthz")
	runSuite(t, app, "http://"+addr, "refused")
}

// TestDistributedGateway: the same page against the distributed gateway,
// which allows the page's origin only once it is configured.
func TestDistributedGateway(t *testing.T) {
	app := serveApp(t)
	pgURL := pgtest.StartServer(t).NewDatabase(t)
	const runnerToken = "browser-runner-token"
	startGateway := func(name string, env ...string) string {
		addr := proc.FreeAddr(t)
		proc.Start(t, name, gatewayBin, append([]string{
			"RIVETKUBE_POSTGRES_URL=" + pgURL, "RIVETKUBE_LISTEN=" + addr,
			"RIVETKUBE_RUNNER_TOKEN=" + runnerToken, "RIVETKUBE_LOG_FORMAT=text",
		}, env...), "http://"+addr+"/healthz")
		return "http://" + addr
	}
	configured := startGateway("gateway-configured", "RIVETKUBE_CORS_ORIGINS="+app)
	byDefault := startGateway("gateway-default")
	const clientToken = "browser-client-token-0123456789"
	withToken := startGateway("gateway-token", "RIVETKUBE_CORS_ORIGINS="+app, "RIVETKUBE_CLIENT_TOKENS="+clientToken)
	runner := proc.FreeAddr(t)
	proc.Start(t, "runner", quickstartBin, []string{
		"RIVET_ENDPOINT=" + configured, "RIVETKUBE_POSTGRES_URL=" + pgURL,
		"RIVET_RUNNER_LISTEN=" + runner, "RIVET_RUNNER_ADDRESS=" + runner,
		"RIVET_RUNNER_VERSION=1", "RIVETKUBE_RUNNER_TOKEN=" + runnerToken,
	}, "http://"+runner+"/healthz")
	waitForActors(t, configured)

	t.Run("configured origin", func(t *testing.T) { runSuite(t, app, configured, "allowed") })
	t.Run("same origin only by default", func(t *testing.T) { runSuite(t, app, byDefault, "refused") })
	t.Run("client token", func(t *testing.T) { runSuite(t, app, withToken, "allowed", "RIVET_TOKEN="+clientToken) })
}

// TestDistributedGatewayTLS: the gateway serves HTTPS from certificate
// files (a self-signed certificate made here, which the browser is told to
// accept); the page's requests arrive over HTTP/2 and its WebSockets still
// connect.
func TestDistributedGatewayTLS(t *testing.T) {
	app := serveApp(t)
	pgURL := pgtest.StartServer(t).NewDatabase(t)
	certFile, keyFile, cert := tlstest.Write(t, t.TempDir(), "gateway")
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	const runnerToken = "browser-runner-token"
	addr := proc.FreeAddr(t)
	gw := proc.Start(t, "gateway-tls", gatewayBin, []string{
		"RIVETKUBE_POSTGRES_URL=" + pgURL, "RIVETKUBE_LISTEN=" + addr,
		"RIVETKUBE_RUNNER_TOKEN=" + runnerToken, "RIVETKUBE_LOG_FORMAT=text",
		"RIVETKUBE_CORS_ORIGINS=" + app,
		"RIVETKUBE_TLS_CERT_FILE=" + certFile, "RIVETKUBE_TLS_KEY_FILE=" + keyFile,
	}, "")
	endpoint := "https://" + addr
	runner := proc.FreeAddr(t)
	proc.Start(t, "runner", quickstartBin, []string{
		"RIVET_ENDPOINT=" + endpoint, "RIVETKUBE_POSTGRES_URL=" + pgURL,
		"RIVET_RUNNER_LISTEN=" + runner, "RIVET_RUNNER_ADDRESS=" + runner,
		"RIVET_RUNNER_VERSION=1", "RIVETKUBE_RUNNER_TOKEN=" + runnerToken,
	}, "http://"+runner+"/healthz")
	waitForActorsWith(t, hc, endpoint, gw)
	runSuite(t, app, endpoint, "allowed", "EXPECT_H2=1")
}

// waitForActors waits until the engine serves a counter action (the runner
// has registered).
func waitForActors(t *testing.T, endpoint string) {
	t.Helper()
	waitForActorsWith(t, http.DefaultClient, endpoint, nil)
}

// waitForActorsWith is waitForActors with an HTTP client; it fails early
// if gw (when set) exits.
func waitForActorsWith(t *testing.T, hc *http.Client, endpoint string, gw *proc.Proc) {
	t.Helper()
	url := endpoint + "/gateway/counter/action/getCount?rvt-method=getOrCreate&rvt-runner=default&rvt-key=warmup"
	deadline := time.Now().Add(60 * time.Second)
	for {
		if gw != nil {
			select {
			case <-gw.Exited():
				t.Fatalf("gateway exited:\n%s", gw.Logs())
			default:
			}
		}
		resp, err := hc.Post(url, "application/json", strings.NewReader(`{"args":[]}`))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no runner served the counter within 60s (last: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serveApp serves examples/web/dist on a fresh loopback port and returns
// its origin.
func serveApp(t *testing.T) string {
	t.Helper()
	dist, err := filepath.Abs(filepath.Join("..", "..", "examples", "web", "dist"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dist, "index.html")); err != nil {
		require(t, "examples/web/dist is missing: run `npm ci && npm run build` in examples/web")
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dist)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// runSuite runs web.test.mjs with node against endpoint, the page served
// at app, expecting the CORS outcome expect ("allowed" or "refused"); env
// is added to node's environment.
func runSuite(t *testing.T, app, endpoint, expect string, env ...string) {
	t.Helper()
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		require(t, "chromium is not installed: apt-get install -y chromium")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core", "package.json")); err != nil {
		require(t, "test/browser/node_modules is missing: run `npm ci` in test/browser")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		require(t, "node is not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "web.test.mjs")
	cmd.Env = append(os.Environ(), "APP_URL="+app, "RIVET_ENDPOINT="+endpoint, "EXPECT_CORS="+expect,
		"CHROMIUM="+chromium, "NO_COLOR=1", "FORCE_COLOR=0")
	cmd.Env = append(cmd.Env, env...)
	// node and chromium start children: signal the whole group on timeout.
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
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			t.Log(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	t.Logf("browser suite: page %s, engine %s, expect %s", app, endpoint, expect)
	runErr := cmd.Run()
	_ = pw.Close()
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("browser suite did not finish within %s", suiteTimeout)
	}
	var exitErr *exec.ExitError
	if errors.As(runErr, &exitErr) {
		t.Fatalf("browser suite failed (exit code %d); see its output above", exitErr.ExitCode())
	} else if runErr != nil {
		t.Fatalf("browser suite: %v", runErr)
	}
}

// require skips t with msg, or fails it when RIVETKUBE_REQUIRE_BROWSER=1.
func require(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("RIVETKUBE_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + " (RIVETKUBE_REQUIRE_BROWSER=1)")
	}
	t.Skip(msg + " (set RIVETKUBE_REQUIRE_BROWSER=1 to make this a failure)")
}
