package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// dev timings.
const (
	devDebounce     = 300 * time.Millisecond // quiet time after a change before rebuilding
	devReadyTimeout = 60 * time.Second       // how long a started registry has to answer /healthz
	devStopTimeout  = 15 * time.Second       // SIGINT, then SIGKILL after this
	devMaxWatched   = 4096                   // directories watched at most
)

func devCmd() cmd {
	return cmd{
		path: "dev", args: "[PACKAGE]",
		summary: "build and run a registry package with the local engine; rebuild and restart it when files change",
		min:     0, max: 1,
		flags: func(fs *flag.FlagSet, o *opts) {
			fs.StringVar(&o.listen, "listen", "127.0.0.1:6420", "address the local engine listens on (RIVETKUBE_LISTEN of the program)")
			fs.StringVar(&o.dataDir, "data-dir", ".rivetkube", "the local engine's data directory (kept across restarts)")
			fs.StringVar(&o.watch, "watch", ".", "directory watched recursively for changes to .go files, go.mod and go.sum")
		},
		run: runDev,
	}
}

// syncWriter serializes writes from the tool and the program it runs.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// devProc is one running build of the registry.
type devProc struct {
	cmd    *exec.Cmd
	bin    string
	exited chan struct{}
	err    error // set before exited closes
}

type devSession struct {
	r       *runner
	pkg     string
	tmp     string
	builds  int
	out     io.Writer // stdout, serialized
	errOut  io.Writer // stderr, serialized
	absData string
}

func runDev(ctx context.Context, r *runner, args []string) error {
	pkg := "."
	if len(args) == 1 {
		pkg = args[0]
	}
	if _, err := exec.LookPath("go"); err != nil {
		return failedErr("dev needs the go command on PATH: %v", err)
	}
	watchRoot, err := filepath.Abs(r.o.watch)
	if err != nil {
		return usageErr("--watch: %v", err)
	}
	if st, err := os.Stat(watchRoot); err != nil || !st.IsDir() {
		return usageErr("--watch %s is not a directory", r.o.watch)
	}
	absData, _ := filepath.Abs(r.o.dataDir)
	tmp, err := os.MkdirTemp("", "rivetkube-dev-")
	if err != nil {
		return fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch files: %w", err)
	}
	defer w.Close()
	s := &devSession{r: r, pkg: pkg, tmp: tmp, absData: absData,
		out: &syncWriter{w: r.env.Stdout}, errOut: &syncWriter{w: r.env.Stderr}}
	if err := s.watchTree(w, watchRoot); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "rivetkube dev: building %s (watching %s)\n", pkg, watchRoot)
	var cur *devProc
	defer func() { s.stop(cur) }()
	if p, err := s.build(ctx); err != nil {
		fmt.Fprintf(s.out, "rivetkube dev: %v\nrivetkube dev: waiting for a change\n", err)
	} else {
		cur = s.start(ctx, p)
	}
	var debounce <-chan time.Time
	for {
		var exited chan struct{}
		if cur != nil {
			exited = cur.exited
		}
		select {
		case <-ctx.Done():
			return nil
		case <-exited:
			fmt.Fprintf(s.out, "rivetkube dev: the program exited (%v); waiting for a change\n", cur.err)
			cur = nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("file watcher closed")
			}
			if s.relevant(w, ev) {
				debounce = time.After(devDebounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("file watcher closed")
			}
			fmt.Fprintf(s.errOut, "rivetkube dev: watch: %v\n", err)
		case <-debounce:
			debounce = nil
			fmt.Fprintln(s.out, "rivetkube dev: change detected, rebuilding")
			p, err := s.build(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				fmt.Fprintf(s.out, "rivetkube dev: %v\nrivetkube dev: the previous build keeps running\n", err)
				continue
			}
			s.stop(cur)
			cur = s.start(ctx, p)
		}
	}
}

// watchTree adds root and its directories to w, skipping hidden ones,
// vendor, node_modules and the data directory.
func (s *devSession) watchTree(w *fsnotify.Watcher, root string) error {
	n := 0
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if path != root && s.skipDir(path) {
			return filepath.SkipDir
		}
		if n++; n > devMaxWatched {
			return fmt.Errorf("more than %d directories under %s; pass a narrower --watch", devMaxWatched, root)
		}
		if err := w.Add(path); err != nil {
			return fmt.Errorf("watch %s: %w", path, err)
		}
		return nil
	})
}

func (s *devSession) skipDir(path string) bool {
	base := filepath.Base(path)
	return strings.HasPrefix(base, ".") || base == "vendor" || base == "node_modules" || base == "testdata" || path == s.absData
}

// relevant reports whether ev should trigger a rebuild; a new directory is
// watched too.
func (s *devSession) relevant(w *fsnotify.Watcher, ev fsnotify.Event) bool {
	if ev.Has(fsnotify.Create) {
		if st, err := os.Stat(ev.Name); err == nil && st.IsDir() && !s.skipDir(ev.Name) {
			_ = s.watchTree(w, ev.Name)
			return false
		}
	}
	if ev.Op == fsnotify.Chmod {
		return false
	}
	base := filepath.Base(ev.Name)
	if strings.HasPrefix(base, ".") || strings.HasSuffix(base, "_test.go") {
		return false
	}
	return strings.HasSuffix(base, ".go") || base == "go.mod" || base == "go.sum"
}

// build compiles the package into a new binary.
func (s *devSession) build(ctx context.Context) (string, error) {
	s.builds++
	bin := filepath.Join(s.tmp, fmt.Sprintf("registry-%d", s.builds))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, s.pkg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build %s failed: %v\n%s", s.pkg, err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

// start runs a built binary as the local engine and reports where it
// listens once it answers.
func (s *devSession) start(ctx context.Context, bin string) *devProc {
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"RIVETKUBE_LISTEN="+s.r.o.listen,
		"RIVETKUBE_DATA_DIR="+s.r.o.dataDir,
		"RIVET_ENDPOINT=", // the local engine, never a remote one
	)
	cmd.Stdout, cmd.Stderr = s.errOut, s.errOut
	p := &devProc{cmd: cmd, bin: bin, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		p.err = err
		close(p.exited)
		return p
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	endpoint := "http://" + s.r.o.listen
	if err := waitHealthy(ctx, endpoint, p.exited); err != nil {
		fmt.Fprintf(s.out, "rivetkube dev: the engine did not answer at %s: %v\n", endpoint, err)
		return p
	}
	fmt.Fprintf(s.out, "rivetkube dev: local engine listening on %s (pid %d, data in %s)\n", endpoint, cmd.Process.Pid, s.r.o.dataDir)
	return p
}

// stop interrupts a running build and waits for it (killing it after
// devStopTimeout), so the next one can open the data directory.
func (s *devSession) stop(p *devProc) {
	if p == nil {
		return
	}
	select {
	case <-p.exited:
	default:
		if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
			_ = p.cmd.Process.Kill()
		}
		select {
		case <-p.exited:
		case <-time.After(devStopTimeout):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	_ = os.Remove(p.bin)
}

// waitHealthy polls endpoint/healthz until it answers 204, the process
// exits, ctx ends or devReadyTimeout passes.
func waitHealthy(ctx context.Context, endpoint string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, devReadyTimeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/healthz", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("the program exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
