package errs

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/rivetkube/rivetkube/internal/store"
)

// The catalog: every public {group, code} the engine produces is made by a
// constructor in this package (errs.go and below), matched with errors.Is
// against the prototypes here, and classified for retries by RetryClass.
// No other package spells a group or a code.

// Prototypes to match with errors.Is (an *Error matches another with the
// same group and code, whatever its message).
var (
	ErrInternal       = &Error{Group: "actor", Code: "internal_error"}
	ErrNotFound       = &Error{Group: "actor", Code: "not_found"}
	ErrStopping       = &Error{Group: "actor", Code: "stopping"}
	ErrStarting       = &Error{Group: "actor", Code: "starting"}
	ErrStale          = &Error{Group: "actor", Code: "stale_generation"}
	ErrDroppedReply   = &Error{Group: "actor", Code: "dropped_reply"}
	ErrOverloaded     = &Error{Group: "actor", Code: "overloaded"}
	ErrNotConfigured  = &Error{Group: "actor", Code: "not_configured"}
	ErrKeyReservedDC  = &Error{Group: "actor", Code: "key_reserved_in_different_datacenter"}
	ErrUnauthorized   = &Error{Group: "auth", Code: "unauthorized"}
	ErrActorExists    = &Error{Group: "actor", Code: "duplicate_key"}
	ErrActionNotFound = &Error{Group: "actor", Code: "action_not_found"}
	ErrNotReady       = &Error{Group: "actor", Code: "not_ready"}
)

// NotReady is actor/not_ready: the actor's pool had no live runner and
// none joined while the gateway held the request (a pool scaled to zero
// that did not come back in time, or too many requests already held). The
// request did not run. It is not retried automatically: the gateway's
// hold was the retry, and the client decides whether to wait longer.
func NotReady(format string, args ...any) *Error {
	return New(http.StatusServiceUnavailable, "actor", "not_ready", format, args...)
}

// AdminDisabled is auth/admin_disabled.
func AdminDisabled() *Error {
	return New(http.StatusForbidden, "auth", "admin_disabled", "The admin API is disabled: no admin token is configured.")
}

// InspectorDisabled is auth/inspector_disabled.
func InspectorDisabled() *Error {
	return New(http.StatusForbidden, "auth", "inspector_disabled", "The inspector is disabled: no inspector token is configured.")
}

// RouteNotFound is request/route_not_found.
func RouteNotFound(format string, args ...any) *Error {
	return New(http.StatusNotFound, "request", "route_not_found", format, args...)
}

// MethodNotAllowed is request/method_not_allowed.
func MethodNotAllowed(format string, args ...any) *Error {
	return New(http.StatusMethodNotAllowed, "request", "method_not_allowed", format, args...)
}

// DroppedReply is actor/dropped_reply: the request may or may not have
// run, and its reply is lost. why says where it was lost.
func DroppedReply(why string) *Error {
	return New(http.StatusServiceUnavailable, "actor", "dropped_reply", "%s", why)
}

// Disconnected is actor/disconnected: the actor closed the connection with
// reason.
func Disconnected(reason string) *Error {
	return New(http.StatusOK, "actor", "disconnected", "%s", reason)
}

// InspectorNotFound is inspector/not_found.
func InspectorNotFound(method, path string) *Error {
	return New(http.StatusNotFound, "inspector", "not_found", "No inspector endpoint %s /%s.", method, path)
}

// StateTooLarge is actor/state_too_large.
func StateTooLarge(size, limit int) *Error {
	return New(http.StatusRequestEntityTooLarge, "actor", "state_too_large", "State is %d bytes, limit is %d.", size, limit)
}

// DestroyedClose is actor/destroyed, the close reason of connections of a
// destroyed actor.
func DestroyedClose() *Error {
	return New(http.StatusGone, "actor", "destroyed", "Actor was destroyed.")
}

// GoingAway is actor/stopping as the close reason of connections of an
// actor that sleeps or moves; clients reconnect.
func GoingAway() *Error {
	return New(http.StatusServiceUnavailable, "actor", "stopping", "Actor is going away.")
}

// RequestHandlerNotFound is actor/request_handler_not_found.
func RequestHandlerNotFound() *Error {
	return New(http.StatusNotFound, "actor", "request_handler_not_found", "This actor has no onRequest handler.")
}

// WebSocketHandlerNotFound is actor/websocket_handler_not_found.
func WebSocketHandlerNotFound() *Error {
	return New(http.StatusNotFound, "actor", "websocket_handler_not_found", "This actor has no onWebSocket handler.")
}

// QueueNotFound is actor/queue_not_found.
func QueueNotFound(name string) *Error {
	return New(http.StatusNotFound, "actor", "queue_not_found", "Queue `%s` was not found.", name)
}

// InvalidArgument is actor/invalid_argument: an action argument does not
// decode into its declared type.
func InvalidArgument(message string) *Error {
	return New(http.StatusBadRequest, "actor", "invalid_argument", "%s", message)
}

// FromStore maps an error of the store (internal/store) to the public
// error a client sees; it is the one such mapping. A nil error stays nil;
// an *Error passes through.
func FromStore(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrDestroyed):
		return NotFound()
	case errors.Is(err, store.ErrExists):
		return ActorExists()
	case errors.Is(err, store.ErrFenced), errors.Is(err, store.ErrClosed):
		// The instance lost its placement or the process is shutting
		// down: the client retries and lands on the live instance.
		return Stopping()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return Unavailable("store did not answer in time")
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return Unavailable("store error")
}

// Retry says when a request that failed with a public error may be sent
// again.
type Retry int

const (
	// NoRetry: retrying cannot help (or would repeat an effect).
	NoRetry Retry = iota
	// RetryAlways: the request did not run (the actor is starting,
	// stopping, moved, or its host is not there yet); send it again.
	RetryAlways
	// RetryIfIdempotent: the reply was lost and the request may have run;
	// only an operation without effect on repeat may be sent again.
	RetryIfIdempotent
	// RetryByKey: the actor is gone; a request that names the actor by key
	// resolves to a new actor and may be sent again, one by id may not.
	RetryByKey
	// RetryIfGetOrCreate: the actor does not exist; only a getOrCreate
	// brings it back.
	RetryIfGetOrCreate
)

// RetryClass classifies a public error by its group and code. It is the
// one retry policy of the engine: the router, the WebSocket edge and the
// Go client all decide with it.
func RetryClass(group, code string) Retry {
	switch group {
	case "actor":
		switch {
		case code == "starting", code == "stopping", code == "not_configured", code == "restarting",
			code == "stale_generation":
			return RetryAlways
		case code == "dropped_reply":
			return RetryIfIdempotent
		case code == "not_found":
			return RetryIfGetOrCreate
		case code == "destroying", strings.HasPrefix(code, "destroyed_"):
			return RetryByKey
		}
	case "guard":
		switch code {
		case "service_unavailable", "actor_wake_retries_exceeded", "actor_stopped_while_waiting":
			return RetryAlways
		}
	}
	return NoRetry
}

// Retryable reports whether err is an *Error whose request did not run and
// may be sent again as it is (RetryAlways).
func Retryable(err error) bool {
	var pe *Error
	return errors.As(err, &pe) && RetryClass(pe.Group, pe.Code) == RetryAlways
}
