package hostapi

import (
	"context"
	"net/http"
)

// RequestInfo is what an actor may know of the client request that opened
// a connection or called an HTTP action: its headers (hop-by-hop headers
// and the client token header removed, bounded by the gateway: at most
// MaxRequestHeaders values and MaxRequestHeaderBytes bytes) and the
// client's address as the gateway determined it (X-Forwarded-For is used
// only from trusted proxies). Origin is Header.Get("Origin").
type RequestInfo struct {
	Header     http.Header
	RemoteAddr string
}

// The bounds of RequestInfo.Header.
const (
	MaxRequestHeaders     = 100
	MaxRequestHeaderBytes = 16 << 10
)

type requestKey struct{}

// WithRequest returns ctx carrying info (ctx itself when info is nil).
func WithRequest(ctx context.Context, info *RequestInfo) context.Context {
	if info == nil {
		return ctx
	}
	return context.WithValue(ctx, requestKey{}, info)
}

// RequestFrom returns the RequestInfo ctx carries, or nil.
func RequestFrom(ctx context.Context) *RequestInfo {
	info, _ := ctx.Value(requestKey{}).(*RequestInfo)
	return info
}
