package client

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/rivetkube/rivetkube/internal/protocol"

	"github.com/rivetkube/rivetkube/internal/errs"
)

// ErrConnClosed is returned by Conn methods after the connection was closed,
// either by Close or because reconnecting failed for good. In the latter
// case the error also wraps the cause.
var ErrConnClosed = errors.New("connection closed")

// ErrConnectionLost is the error of a Conn action whose request had been sent
// when the WebSocket closed unexpectedly. It wraps the cause, which is an
// *ActorError when the server gave a structured close reason. Whether the
// actor ran the action is unknown; the call is not retried.
var ErrConnectionLost = errors.New("connection lost")

// ErrEventsDropped is reported to the Conn's error callback when events were
// discarded because the event queue was full (see WithEventQueueSize).
var ErrEventsDropped = errors.New("event queue full, events dropped")

// ActorError is a structured error reported by the gateway or an actor: the
// {group, code, message, metadata} error of the client protocol. A user
// error thrown by an actor has Group "user".
//
// Errors returned by this package wrap an *ActorError when one was received,
// so use errors.As to get it.
type ActorError struct {
	Group   string // e.g. "actor", "user", "guard"
	Code    string // e.g. "not_found", or the code of a user error
	Message string // human-readable description
	// Metadata is canonical CBOR, or nil when the error has none. Use
	// DecodeMetadata to read it.
	Metadata []byte
	// ActorID and Generation identify the actor that reported the error,
	// when known.
	ActorID    string
	Generation uint64 // the actor generation reported by the engine
	// RayID is the gateway's request trace id (x-rivet-ray-id header or the
	// suffix of a WebSocket close reason), when known.
	RayID string
	// StatusCode is the HTTP status of the response that carried the error,
	// or 0 when the error arrived over a WebSocket.
	StatusCode int
}

// Error implements error.
// Is matches the engine's error prototypes (internal/errs) by group and
// code, so errors.Is(err, errs.ErrStopping) works on a client error.
func (e *ActorError) Is(target error) bool {
	t, ok := target.(*errs.Error)
	return ok && t.Group == e.Group && t.Code == e.Code
}

func (e *ActorError) Error() string {
	return fmt.Sprintf("%s/%s: %s", e.Group, e.Code, e.Message)
}

// DecodeMetadata decodes the error metadata into v, a non-nil pointer. It
// leaves v untouched when the error has no metadata.
func (e *ActorError) DecodeMetadata(v any) error {
	if err := decodeValue(e.Metadata, v); err != nil {
		return fmt.Errorf("client: decode metadata: %w", err)
	}
	return nil
}

// HTTPError is returned for a non-2xx response whose body is not a protocol
// error body, for example from a proxy in front of the engine.
type HTTPError struct {
	StatusCode int    // e.g. 502
	Status     string // e.g. "502 Bad Gateway"
	Body       string // the response body, truncated to 1 KiB
	RayID      string // the x-rivet-ray-id response header, if any
}

// Error implements error.
func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("unexpected http status %s", e.Status)
	if e.RayID != "" {
		msg += " (ray id " + e.RayID + ")"
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

const maxErrorText = 1024

func truncateText(b []byte) string {
	if len(b) > maxErrorText {
		b = b[:maxErrorText]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
	}
	return strings.TrimSpace(string(b))
}

// responseError turns a non-2xx response into an *ActorError, or an
// *HTTPError when the body is not a protocol error body. The body is decoded
// as JSON when the content type says so, else with enc.
func responseError(resp *http.Response, body []byte, enc protocol.Encoding) error {
	rayID := resp.Header.Get("x-rivet-ray-id")
	if strings.Contains(resp.Header.Get("Content-Type"), "application/json") {
		enc = protocol.EncodingJSON
	}
	eb, err := protocol.DecodeErrorBody(enc, body)
	if err != nil || (eb.Group == "" && eb.Code == "") {
		return &HTTPError{
			StatusCode: resp.StatusCode,
			Status:     resp.Status,
			Body:       truncateText(body),
			RayID:      rayID,
		}
	}
	ae := &ActorError{
		Group:      eb.Group,
		Code:       eb.Code,
		Message:    eb.Message,
		Metadata:   eb.Metadata,
		RayID:      rayID,
		StatusCode: resp.StatusCode,
	}
	if eb.Actor != nil {
		ae.ActorID = eb.Actor.ActorID
		ae.Generation = eb.Actor.Generation
	}
	return ae
}

// messageError converts a WebSocket Error frame.
func messageError(m *protocol.ErrorMessage) *ActorError {
	ae := &ActorError{
		Group:    m.Group,
		Code:     m.Code,
		Message:  m.Message,
		Metadata: m.Metadata,
	}
	if m.Actor != nil {
		ae.ActorID = m.Actor.ActorID
		ae.Generation = m.Actor.Generation
	}
	return ae
}

// parseCloseReason parses a WebSocket close reason of the form
// "group.code#rayId" ("#rayId" optional) into an *ActorError.
func parseCloseReason(reason string) (*ActorError, bool) {
	main, rayID, _ := strings.Cut(reason, "#")
	group, code, ok := strings.Cut(main, ".")
	if !ok || group == "" || code == "" || strings.ContainsAny(group, " \t") {
		return nil, false
	}
	return &ActorError{
		Group:   group,
		Code:    code,
		Message: "connection closed: " + reason,
		RayID:   rayID,
	}, true
}

// closeCause describes why a WebSocket read failed: an *ActorError for a
// structured close reason, else the error itself.
func closeCause(err error) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		if ae, ok := parseCloseReason(ce.Reason); ok {
			return ae
		}
		return fmt.Errorf("websocket closed (status %d, reason %q): %w", int(ce.Code), ce.Reason, err)
	}
	return err
}

// handshakeError turns a failed WebSocket dial into an error, decoding the
// handshake response body (JSON, else enc) when there is one.
func handshakeError(resp *http.Response, err error, enc protocol.Encoding) error {
	if resp == nil || resp.StatusCode == http.StatusSwitchingProtocols || resp.StatusCode == 0 {
		return fmt.Errorf("websocket dial: %w", err)
	}
	var body []byte
	if resp.Body != nil {
		// The websocket library keeps at most the first 1 KiB of the body.
		body, _ = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	}
	return responseError(resp, body, enc)
}

// retryableError reports whether err may be retried for the handle kind k,
// by the engine's one retry policy (errs.RetryClass). idempotent is true
// for operations that have no effect on the actor when repeated
// (resolving, opening a connection).
func retryableError(k targetKind, err error, idempotent bool) bool {
	if isDialError(err) {
		return true
	}
	var ae *ActorError
	if !errors.As(err, &ae) {
		return false
	}
	switch errs.RetryClass(ae.Group, ae.Code) {
	case errs.RetryAlways:
		return true
	case errs.RetryIfIdempotent:
		// The reply was lost, the request may have been processed.
		return idempotent
	case errs.RetryIfGetOrCreate:
		// Only a getOrCreate target brings the actor back.
		return k == targetGetOrCreate
	case errs.RetryByKey:
		// A key query resolves to a new actor; an id never comes back.
		return k != targetID
	}
	return false
}

// isDialError reports whether err is a failure to establish a network
// connection, so that no request was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
