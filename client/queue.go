package client

import (
	"context"
	"fmt"
	"time"

	"github.com/rivetkube/rivetkube/internal/protocol"
)

// SendOptions tunes Handle.Send.
type SendOptions struct {
	// Wait waits until the actor completes the message and returns its
	// response (bounded by Timeout, or ctx).
	Wait bool
	// Timeout bounds the wait; zero leaves it to the engine's limit.
	Timeout time.Duration
}

// SendResult is the outcome of a send.
type SendResult struct {
	// Completed is false when the sender waited and the actor did not
	// complete the message in time (it stays queued and is still handled).
	Completed bool
	response  []byte
}

// Decode decodes the actor's response into v (nothing when none was sent).
func (r SendResult) Decode(v any) error { return decodeValue(r.response, v) }

// Send puts body on the actor's durable queue named queue. The message is
// durable once Send returns; it is handled at least once by the actor's
// Run loop. A queue that is full answers *ActorError actor/overloaded.
func (h *Handle) Send(ctx context.Context, queue string, body any, opts SendOptions) (SendResult, error) {
	if h.err != nil {
		return SendResult{}, h.err
	}
	c := h.c
	b, err := encodeValue(body)
	if err != nil {
		return SendResult{}, fmt.Errorf("client: send to %q: %w", queue, err)
	}
	req := protocol.HTTPQueueSendRequest{Body: b, Name: &queue}
	if opts.Wait {
		w := true
		req.Wait = &w
		if opts.Timeout > 0 {
			ms := uint64(opts.Timeout.Milliseconds())
			req.Timeout = &ms
		}
	}
	payload, err := protocol.EncodeHTTPQueueSendRequest(c.enc, req)
	if err != nil {
		return SendResult{}, fmt.Errorf("client: send to %q: encode request: %w", queue, err)
	}
	var res protocol.HTTPQueueSendResponse
	err = h.post(ctx, "/queue/"+escapeComponent(queue), payload, func(data []byte) error {
		var err error
		res, err = protocol.DecodeHTTPQueueSendResponse(c.enc, data)
		return err
	})
	if err != nil {
		return SendResult{}, fmt.Errorf("client: send to %q: %w", queue, err)
	}
	return SendResult{Completed: res.Status == "completed", response: res.Response}, nil
}
