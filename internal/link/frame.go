package link

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/fxamacker/cbor/v2"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/protocol"
)

// Subprotocol is the WebSocket subprotocol of version 1 of the link. A
// later, incompatible frame layout gets a new subprotocol; the runner
// refuses a link that does not offer one it speaks.
const Subprotocol = "rivetkube.link.v1"

// headerMaxFrame carries each side's MaxFrameSize in the handshake, so a
// sender never produces a frame its peer would refuse.
const headerMaxFrame = "Rivetkube-Link-Max-Frame"

// kind says what a frame is. Values are part of the wire format.
type kind uint8

const (
	// Calls: gateway → runner, each opening a stream.
	kAction    kind = 1
	kConnect   kind = 2
	kRequest   kind = 3
	kWebSocket kind = 4
	kDestroy   kind = 5
	kStop      kind = 6

	// kCancel (gateway → runner): the caller gave up; cancel the host ctx.
	kCancel kind = 7
	// kResult (runner → gateway): the call's outcome. For Connect it carries
	// the connection id (Name) and the stream stays open; for WebSocket it
	// ends the stream.
	kResult kind = 8

	// Connect streams.
	kConnRecv  kind = 9  // gateway → runner: Conn.Receive(ToS)
	kConnClose kind = 10 // gateway → runner: Conn.Close()
	kSinkSend  kind = 11 // runner → gateway: Sink.Send(ToC)
	kSinkClose kind = 12 // runner → gateway: Sink.Close(Err)

	// Raw WebSocket streams (both directions except credit).
	kWSMsg    kind = 13
	kWSClose  kind = 14
	kWSCredit kind = 15 // runner → gateway: N more messages may be sent

	// More calls (gateway → runner).
	kQueueSend kind = 16 // Name: queue, Data: body, Binary: wait, Timeout: wait bound
	kWake      kind = 17
	kInspect   kind = 18 // like kRequest, served by the host's inspector

	// Streamed raw responses: the host flushed (http.Flusher) part of a
	// kRequest's response. The first chunk carries Status and Header;
	// every chunk is acknowledged before the runner sends the next (one
	// chunk in flight per stream: back-pressure from the client).
	kRespChunk kind = 19 // runner → gateway: Status, Header (first), Data
	kRespAck   kind = 20 // gateway → runner: the chunk reached the client

	// kEnded (runner → gateway, on no stream): the actor's instance of
	// generation Gen ended on this runner for good: it slept, its
	// placement cleared (Binary false), or it was destroyed (Binary true).
	// A hint for the gateway's placement cache; a gateway that predates
	// it ignores it (a frame of no open stream).
	kEnded kind = 21
)

