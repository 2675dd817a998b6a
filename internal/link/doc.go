// Package link carries hostapi.Host between a gateway and a runner in the
// distributed engine, over one persistent, multiplexed WebSocket per
// (gateway, runner) pair.
//
// The runner serves links with NewServer (an http.Handler mounted at
// /link); a gateway opens one with Dial and uses the returned *Client as
// the runner's hostapi.Host (every method but HasActor: see Caller).
//
// # Wire format
//
// The WebSocket subprotocol names the version ("rivetkube.link.v1"); a
// runner refuses a gateway that does not offer it. Each binary message
// holds one or more CBOR frames back to back (an RFC 8742 CBOR sequence),
// so the writer can put many small frames in one write. A frame carries a
// stream id chosen by the gateway, a kind, and the fields that kind needs,
// with integer keys. Every call is a stream: Action, Destroy and Stop are
// one request and one result; Connect is a request, a result carrying the
// connection id, then Receive/Close frames one way and Sink Send/Close
// frames the other; a raw Request carries method, path, raw query,
// headers and body and gets status, headers and body back; a raw
// WebSocket opens with path, query and headers, then carries messages and
// closes both ways, and ends with the result of the runner's call.
// protocol.ToClient/ToServer and *errs.Error have link-level CBOR forms;
// the client encodings are not used. A call frame may carry the caller's
// W3C trace context (traceparent, tracestate: key 20), which the runner
// continues in the ctx it gives the host; peers that predate it ignore it.
// Outside any stream the runner may send an ended notice (Server.Ended:
// an actor's instance of a generation ended there for good), which the
// gateway hands to DialOptions.OnEnded; a gateway that predates it drops
// it as a frame of no open stream.
//
// # Invariants
//
//   - Order: frames of one stream are delivered in the order they were
//     sent, both ways (one queue, one writer, one reader per link; on the
//     runner, Receive and Close of a connection run in order on a
//     per-stream executor). There is no order between streams.
//   - At most once: the link never resends a call. When the link dies with
//     a call in flight, the gateway's call fails with an error matching
//     ErrLinkLost, and the call may or may not have run on the runner; the
//     caller (the router) decides whether to retry. Calls made after the
//     loss fail at once with ErrLinkLost. Connections open on a lost link
//     are closed: the gateway-side Sink is closed with an error that is
//     actor/stopping (clients reconnect) and matches ErrLinkLost; the
//     runner-side host Conn is closed as if the client went away, and the
//     ctx of every running call is cancelled.
//   - Errors: an *errs.Error crosses the link with group, code, message,
//     metadata and status intact (errors.As works on the gateway); any
//     other error from the host becomes errs.Internal().
//   - Cancellation: when the gateway's ctx ends before the result, a cancel
//     frame makes the runner cancel the ctx it gave the host, and the call
//     returns ctx.Err(). The caller's deadline also travels with the call,
//     so the host's ctx has the same deadline.
//   - Bounded: at most ServerOptions.MaxConcurrent streams per link (more
//     fail fast with actor/overloaded; open connections and raw sockets
//     count as streams for as long as they are open); frames of at most MaxFrameSize (the
//     smaller of both ends', exchanged in the handshake); raw bodies of at
//     most MaxBodySize; one outbound queue per link bounded in bytes and
//     drained by one writer goroutine; per stream at most StreamQueue
//     frames queued.
//   - Never blocking the host: Sink.Send and the runner-side
//     MessageConn.Write, like the gateway-side Conn.Receive, never wait
//     for the link; when their stream's queue (or the link's) is full the
//     stream is closed with actor/overloaded and other streams go on.
//     Results wait for room in the queue only as long as the call's ctx.
//     Raw WebSocket messages from the client are flow-controlled by
//     credits the runner grants as the host reads, so the runner's
//     per-socket channel is bounded and nothing is read from the client
//     before the host has accepted the socket.
//   - Frames are not fragmented: a large frame (a big body or output)
//     delays the frames queued behind it on the same link.
//   - Oversized frames are refused by the sender, before they reach the
//     link: the call (or stream) fails with message/incoming_too_long or
//     message/outgoing_too_long and the link and its other streams are
//     unaffected. A peer that nevertheless sends a message over the
//     receiver's limit (mismatched configuration) loses the link.
//   - Liveness: both ends ping every PingInterval; a ping without pong
//     within PingTimeout declares the link lost (on the gateway Done closes
//     and Err says why).
//   - Shutdown: Client.Close and Server.Close stop every goroutine they
//     started. Server.Close refuses new links and new calls
//     (actor/stopping), waits for open streams to end and their results to
//     be written, then closes the links; when its ctx ends first it closes
//     them at once. A host call that ignores its cancelled ctx keeps
//     running, but its result is dropped.
package link
