package protocol

// This file fixes the API of the wire-protocol package. Other packages
// (gateway, Go client, runtime) program against it.

import (
	"errors"
	"fmt"
)

// Encoding is a client encoding negotiated per request or connection.
type Encoding int

// The three encodings of client protocol v4.
const (
	EncodingBARE Encoding = iota // default of the official client
	EncodingJSON
	EncodingCBOR
)

// CurrentVersion is the client protocol version embedded in BARE payloads.
const CurrentVersion uint16 = 4

// ErrMalformed is wrapped by every decode error caused by bad input.
var ErrMalformed = errors.New("malformed message")

// ParseEncoding maps "bare", "json", "cbor" (and "" → bare) to an Encoding.
func ParseEncoding(s string) (Encoding, error) {
	switch s {
	case "", "bare":
		return EncodingBARE, nil
	case "json":
		return EncodingJSON, nil
	case "cbor":
		return EncodingCBOR, nil
	}
	return 0, fmt.Errorf("%w: unknown encoding %q", ErrMalformed, s)
}

// String returns "bare", "json" or "cbor".
func (e Encoding) String() string {
	switch e {
	case EncodingBARE:
		return "bare"
	case EncodingJSON:
		return "json"
	case EncodingCBOR:
		return "cbor"
	}
	return fmt.Sprintf("Encoding(%d)", int(e))
}

// ContentType returns application/json for JSON, application/octet-stream otherwise.
func (e Encoding) ContentType() string {
	if e == EncodingJSON {
		return "application/json"
	}
	return "application/octet-stream"
}

// Binary reports whether frames of this encoding are binary WebSocket messages.
func (e Encoding) Binary() bool { return e != EncodingJSON }

// Values.
//
// Inside the engine every user value (action args, outputs, event args,
// state, input, metadata, conn params, queue bodies) is "canonical CBOR":
// plain RFC 8949 CBOR where bytes are CBOR byte strings, big integers are
// CBOR integers/bignums, undefined is CBOR undefined, and no "$"-tagging is
// present. The codecs below convert between canonical CBOR and whatever the
// official client puts on the wire in each encoding (json-compat tagging
// such as ["$BigInt","1"], ["$Uint8Array","<b64>"], "$$" escapes).

// JSONToValue converts a JSON document in json-compat form into canonical CBOR.
func JSONToValue(doc []byte) ([]byte, error) { return jsonToValue(doc) }

// ValueToJSON converts canonical CBOR into a JSON document in json-compat form.
func ValueToJSON(v []byte) ([]byte, error) { return valueToJSON(v) }

// HTTPActionRequest is the body of POST .../action/{name}.
type HTTPActionRequest struct {
	Args []byte // canonical CBOR array
}

// HTTPActionResponse is the 200 body of an action.
type HTTPActionResponse struct {
	Output []byte // canonical CBOR
}

// HTTPQueueSendRequest is the body of POST .../queue/{name}.
type HTTPQueueSendRequest struct {
	Body    []byte  // canonical CBOR
	Name    *string // optional
	Wait    *bool   // optional
	Timeout *uint64 // optional, milliseconds
}

// HTTPQueueSendResponse is the 200 body of a queue send.
type HTTPQueueSendResponse struct {
	Status   string // "completed" or "timedOut"
	Response []byte // canonical CBOR; nil means absent
}

// ActorSpecifier identifies the actor an error came from.
type ActorSpecifier struct {
	ActorID    string  `cbor:"1,keyasint,omitempty"`
	Generation uint64  `cbor:"2,keyasint,omitempty"`
	Key        *string `cbor:"3,keyasint,omitempty"` // serialized key
}

// ErrorBody is the {group, code, message, metadata, actor} error shape.
type ErrorBody struct {
	Group    string
	Code     string
	Message  string
	Metadata []byte // canonical CBOR; nil means absent
	Actor    *ActorSpecifier
}

// Each Decode*/Encode* below handles all three encodings. Decoders return
// an error wrapping ErrMalformed on bad input and never panic. For BARE
// they require and write the u16-LE version prefix.

// DecodeHTTPActionRequest decodes the body of POST .../action/{name}.
func DecodeHTTPActionRequest(enc Encoding, body []byte) (HTTPActionRequest, error) {
	return decodeHTTPActionRequest(enc, body)
}

// EncodeHTTPActionRequest encodes the body of POST .../action/{name}.
func EncodeHTTPActionRequest(enc Encoding, m HTTPActionRequest) ([]byte, error) {
	return encodeHTTPActionRequest(enc, m)
}

// DecodeHTTPActionResponse decodes the 200 body of an action.
func DecodeHTTPActionResponse(enc Encoding, body []byte) (HTTPActionResponse, error) {
	return decodeHTTPActionResponse(enc, body)
}

// EncodeHTTPActionResponse encodes the 200 body of an action.
func EncodeHTTPActionResponse(enc Encoding, m HTTPActionResponse) ([]byte, error) {
	return encodeHTTPActionResponse(enc, m)
}

// DecodeHTTPQueueSendRequest decodes the body of POST .../queue/{name}.
func DecodeHTTPQueueSendRequest(enc Encoding, body []byte) (HTTPQueueSendRequest, error) {
	return decodeHTTPQueueSendRequest(enc, body)
}

// EncodeHTTPQueueSendRequest encodes the body of POST .../queue/{name}.
func EncodeHTTPQueueSendRequest(enc Encoding, m HTTPQueueSendRequest) ([]byte, error) {
	return encodeHTTPQueueSendRequest(enc, m)
}