func (k kind) String() string {
	names := [...]string{"?", "action", "connect", "request", "websocket", "destroy", "stop", "cancel",
		"result", "conn_recv", "conn_close", "sink_send", "sink_close", "ws_msg", "ws_close", "ws_credit",
		"queue_send", "wake", "inspect", "resp_chunk", "resp_ack", "ended"}
	if int(k) < len(names) {
		return names[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// frame is one link frame. A WebSocket message carries one or more frames
// back to back (a CBOR sequence, RFC 8742). Only the fields a kind needs
// are set; integer keys and omitempty keep frames small.
type frame struct {
	S       uint64              `cbor:"1,keyasint,omitempty"` // stream id, chosen by the gateway
	K       kind                `cbor:"2,keyasint"`
	Actor   string              `cbor:"3,keyasint,omitempty"`
	Gen     uint64              `cbor:"4,keyasint,omitempty"`
	Name    string              `cbor:"5,keyasint,omitempty"` // action name, HTTP method, connection id
	Data    []byte              `cbor:"6,keyasint,omitempty"` // args, output, body, message
	Params  []byte              `cbor:"7,keyasint,omitempty"` // connection params
	Err     *wireError          `cbor:"8,keyasint,omitempty"`
	Path    string              `cbor:"9,keyasint,omitempty"`
	Query   string              `cbor:"10,keyasint,omitempty"`
	Header  map[string][]string `cbor:"11,keyasint,omitempty"`
	Host    string              `cbor:"12,keyasint,omitempty"`
	Status  int                 `cbor:"13,keyasint,omitempty"` // HTTP status or WebSocket close code
	Binary  bool                `cbor:"14,keyasint,omitempty"`
	Reason  string              `cbor:"15,keyasint,omitempty"` // WebSocket close reason
	N       uint64              `cbor:"16,keyasint,omitempty"` // credits
	ToC     *protocol.ToClient  `cbor:"17,keyasint,omitempty"`
	ToS     *protocol.ToServer  `cbor:"18,keyasint,omitempty"`
	Timeout int64               `cbor:"19,keyasint,omitempty"` // ns left of the caller's deadline; 0: none
	Remote  string              `cbor:"20,keyasint,omitempty"` // the client's address (hostapi.RequestInfo)
	// Trace is the caller's W3C trace context (traceparent, tracestate) on
	// call frames; older peers ignore it.
	Trace map[string]string `cbor:"21,keyasint,omitempty"`
	// Place on a call frame asks the runner to place the actor on itself
	// at Gen with a compare-and-set on Gen-1 (hostapi.WithSelfPlace). An
	// older runner ignores it, finds the row at Gen-1 and refuses the call
	// as stale, which the gateway answers by placing the actor itself.
	Place bool `cbor:"22,keyasint,omitempty"`
}

// wireError is an *errs.Error on the link.
type wireError struct {
	Group    string `cbor:"1,keyasint,omitempty"`
	Code     string `cbor:"2,keyasint,omitempty"`
	Message  string `cbor:"3,keyasint,omitempty"`
	Metadata []byte `cbor:"4,keyasint,omitempty"`
	Status   int    `cbor:"5,keyasint,omitempty"`
	// Gone carries hostapi.ErrGone (the request did not run).
	Gone bool `cbor:"6,keyasint,omitempty"`
}

// toWireError converts err for the link; anything that is not an
// *errs.Error is masked as errs.Internal(). nil stays nil.
func toWireError(err error) *wireError {
	if err == nil {
		return nil
	}
	e := errs.From(err)
	return &wireError{Group: e.Group, Code: e.Code, Message: e.Message, Metadata: e.Metadata, Status: e.Status,
		Gone: errors.Is(err, hostapi.ErrGone)}
}

func (w *wireError) err() error {
	if w == nil {
		return nil
	}
	st := w.Status
	if st == 0 {
		st = http.StatusInternalServerError
	}
	e := &errs.Error{Group: w.Group, Code: w.Code, Message: w.Message, Metadata: w.Metadata, Status: st}
	if w.Gone {
		return fmt.Errorf("%w: %w", hostapi.ErrGone, e)
	}
	return e
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.EncOptions{}.EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		// Header values and close reasons are Go strings; do not let a
		// stray byte kill the link.
		UTF8:             cbor.UTF8DecodeInvalid,
		MaxNestedLevels:  16,
		MaxArrayElements: 1 << 16,
		MaxMapPairs:      1 << 16,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// errMalformedFrame wraps every decode error.
var errMalformedFrame = errors.New("link: malformed frame")

func encodeFrame(f *frame) ([]byte, error) { return encMode.Marshal(f) }

// decodeFrames decodes a WebSocket message: one or more frames. fn is
// called for each frame in order. It never panics on bad input.
func decodeFrames(msg []byte, fn func(*frame)) error {
	if len(msg) == 0 {
		return fmt.Errorf("%w: empty message", errMalformedFrame)
	}
	for len(msg) > 0 {
		f := new(frame)
		rest, err := decMode.UnmarshalFirst(msg, f)
		if err != nil {
			return fmt.Errorf("%w: %v", errMalformedFrame, err)
		}
		if f.K == 0 {
			return fmt.Errorf("%w: missing kind", errMalformedFrame)
		}
		msg = rest
		fn(f)
	}
	return nil
}
