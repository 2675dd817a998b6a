package link

import (
	"context"
	"testing"

	"github.com/rivetkube/rivetkube/internal/hostapi"
)

// BenchmarkLinkAction measures one Action round trip over a real link on
// loopback (gateway Client → runner Server → fake host → back):
// sequential (one call at a time: latency) and parallel (many callers
// sharing the link: throughput).
func BenchmarkLinkAction(b *testing.B) {
	h := &fakeHost{action: func(_ context.Context, req hostapi.ActionRequest) ([]byte, error) {
		return req.Args, nil
	}}
	p := newPair(b, h, ServerOptions{}, DialOptions{}, nil)
	ctx := context.Background()
	req := hostapi.ActionRequest{ActorID: "bench-actor", Generation: 1, Name: "echo", Args: []byte{0x82, 0x01, 0x63, 'a', 'b', 'c'}}

	b.Run("sequential", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.client.Action(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.client.Action(ctx, req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
