package link

import "github.com/rivetkube/rivetkube/internal/hostapi"

// putRequestInfo puts the client request behind an action or connection
// on f (the gateway has bounded it; see hostapi.RequestInfo).
func putRequestInfo(f *frame, info *hostapi.RequestInfo) {
	if info == nil {
		return
	}
	f.Header, f.Remote = info.Header, info.RemoteAddr
}

// requestInfo is what putRequestInfo put on f, or nil. A frame from a
// gateway that predates it carries none.
func requestInfo(f *frame) *hostapi.RequestInfo {
	if f.Header == nil && f.Remote == "" {
		return nil
	}
	return &hostapi.RequestInfo{Header: f.Header, RemoteAddr: f.Remote}
}
