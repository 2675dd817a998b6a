package edge

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/protocol"
)

// maxQueueName bounds a queue name in the URL.
const maxQueueName = 256

func (s *Server) handleQueue(ctx context.Context, w http.ResponseWriter, r *http.Request, enc protocol.Encoding, t target, name string) {
	if r.Method != http.MethodPost {
		writeError(w, enc, errs.MethodNotAllowed("Queue sends use POST."), t.specifier())
		return
	}
	body, err := readBody(r, s.cfg.MaxMessageSize)
	if err != nil {
		writeError(w, enc, err, t.specifier())
		return
	}
	req, err := protocol.DecodeHTTPQueueSendRequest(enc, body)
	if err != nil {
		writeError(w, enc, errs.Malformed("invalid queue send: %v", err), t.specifier())
		return
	}
	if name == "" && req.Name != nil {
		name = *req.Name
	}
	if name == "" || len(name) > maxQueueName {
		writeError(w, enc, errs.InvalidRequest("queue name must be 1 to %d bytes", maxQueueName), t.specifier())
		return
	}
	send := hostapi.QueueSendRequest{ActorID: t.actor.ID, Queue: name, Body: req.Body}
	if req.Wait != nil && *req.Wait {
		send.Wait = true
		send.Timeout = s.cfg.MaxQueueWait
		if req.Timeout != nil && *req.Timeout > 0 {
			send.Timeout = min(time.Duration(*req.Timeout)*time.Millisecond, s.cfg.MaxQueueWait)
		}
	}
	var res hostapi.QueueSendResponse
	err = s.onActor(ctx, r, &t, func(t target) error {
		send.ActorID = t.actor.ID
		var err error
		res, err = s.cfg.Host.QueueSend(ctx, send)
		return err
	})
	w.Header().Set("x-rivet-actor", t.actor.ID)
	if err != nil {
		writeError(w, enc, err, t.specifier())
		return
	}
	out := protocol.HTTPQueueSendResponse{Status: "completed", Response: res.Response}
	if !res.Completed {
		out.Status = "timedOut"
	}
	b, err := protocol.EncodeHTTPQueueSendResponse(enc, out)
	if err != nil {
		writeError(w, enc, errs.Internal(), t.specifier())
		return
	}
	w.Header().Set("Content-Type", enc.ContentType())
	_, _ = w.Write(b)
}

func (s *Server) handleInspector(ctx context.Context, w http.ResponseWriter, r *http.Request, t target, sub string) {
	switch {
	case s.cfg.InspectorToken != "":
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.InspectorToken)) != 1 {
			writeError(w, protocol.EncodingJSON, errs.Unauthorized(), nil)
			return
		}
	case !s.cfg.InspectorOpen:
		writeError(w, protocol.EncodingJSON, errs.InspectorDisabled(), nil)
		return
	}
	s.forwardHTTP(ctx, w, r, t, sub, s.cfg.MaxMessageSize, s.cfg.Host.Inspect)
}
