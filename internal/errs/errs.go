// Package errs defines the public error of rivetkube: the
// {group, code, message, metadata} shape that reaches clients, and the
// constructors for every code the engine itself produces. Any error that is
// not an *Error is masked as actor/internal_error before it leaves the
// engine, so internal details never reach a client.
package errs

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an error a client may see.
type Error struct {
	Group    string
	Code     string
	Message  string
	Metadata []byte // canonical CBOR; nil when absent
	// Status is the HTTP status the gateway answers with.
	Status int
}

// Error implements error.
func (e *Error) Error() string { return e.Group + "/" + e.Code + ": " + e.Message }

// Is matches another *Error with the same group and code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Group == e.Group && t.Code == e.Code
}

// New returns an error with the given parts.
func New(status int, group, code, format string, args ...any) *Error {
	return &Error{Group: group, Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

// InternalMessage is the message of every masked error.
const InternalMessage = "An internal error occurred"

// From returns err as an *Error, masking anything else as internal_error.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal()
}

// Internal is actor/internal_error.
func Internal() *Error {
	return New(http.StatusInternalServerError, "actor", "internal_error", InternalMessage)
}

// NotFound is actor/not_found.
func NotFound() *Error {
	return New(http.StatusNotFound, "actor", "not_found", "The actor does not exist or was destroyed.")
}

// NotConfigured is actor/name_not_found: no actor of that name is
// registered. (RivetKit clients retry actor/not_configured, which would turn
// a typo into a long wait, so this uses a code they do not retry.)
func NotConfigured(name string) *Error {
	return New(http.StatusNotFound, "actor", "name_not_found", "No actor named %q is registered.", name)
}

// NotConfiguredYet is actor/not_configured: no runner has registered an
// actor of that name (yet). Clients retry it for a while, which is right in
// the distributed engine, where runners may still be starting.
func NotConfiguredYet(name string) *Error {
	return New(http.StatusServiceUnavailable, "actor", "not_configured", "No runner hosts actors named %q yet.", name)
}

// ActionNotFound is actor/action_not_found.
func ActionNotFound(name string) *Error {
	return New(http.StatusNotFound, "actor", "action_not_found", "Action `%s` was not found.", name)
}

// ActionTimedOut is actor/action_timed_out.
func ActionTimedOut() *Error {
	return New(http.StatusGatewayTimeout, "actor", "action_timed_out", "Action timed out.")
}

// Stopping is actor/stopping; clients retry it.
func Stopping() *Error {
	return New(http.StatusServiceUnavailable, "actor", "stopping", "Actor is stopping.")
}

// Starting is actor/starting; clients retry it.
func Starting() *Error {
	return New(http.StatusServiceUnavailable, "actor", "starting", "Actor is starting.")
}

// Overloaded is actor/overloaded.
func Overloaded(what string) *Error {
	return New(http.StatusServiceUnavailable, "actor", "overloaded", "Actor is overloaded: %s.", what)
}

// Destroyed is actor/destroyed_during_request... clients treat destroyed_* as retryable.
func Destroyed() *Error {
	return New(http.StatusGone, "actor", "destroyed_while_waiting_for_ready", "Actor was destroyed.")
}

// IncomingTooLong is message/incoming_too_long.
func IncomingTooLong(limit int64) *Error {
	return New(http.StatusRequestEntityTooLarge, "message", "incoming_too_long",
		"Incoming message too long. Limit is %d bytes.", limit)
}

// OutgoingTooLong is message/outgoing_too_long.
func OutgoingTooLong(limit int64) *Error {
	return New(http.StatusInternalServerError, "message", "outgoing_too_long",
		"Outgoing message too long. Limit is %d bytes.", limit)
}

// Malformed is message/malformed.
func Malformed(format string, args ...any) *Error {
	return New(http.StatusBadRequest, "message", "malformed", format, args...)
}

// InvalidRequest is request/invalid.
func InvalidRequest(format string, args ...any) *Error {
	return New(http.StatusBadRequest, "request", "invalid", format, args...)
}

// ActorExists is actor/duplicate_key.
func ActorExists() *Error {
	return New(http.StatusConflict, "actor", "duplicate_key", "An actor with this name and key already exists.")
}

// Unauthorized is auth/unauthorized.
func Unauthorized() *Error {
	return New(http.StatusUnauthorized, "auth", "unauthorized", "Missing or invalid token.")
}

// Unavailable is engine/unavailable: the store or runner cannot be reached.
func Unavailable(format string, args ...any) *Error {
	return New(http.StatusServiceUnavailable, "engine", "unavailable", format, args...)
}

// Stale is actor/stale_generation: a runner got a request for a placement
// that is no longer current. The gateway re-reads the placement and
// retries; clients never see it.
func Stale() *Error {
	return New(http.StatusServiceUnavailable, "actor", "stale_generation", "The actor moved; retry.")
}
