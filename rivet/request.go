package rivet

import (
	"net/http"

	"github.com/rivetkube/rivetkube/internal/hostapi"
)

// Request describes the client request behind a connection or an HTTP
// action, as the gateway received it. The same in the local and the
// distributed engine.
type Request struct {
	// Header holds the request's headers, without hop-by-hop headers and
	// the client token header; the gateway bounds it (100 values, 16 KiB).
	// For a WebSocket connection these are the handshake's headers.
	Header http.Header
	// Origin is the Origin header: the page a browser request came from,
	// "" from clients that are not browsers.
	Origin string
	// RemoteAddr is the client's IP address (behind trusted proxies, the
	// address they forwarded).
	RemoteAddr string
}

// Request returns the client request behind this call: the connection's
// opening request in OnBeforeConnect, CreateConnState, OnConnect and
// actions, or nil when the call has none (schedules, queues, the run loop,
// actor-internal work).
func (c *Ctx[S]) Request() *Request {
	info := hostapi.RequestFrom(c.Context)
	if c.conn != nil {
		if r := c.conn.RequestInfo(); r != nil {
			info = r
		}
	}
	if info == nil {
		return nil
	}
	return &Request{Header: info.Header.Clone(), Origin: info.Header.Get("Origin"), RemoteAddr: info.RemoteAddr}
}