// DecodeHTTPQueueSendResponse decodes the 200 body of a queue send.
func DecodeHTTPQueueSendResponse(enc Encoding, body []byte) (HTTPQueueSendResponse, error) {
	return decodeHTTPQueueSendResponse(enc, body)
}

// EncodeHTTPQueueSendResponse encodes the 200 body of a queue send.
func EncodeHTTPQueueSendResponse(enc Encoding, m HTTPQueueSendResponse) ([]byte, error) {
	return encodeHTTPQueueSendResponse(enc, m)
}

// DecodeErrorBody decodes the HTTP error body. EncodeErrorBody encodes it.
// JSON is used when enc is EncodingJSON (and is what the REST /actors API
// always uses).
func DecodeErrorBody(enc Encoding, body []byte) (ErrorBody, error) {
	return decodeErrorBody(enc, body)
}

// EncodeErrorBody encodes an HTTP error body; see DecodeErrorBody.
func EncodeErrorBody(enc Encoding, m ErrorBody) ([]byte, error) { return encodeErrorBody(enc, m) }

// WebSocket messages.

// ActionRequest is ToServer tag 0.
type ActionRequest struct {
	ID   uint64 `cbor:"1,keyasint,omitempty"`
	Name string `cbor:"2,keyasint,omitempty"`
	Args []byte `cbor:"3,keyasint,omitempty"` // canonical CBOR array
}

// SubscriptionRequest is ToServer tag 1.
type SubscriptionRequest struct {
	EventName string `cbor:"1,keyasint,omitempty"`
	Subscribe bool   `cbor:"2,keyasint,omitempty"`
}

// ToServer is a client→server frame; exactly one field is set.
//
// The cbor tags are the form of these messages on the gateway↔runner link
// (internal/link), which carries them as they are; the client encodings
// (BARE, JSON, CBOR of protocol v4) are written by hand in this package and
// do not use the tags.
type ToServer struct {
	Action       *ActionRequest       `cbor:"0,keyasint,omitempty"`
	Subscription *SubscriptionRequest `cbor:"1,keyasint,omitempty"`
}

// Init is ToClient tag 0.
type Init struct {
	ActorID      string `cbor:"1,keyasint,omitempty"`
	ConnectionID string `cbor:"2,keyasint,omitempty"`
}

// ErrorMessage is ToClient tag 1.
type ErrorMessage struct {
	Group    string          `cbor:"1,keyasint,omitempty"`
	Code     string          `cbor:"2,keyasint,omitempty"`
	Message  string          `cbor:"3,keyasint,omitempty"`
	Metadata []byte          `cbor:"4,keyasint,omitempty"` // canonical CBOR; nil means absent
	ActionID *uint64         `cbor:"5,keyasint,omitempty"` // nil: connection-level error
	Actor    *ActorSpecifier `cbor:"6,keyasint,omitempty"`
}

// ActionResponse is ToClient tag 2.
type ActionResponse struct {
	ID     uint64 `cbor:"1,keyasint,omitempty"`
	Output []byte `cbor:"2,keyasint,omitempty"` // canonical CBOR
}

// Event is ToClient tag 3.
type Event struct {
	Name string `cbor:"1,keyasint,omitempty"`
	Args []byte `cbor:"2,keyasint,omitempty"` // canonical CBOR array
}

// ToClient is a server→client frame; exactly one field is set.
type ToClient struct {
	Init           *Init           `cbor:"0,keyasint,omitempty"`
	Error          *ErrorMessage   `cbor:"1,keyasint,omitempty"`
	ActionResponse *ActionResponse `cbor:"2,keyasint,omitempty"`
	Event          *Event          `cbor:"3,keyasint,omitempty"`
}

// DecodeToServer decodes a client→server WebSocket frame.
func DecodeToServer(enc Encoding, frame []byte) (ToServer, error) { return decodeToServer(enc, frame) }

// EncodeToServer encodes a client→server WebSocket frame.
func EncodeToServer(enc Encoding, m ToServer) ([]byte, error) { return encodeToServer(enc, m) }

// DecodeToClient decodes a server→client WebSocket frame.
func DecodeToClient(enc Encoding, frame []byte) (ToClient, error) { return decodeToClient(enc, frame) }

// EncodeToClient encodes a server→client WebSocket frame.
func EncodeToClient(enc Encoding, m ToClient) ([]byte, error) { return encodeToClient(enc, m) }

// Keys.

// SerializeKey is rivetkit's serializeActorKey ("/" for an empty key,
// "\0" for an empty part, "\\" and "\/" escapes, parts joined by "/").
func SerializeKey(key []string) string { return serializeKey(key) }

// DeserializeKey is the inverse of SerializeKey.
func DeserializeKey(s string) ([]string, error) { return deserializeKey(s) }

// ParseQueryKey parses the rvt-key query parameter (key.join(",")); "" is the empty key.
func ParseQueryKey(s string) []string { return parseQueryKey(s) }

// CompatCBORToValue converts CBOR as the JS client writes it (json-compat
// tagging inside, e.g. create input and rvt-input) into canonical CBOR.
func CompatCBORToValue(b []byte) ([]byte, error) { return compatCBORToValue(b) }

// ValueToCompatCBOR converts canonical CBOR into the client's tagged CBOR form.
func ValueToCompatCBOR(v []byte) ([]byte, error) { return valueToCompatCBOR(v) }
