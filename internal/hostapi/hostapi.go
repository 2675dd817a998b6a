// Package hostapi is the boundary between the gateway and the place actors
// run. In the local engine the runtime of the same process implements Host;
// in the distributed engine a router implements it by forwarding over the
// persistent link to a runner. Every payload is canonical CBOR (see
// internal/protocol), so the boundary does not depend on client encodings.
//
// Errors returned across the boundary are *errs.Error or are masked as
// internal errors by the gateway.
package hostapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/protocol"
)

// Target names one activation of an actor. Generation is the placement
// generation the gateway routed by (the runner refuses a request whose
// generation is not the actor's current one); 0 means "activate it
// yourself", which only the local engine uses.
type Target struct {
	ActorID    string
	Generation uint64
}

// ActionRequest asks an actor to run one action.
type ActionRequest struct {
	ActorID    string
	Generation uint64
	Name       string
	Args       []byte       // canonical CBOR array
	ConnParams []byte       // canonical CBOR; nil when the client sent none
	Request    *RequestInfo // the client's request; nil when unknown
}

// ConnectRequest opens a client connection to an actor.
type ConnectRequest struct {
	ActorID    string
	Generation uint64
	Params     []byte       // canonical CBOR; nil when the client sent none
	Request    *RequestInfo // the client's request; nil when unknown
}

// QueueSendRequest puts a message on one of the actor's durable queues.
type QueueSendRequest struct {
	ActorID    string
	Generation uint64
	Queue      string
	Body       []byte // canonical CBOR
	// Wait asks to wait until the actor completes the message (bounded by
	// Timeout, or the request's context when zero).
	Wait    bool
	Timeout time.Duration
}

// QueueSendResponse is the outcome of a send. Completed is false when the
// sender waited and the actor did not complete the message in time.
type QueueSendResponse struct {
	Completed bool
	Response  []byte // canonical CBOR; nil when none
}

// Sink receives what an actor sends to one client connection, in order.
// Send must not block for long; it returns false when the connection is
// gone, after which no more frames are offered.
type Sink interface {
	Send(msg protocol.ToClient) bool
	// Close ends the connection from the actor side. err is nil for a normal
	// close, or the reason (an *errs.Error) the client should see.
	Close(err error)
}

// Conn is an open client connection on the actor side.
type Conn interface {
	// ID is the connection id sent to the client in Init.
	ID() string
	// Receive hands one client frame to the actor. Responses come back
	// through the Sink.
	Receive(msg protocol.ToServer)
	// Close is called by the gateway when the client went away.
	Close()
}

// MessageConn is a raw WebSocket as seen by an actor's onWebSocket.
type MessageConn interface {
	// Read blocks for the next message; binary reports its type.
	Read(ctx context.Context) (binary bool, data []byte, err error)
	Write(ctx context.Context, binary bool, data []byte) error
	Close(code int, reason string) error
}

// Host runs actors. Every method activates the actor when it is asleep.
type Host interface {
	Action(ctx context.Context, req ActionRequest) (output []byte, err error)
	Connect(ctx context.Context, req ConnectRequest, sink Sink) (Conn, error)
	// Request serves a raw HTTP request through the actor's onRequest.
	// r.URL.Path is already the actor-relative path (the part after /request).
	Request(ctx context.Context, t Target, w http.ResponseWriter, r *http.Request) error
	// WebSocket runs an accepted raw WebSocket through onWebSocket until it
	// closes. r carries the path (after /websocket), query and headers.
	WebSocket(ctx context.Context, t Target, r *http.Request, ws MessageConn) error
	// Destroy destroys the actor, running its onDestroy hook.
	Destroy(ctx context.Context, t Target) error
	// Stop puts the actor to sleep now (drain): connections are told it is
	// going away, onSleep runs, its state is committed and its placement
	// cleared. It returns once the actor has stopped (or was not running).
	Stop(ctx context.Context, t Target) error
	// QueueSend durably enqueues a message (the actor wakes to handle it).
	QueueSend(ctx context.Context, req QueueSendRequest) (QueueSendResponse, error)
	// Wake activates the actor if it is asleep (due schedules, queued work,
	// drain re-activation) and returns once it runs.
	Wake(ctx context.Context, t Target) error
	// Inspect serves the inspector HTTP API of the actor; r.URL.Path is the
	// path after /inspector (e.g. "/summary").
	Inspect(ctx context.Context, t Target, w http.ResponseWriter, r *http.Request) error
	// HasActor reports whether an actor of this name is registered.
	HasActor(name string) bool
}

// ErrGone marks an actor/not_found that means "the actor named by ID is
// destroyed (or unknown) and the request did not run": the host refused it
// before any actor code saw it. A gateway that reached the ID through a
// cached key binding may resolve the key again and retry; an actor's own
// error never carries it. Test with errors.Is; the error still reads as
// actor/not_found with errors.As (*errs.Error).
var ErrGone = errors.New("actor gone: request not run")

// Gone returns actor/not_found marked with ErrGone.
func Gone() error { return fmt.Errorf("%w: %w", ErrGone, errs.NotFound()) }
