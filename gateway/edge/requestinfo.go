package edge

import (
	"net/http"
	"net/textproto"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
)

// notForActors are the request headers an actor does not get: hop-by-hop
// and WebSocket handshake headers (the WebSocket protocol list carries
// the client token and the connection params), the client token header,
// and the connection params header (the actor gets the params decoded).
var notForActors = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true, "Content-Length": true,
	"Sec-Websocket-Key": true, "Sec-Websocket-Version": true, "Sec-Websocket-Extensions": true,
	"Sec-Websocket-Protocol": true, "X-Rivet-Token": true, "X-Rivet-Conn-Params": true,
}

// requestInfo is what the actor learns of r: its headers, filtered and
// bounded (more than hostapi.MaxRequestHeaders values or
// hostapi.MaxRequestHeaderBytes bytes is request/headers_too_large), and
// the client's address.
func (s *Server) requestInfo(r *http.Request) (*hostapi.RequestInfo, error) {
	h := make(http.Header, len(r.Header))
	count, size := 0, 0
	for name, values := range r.Header {
		name = textproto.CanonicalMIMEHeaderKey(name)
		if notForActors[name] {
			continue
		}
		for _, v := range values {
			count++
			size += len(name) + len(v)
			if count > hostapi.MaxRequestHeaders || size > hostapi.MaxRequestHeaderBytes {
				return nil, errs.HeadersTooLarge(hostapi.MaxRequestHeaders, hostapi.MaxRequestHeaderBytes)
			}
			h[name] = append(h[name], v)
		}
	}
	return &hostapi.RequestInfo{Header: h, RemoteAddr: s.limits.clientIP(r)}, nil
}
