package edge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/protocol"
)

// wsWriteTimeout bounds one frame write to a client.
const wsWriteTimeout = 10 * time.Second

func readCloser(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

// wsProtocols parses Sec-WebSocket-Protocol into encoding and conn params.
func (s *Server) wsProtocols(r *http.Request) (enc protocol.Encoding, params []byte, offered []string, err error) {
	enc = protocol.EncodingJSON
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			p = strings.TrimSpace(p)
			offered = append(offered, p)
			switch {
			case strings.HasPrefix(p, "rivet_encoding."):
				enc, err = protocol.ParseEncoding(strings.TrimPrefix(p, "rivet_encoding."))
				if err != nil {
					return enc, nil, offered, errs.InvalidRequest("unknown encoding %q", p)
				}
			case strings.HasPrefix(p, "rivet_conn_params."):
				raw, uerr := url.QueryUnescape(strings.TrimPrefix(p, "rivet_conn_params."))
				if uerr != nil {
					return enc, nil, offered, errs.Malformed("connection params are not URL-encoded")
				}
				if params, err = s.connParams(raw); err != nil {
					return enc, nil, offered, err
				}
			}
		}
	}
	if e := r.URL.Query().Get("rvt-encoding"); e != "" {
		if enc, err = protocol.ParseEncoding(e); err != nil {
			return enc, nil, offered, errs.InvalidRequest("unknown encoding %q", e)
		}
	}
	return enc, params, offered, nil
}

// closeReason renders an error as the "group.code" close reason the client parses.
func closeReason(err error) (websocket.StatusCode, string) {
	if err == nil {
		return websocket.StatusNormalClosure, ""
	}
	pe := publicError(err)
	reason := pe.Group + "." + pe.Code
	if len(reason) > 120 {
		reason = reason[:120]
	}
	code := websocket.StatusInternalError
	if errs.Retryable(pe) {
		code = websocket.StatusTryAgainLater
	}
	return code, reason
}

func (s *Server) handleWebSocketRoute(w http.ResponseWriter, r *http.Request, kind, sub string) {
	enc, params, offered, perr := s.wsProtocols(r)
	var accepted []string
	for _, p := range offered {
		if p == "rivet" {
			accepted = []string{"rivet"}
		}
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:       accepted,
		InsecureSkipVerify: true, // browsers of any origin may connect, like the REST API (CORS *)
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept already answered the request.
	}
	c.SetReadLimit(s.cfg.MaxMessageSize)
	ctx := r.Context()
	fail := func(err error) {
		if kind == "connect" {
			pe := publicError(err)
			if frame, eerr := protocol.EncodeToClient(enc, protocol.ToClient{Error: &protocol.ErrorMessage{
				Group: pe.Group, Code: pe.Code, Message: pe.Message, Metadata: pe.Metadata,
			}}); eerr == nil {
				wctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
				_ = c.Write(wctx, msgType(enc), frame)
				cancel()
			}
		}
		code, reason := closeReason(err)
		_ = c.Close(code, reason)
	}
	if perr != nil {
		fail(perr)
		return
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	t, err := s.resolve(rctx, r)
	cancel()
	if err != nil {
		fail(err)
		return
	}
	if kind == "websocket" {
		r2 := r.Clone(ctx)
		r2.URL.Path = "/" + sub
		r2.URL.RawPath = ""
		r2.URL.RawQuery = stripRivetQuery(r.URL.RawQuery)
		mc := &messageConn{c: c}
		if err := s.onActor(ctx, r, &t, func(t target) error {
			return s.cfg.Host.WebSocket(ctx, hostapi.Target{ActorID: t.actor.ID}, r2, mc)
		}); err != nil {
			fail(err)
			return
		}
		_ = c.Close(websocket.StatusNormalClosure, "")
		return
	}
	s.serveConn(ctx, r, c, enc, params, t)
}

func msgType(enc protocol.Encoding) websocket.MessageType {
	if enc.Binary() {
		return websocket.MessageBinary
	}
	return websocket.MessageText
}

// serveConn bridges one client connection to the actor.
func (s *Server) serveConn(ctx context.Context, r *http.Request, c *websocket.Conn, enc protocol.Encoding, params []byte, t target) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sink := newWSSink(ctx, c, enc, s.cfg.WSOutbox, s.cfg.MaxMessageSize)
	var hc hostapi.Conn
	err := s.onActor(ctx, r, &t, func(t target) error {
		var err error
		hc, err = s.cfg.Host.Connect(ctx, hostapi.ConnectRequest{ActorID: t.actor.ID, Params: params}, sink)
		return err
	})
	if err != nil {
		sink.fail(err)
		<-sink.done
		return
	}
	defer hc.Close()
	go func() {
		// The actor closed the connection: stop reading.
		<-sink.done
		cancel()
	}()
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) && ce.Code == websocket.StatusMessageTooBig {
				s.log.Debug("client frame over limit", "actor_id", t.actor.ID)
			}
			sink.Close(nil)
			return
		}
		if enc.Binary() != (typ == websocket.MessageBinary) {
			sink.fail(errs.Malformed("frame type does not match encoding %s", enc))
			return
		}
		msg, err := protocol.DecodeToServer(enc, data)
		if err != nil {
			sink.fail(errs.Malformed("invalid frame: %v", err))
			return
		}
		hc.Receive(msg)
	}
}

