package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/rivetkube/rivetkube/client"
)

// Exit codes of the tool (documented in docs/cli.md).
const (
	ExitOK          = 0 // the command did what was asked
	ExitFailed      = 1 // the engine or cluster refused, or the rollout failed
	ExitUsage       = 2 // bad command line
	ExitNotFound    = 3 // the actor, pool or other object does not exist
	ExitTimeout     = 4 // a wait (rollout status, --request-timeout) ran out
	ExitUnreachable = 5 // the engine or the Kubernetes API could not be reached
)

// cliError is an error with an exit code and, when it came from the
// engine, the protocol's group and code.
type cliError struct {
	code  int
	group string
	ecode string
	msg   string
	err   error
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &cliError{code: ExitUsage, group: "cli", ecode: "usage", msg: fmt.Sprintf(format, args...)}
}

func notFoundErr(format string, args ...any) error {
	return &cliError{code: ExitNotFound, group: "cli", ecode: "not_found", msg: fmt.Sprintf(format, args...)}
}

func timeoutErr(format string, args ...any) error {
	return &cliError{code: ExitTimeout, group: "cli", ecode: "timeout", msg: fmt.Sprintf(format, args...)}
}

func failedErr(format string, args ...any) error {
	return &cliError{code: ExitFailed, group: "cli", ecode: "failed", msg: fmt.Sprintf(format, args...)}
}

// classify turns any error into a cliError with an exit code.
func classify(err error) *cliError {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce
	}
	var ae *client.ActorError
	if errors.As(err, &ae) {
		code := ExitFailed
		if ae.Code == "not_found" || ae.StatusCode == http.StatusNotFound {
			code = ExitNotFound
		}
		return &cliError{code: code, group: ae.Group, ecode: ae.Code, msg: ae.Message, err: err}
	}
	var he *client.HTTPError
	if errors.As(err, &he) {
		code := ExitFailed
		if he.StatusCode == http.StatusNotFound {
			code = ExitNotFound
		}
		return &cliError{code: code, group: "http", ecode: fmt.Sprint(he.StatusCode), msg: he.Error(), err: err}
	}
	if apierrors.IsNotFound(err) {
		return &cliError{code: ExitNotFound, group: "kubernetes", ecode: "not_found", msg: err.Error(), err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) {
		return &cliError{code: ExitTimeout, group: "cli", ecode: "timeout", msg: err.Error(), err: err}
	}
	var ne net.Error
	var oe *net.OpError
	if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &oe) || (errors.As(err, &ne) && ne.Timeout()) {
		return &cliError{code: ExitUnreachable, group: "cli", ecode: "unreachable", msg: err.Error(), err: err}
	}
	return &cliError{code: ExitFailed, group: "cli", ecode: "failed", msg: err.Error(), err: err}
}

// fail reports err (nil: success) on stderr and returns its exit code.
// With -o json the error is a JSON object {"error": {group, code,
// message}} so scripts can read it.
func (r *runner) fail(err error) int {
	if err == nil {
		return ExitOK
	}
	ce := classify(err)
	if r.o.output == "json" {
		b, _ := json.Marshal(map[string]any{"error": map[string]any{
			"group": ce.group, "code": ce.ecode, "message": ce.msg, "exitCode": ce.code,
		}})
		fmt.Fprintln(r.env.Stderr, string(b))
		return ce.code
	}
	if ce.group != "cli" && ce.group != "" {
		fmt.Fprintf(r.env.Stderr, "%s: %s/%s: %s\n", r.prog, ce.group, ce.ecode, ce.msg)
	} else {
		fmt.Fprintf(r.env.Stderr, "%s: %s\n", r.prog, ce.msg)
	}
	return ce.code
}
