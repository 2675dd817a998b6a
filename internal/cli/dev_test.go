package cli

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
)

// TestDev runs `dev` on the quickstart registry: it builds and starts it,
// reports where it listens, rebuilds and restarts it when a watched file
// changes (the actors' state survives in the data directory), and stops it
// when its context ends.
func TestDev(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the quickstart program")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	watch, data := t.TempDir(), t.TempDir()
	lines := make(chan string, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, Env{Prog: "rivetkube", Stdout: &lineWriter{lines: lines}, Stderr: &syncWriter{w: &strings.Builder{}}, Getenv: func(string) string { return "" }},
			[]string{"dev", "../../examples/quickstart", "--listen", addr, "--data-dir", data, "--watch", watch})
	}()
	listening := regexp.MustCompile(`local engine listening on http://` + regexp.QuoteMeta(addr) + ` \(pid (\d+)`)
	await := func(re *regexp.Regexp) []string {
		t.Helper()
		timeout := time.After(3 * time.Minute)
		for {
			select {
			case l := <-lines:
				if m := re.FindStringSubmatch(l); m != nil {
					return m
				}
			case code := <-done:
				t.Fatalf("dev exited with %d", code)
			case <-timeout:
				t.Fatalf("no line matching %s", re)
			}
		}
	}
	first := await(listening)[1]

	c, err := client.New(client.Config{Endpoint: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	counter := c.GetOrCreate("counter", []string{"dev"})
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	if n, err := client.Call[int64](cctx, counter, "increment", 5); err != nil || n != 5 {
		t.Fatalf("increment = %d, %v", n, err)
	}

	// A new .go file under the watched directory restarts the program.
	sub := filepath.Join(watch, "pkg")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(watch, "main.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	await(regexp.MustCompile(`change detected`))
	second := await(listening)[1]
	if second == first {
		t.Fatalf("the program was not restarted (pid %s both times)", first)
	}
	if n, err := client.Call[int64](cctx, counter, "getCount"); err != nil || n != 5 {
		t.Fatalf("getCount after the restart = %d, %v; want 5", n, err)
	}
	// A directory created after the start is watched too.
	if err := os.WriteFile(filepath.Join(sub, "x.go"), []byte("package pkg\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	await(regexp.MustCompile(`change detected`))
	if third := await(listening)[1]; third == second {
		t.Fatalf("not restarted after a change in a new directory")
	}

	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("dev exit code %d", code)
		}
	case <-time.After(time.Minute):
		t.Fatal("dev did not stop")
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("the engine still answers after dev stopped")
	}
}
