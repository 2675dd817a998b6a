package link

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
)

func TestQueueSendWakeInspect(t *testing.T) {
	t.Parallel()
	h := &fakeHost{
		queueSend: func(ctx context.Context, req hostapi.QueueSendRequest) (hostapi.QueueSendResponse, error) {
			if req.Queue == "full" {
				return hostapi.QueueSendResponse{}, errs.Overloaded("queue is full")
			}
			if !req.Wait || req.Timeout != 1500*time.Millisecond || req.Generation != 3 {
				return hostapi.QueueSendResponse{}, errors.New("request fields lost")
			}
			return hostapi.QueueSendResponse{Completed: true, Response: append([]byte{0x82}, req.Body...)}, nil
		},
		wake: func(ctx context.Context, t hostapi.Target) error {
			if t.ActorID != "a" || t.Generation != 3 {
				return errors.New("target lost")
			}
			return nil
		},
		inspect: func(ctx context.Context, t hostapi.Target, w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTeapot)
			_, _ = io.WriteString(w, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
			return nil
		},
	}
	p := newPair(t, h, ServerOptions{}, DialOptions{}, nil)
	ctx := testCtx(t)
	res, err := p.client.QueueSend(ctx, hostapi.QueueSendRequest{ActorID: "a", Generation: 3, Queue: "jobs", Body: []byte{0x01}, Wait: true, Timeout: 1500 * time.Millisecond})
	if err != nil || !res.Completed || string(res.Response) != "\x82\x01" {
		t.Fatalf("QueueSend = %+v, %v", res, err)
	}
	_, err = p.client.QueueSend(ctx, hostapi.QueueSendRequest{ActorID: "a", Queue: "full"})
	var pe *errs.Error
	if !errors.As(err, &pe) || pe.Code != "overloaded" {
		t.Fatalf("full queue: %v", err)
	}
	if err := p.client.Wake(ctx, hostapi.Target{ActorID: "a", Generation: 3}); err != nil {
		t.Fatalf("Wake: %v", err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/summary?limit=5", nil)
	if err := p.client.Inspect(ctx, hostapi.Target{ActorID: "a", Generation: 3}, rec, req); err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if rec.Code != http.StatusTeapot || rec.Body.String() != "GET /summary?limit=5" {
		t.Fatalf("Inspect answered %d %q", rec.Code, rec.Body.String())
	}
}
