package link

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/protocol"
)

// The client request behind an action or a connection crosses the link
// unchanged, and its absence stays absent.
func TestRequestInfoCrossesTheLink(t *testing.T) {
	info := &hostapi.RequestInfo{
		Header:     http.Header{"Origin": {"https://app.example.com"}, "X-Api-Key": {"k1", "k2"}},
		RemoteAddr: "203.0.113.9",
	}
	actions := make(chan hostapi.ActionRequest, 2)
	conns := make(chan hostapi.ConnectRequest, 1)
	h := &fakeHost{
		action: func(_ context.Context, req hostapi.ActionRequest) ([]byte, error) {
			actions <- req
			return []byte{0xf6}, nil
		},
		connect: func(_ context.Context, req hostapi.ConnectRequest, sink hostapi.Sink) (hostapi.Conn, error) {
			conns <- req
			hc := newHostConn("c1")
			sink.Send(protocol.ToClient{Init: &protocol.Init{ActorID: req.ActorID, ConnectionID: hc.id}})
			return hc, nil
		},
	}
	p := newPair(t, h, ServerOptions{}, DialOptions{}, nil)
	ctx := testCtx(t)
	for _, in := range []*hostapi.RequestInfo{info, nil} {
		if _, err := p.client.Action(ctx, hostapi.ActionRequest{ActorID: "a", Name: "x", Args: []byte{0x80}, Request: in}); err != nil {
			t.Fatal(err)
		}
		if got := recvOrFail(t, actions, "action").Request; !reflect.DeepEqual(got, in) {
			t.Errorf("action request info = %+v, want %+v", got, in)
		}
	}
	conn, err := p.client.Connect(ctx, hostapi.ConnectRequest{ActorID: "a", Request: info}, newRecvSink())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := recvOrFail(t, conns, "connect").Request; !reflect.DeepEqual(got, info) {
		t.Errorf("connect request info = %+v, want %+v", got, info)
	}
}
