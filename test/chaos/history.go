package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/rivetkube/rivetkube/client"
)

// Outcome is what a client learnt of an operation.
type Outcome int

const (
	// OK: the operation was acknowledged with a result.
	OK Outcome = iota
	// Failed: the operation certainly did not take effect.
	Failed
	// Unknown: the operation may or may not have taken effect (a timeout,
	// a dropped connection, an error after the request left).
	Unknown
)

// Op kinds.
const (
	KindIncr     = "incr"      // counter increment over HTTP
	KindIncrWS   = "incr-ws"   // counter increment over a WebSocket connection
	KindCountGet = "count-get" // counter read
	KindPut      = "put"       // register write
	KindGet      = "get"       // register read
	KindSend     = "send"      // queue send waiting for completion
)

// Op is one recorded operation.
type Op struct {
	Worker  int
	Kind    string
	Actor   string // name/key as in the activation log
	Key     string // register key
	Arg     string // operation id (writes) or value put
	Call    int64  // ns since the run started
	Return  int64
	Outcome Outcome
	Int     int64  // counter result
	Str     string // register result
	Gen     uint64 // generation of the instance that answered
	Runner  string // runner of the instance that answered
	Err     string // {group}/{code} or a transport class
	Final   bool   // a verification read (after all faults, or after a restart)
	// Resent holds the error classes of earlier attempts of a write that
	// was resent because their outcome was unknown.
	Resent []string
}

// IsWrite reports whether the operation changes state.
func (o *Op) IsWrite() bool {
	return o.Kind == KindIncr || o.Kind == KindIncrWS || o.Kind == KindPut || o.Kind == KindSend
}

// History is the recorded operations of a run; safe for concurrent use.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []Op
}

func newHistory() *History { return &History{start: time.Now()} }

// now returns ns since the start (monotonic).
func (h *History) now() int64 { return int64(time.Since(h.start)) }

func (h *History) add(o Op) {
	h.mu.Lock()
	h.ops = append(h.ops, o)
	h.mu.Unlock()
}

// Ops returns a copy of the operations so far.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// definite lists the {group}/{code} answers that mean the request was not
// executed (refused before it reached the actor, or fenced).
var definite = map[string]bool{
	"actor/not_found": true, "actor/name_not_found": true, "actor/not_configured": true,
	"actor/action_not_found": true, "actor/starting": true, "actor/stopping": true,
	"actor/overloaded": true, "actor/stale_generation": true,
	"message/malformed": true, "message/incoming_too_long": true, "request/invalid": true,
	"auth/unauthorized": true, "guard/service_unavailable": true,
	"guard/actor_wake_retries_exceeded": true, "guard/actor_stopped_while_waiting": true,
}

// classify turns a client error into an outcome and a short class for the
// report. Everything not known to be refused is Unknown: over-approximating
// unknowns can hide a bug but never invents one.
func classify(err error) (Outcome, string) {
	// A call cut off with its WebSocket may have run, whatever close reason
	// the server gave (the reason is wrapped as an *ActorError): check first.
	switch {
	case errors.Is(err, client.ErrConnectionLost):
		return Unknown, "client/connection_lost"
	case errors.Is(err, client.ErrConnClosed):
		return Unknown, "client/conn_closed"
	case errors.Is(err, errNotCompleted):
		return Unknown, "queue/not_completed"
	}
	var ae *client.ActorError
	if errors.As(err, &ae) {
		code := ae.Group + "/" + ae.Code
		if definite[code] {
			return Failed, code
		}
		return Unknown, code
	}
	var ne net.Error
	switch {
	case isDialError(err):
		// Nothing was sent (the client retries only answers that say the
		// request was not processed, so earlier attempts did not run).
		return Failed, "net/dial"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return Unknown, "net/timeout"
	}
	return Unknown, "other/" + shortErr(err)
}

var (
	errNotCompleted = errors.New("queue message not completed in time")
)

// isDialError reports a failure to connect: no request left the client.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func shortErr(err error) string {
	s := fmt.Sprint(err)
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}