// wsSink is the gateway side of an actor's output to one client: a bounded
// queue drained by one writer goroutine.
type wsSink struct {
	c         *websocket.Conn
	enc       protocol.Encoding
	limit     int64
	out       chan protocol.ToClient
	done      chan struct{}
	mu        sync.Mutex
	closed    bool
	outClosed bool
	closeErr  error
}

func newWSSink(ctx context.Context, c *websocket.Conn, enc protocol.Encoding, size int, limit int64) *wsSink {
	s := &wsSink{c: c, enc: enc, limit: limit, out: make(chan protocol.ToClient, size), done: make(chan struct{})}
	go s.writer(ctx)
	return s
}

// Send implements hostapi.Sink.
func (s *wsSink) Send(msg protocol.ToClient) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	select {
	case s.out <- msg:
		return true
	default:
		// The client does not keep up: disconnect it rather than buffer
		// without bound. It reconnects and resubscribes.
		s.closed = true
		s.closeErr = errs.Overloaded("client outbox is full")
		s.closeOut()
		return false
	}
}

// Close implements hostapi.Sink.
func (s *wsSink) Close(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.closeErr = err
	s.closeOut()
}

// closeOut closes the queue once; s.mu is held.
func (s *wsSink) closeOut() {
	if !s.outClosed {
		s.outClosed = true
		close(s.out)
	}
}

// fail sends a connection-level Error frame, then closes with its reason.
func (s *wsSink) fail(err error) {
	pe := publicError(err)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	if !s.Send(protocol.ToClient{Error: &protocol.ErrorMessage{Group: pe.Group, Code: pe.Code, Message: pe.Message, Metadata: pe.Metadata}}) {
		return
	}
	s.Close(pe)
}

func (s *wsSink) writer(ctx context.Context) {
	defer close(s.done)
	for msg := range s.out {
		frame, err := protocol.EncodeToClient(s.enc, msg)
		if err == nil && int64(len(frame)) > s.limit {
			err = errs.OutgoingTooLong(s.limit)
		}
		if err != nil {
			s.mu.Lock()
			if s.closeErr == nil {
				s.closeErr = errs.From(err)
			}
			s.mu.Unlock()
			break
		}
		wctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
		err = s.c.Write(wctx, msgType(s.enc), frame)
		cancel()
		if err != nil {
			break
		}
	}
	s.mu.Lock()
	s.closed = true
	s.closeOut()
	err := s.closeErr
	s.mu.Unlock()
	code, reason := closeReason(err)
	_ = s.c.Close(code, reason)
	// Drain anything left so senders never block on a dead connection.
	for range s.out {
	}
}

// messageConn adapts a coder/websocket conn to hostapi.MessageConn.
type messageConn struct{ c *websocket.Conn }

func (m *messageConn) Read(ctx context.Context) (bool, []byte, error) {
	typ, data, err := m.c.Read(ctx)
	return typ == websocket.MessageBinary, data, err
}

func (m *messageConn) Write(ctx context.Context, binary bool, data []byte) error {
	typ := websocket.MessageText
	if binary {
		typ = websocket.MessageBinary
	}
	wctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
	defer cancel()
	return m.c.Write(wctx, typ, data)
}

func (m *messageConn) Close(code int, reason string) error {
	return m.c.Close(websocket.StatusCode(code), reason)
}
