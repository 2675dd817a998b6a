package proc

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"time"
)

// healthTimeout bounds the wait for a started process to answer its health URL.
const healthTimeout = 60 * time.Second

// Launch starts bin outside a test (tools such as the chaos harness): env is
// added to this process's environment; if health is not empty, Launch waits
// (up to 60 s) until GET health answers 2xx. The caller stops the process
// (Stop or Kill). Start is Launch for a test.
func Launch(name, bin string, env []string, health string, args ...string) (*Proc, error) {
	p := &Proc{Name: name, logs: &syncBuffer{}, exited: make(chan struct{})}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.cmd = cmd
	go func() { _ = cmd.Wait(); close(p.exited) }()
	if health == "" {
		return p, nil
	}
	deadline := time.Now().Add(healthTimeout)
	for {
		resp, err := http.Get(health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return p, nil
			}
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%s exited during start:\n%s", name, p.Logs())
		default:
		}
		if time.Now().After(deadline) {
			p.Kill()
			return nil, fmt.Errorf("%s did not become healthy:\n%s", name, p.Logs())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }
