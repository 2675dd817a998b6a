package pgtest

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

// crashWait bounds how long an immediate shutdown may take before the
// postmaster is killed outright.
const crashWait = 30 * time.Second

// RestartImmediate stops the server with an immediate shutdown (SIGQUIT: no
// checkpoint, crash recovery on the next start, as after a power cut of the
// database host) and starts it again on the same data directory and port.
// It does not need a test, so tools such as the chaos harness use it.
func (s *Server) RestartImmediate() error {
	if err := s.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		return fmt.Errorf("pgtest: immediate shutdown: %w", err)
	}
	select {
	case <-s.waited:
	case <-time.After(crashWait):
		_ = s.cmd.Process.Kill()
		<-s.waited
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.launch(ctx); err != nil {
		return fmt.Errorf("pgtest: start after immediate shutdown: %w", err)
	}
	return nil
}
