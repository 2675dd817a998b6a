package link

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/latch"
)

// ErrLinkLost is matched (errors.Is) by the error of every call that was in
// flight when its link died, and of every call made after. The call may or
// may not have run on the runner.
var ErrLinkLost = errors.New("link to runner lost")

// errFrameTooBig: an encoded frame exceeds the link's frame limit; it was
// not sent and the link is unaffected.
var errFrameTooBig = errors.New("link: frame too big")

// sinkLostErr closes a gateway-side Sink whose link died: the client sees
// actor/stopping (and reconnects); errors.Is(err, ErrLinkLost) holds too.
var sinkLostErr = fmt.Errorf("%w: %w", ErrLinkLost, errs.Stopping())

const (
	defaultPingInterval = 5 * time.Second
	defaultPingTimeout  = 10 * time.Second
	defaultMaxFrame     = 32 << 20
	defaultMaxBody      = 16 << 20
	defaultStreamQueue  = 1024
	defaultMaxConc      = 4096
	// wsWindow is how many raw WebSocket messages the gateway may send
	// ahead of the runner's reads (credit-based flow control).
	wsWindow = 64
)

// limits are the options both ends share.
type limits struct {
	pingInterval time.Duration
	pingTimeout  time.Duration
	maxFrame     int64
	maxBody      int64
	queueBytes   int64
	streamQueue  int
	log          *slog.Logger
	// frames, when set, counts every frame sent (in=false) and received.
	frames func(in bool, kind string)
}

func (l limits) withDefaults() limits {
	if l.pingInterval <= 0 {
		l.pingInterval = defaultPingInterval
	}
	if l.pingTimeout <= 0 {
		l.pingTimeout = defaultPingTimeout
	}
	if l.maxFrame <= 0 {
		l.maxFrame = defaultMaxFrame
	}
	if l.maxBody <= 0 {
		l.maxBody = defaultMaxBody
	}
	if l.queueBytes <= 0 {
		l.queueBytes = 2 * l.maxFrame
	}
	if l.streamQueue <= 0 {
		l.streamQueue = defaultStreamQueue
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	return l
}

// peerMaxFrame parses the peer's advertised frame limit; the link sends
// frames no larger than the smaller of both limits.
func peerMaxFrame(own int64, v string) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n >= own {
		return own
	}
	return n
}

// link is what both ends share: one WebSocket, a reader goroutine that
// decodes frames and hands them to dispatch, one writer goroutine draining
// the bounded outbound queue (batching frames into messages), and a
// pinger.
type link struct {
	c       *websocket.Conn
	lim     limits
	maxSend int64
	out     *outq

	ctx    context.Context // ends when the link is lost
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	err    error

	hold *latch.Latch // tests only: holds the writer

	dispatch func(*frame)    // reader goroutine only
	onLost   func(err error) // once, after done is closed
	wg       sync.WaitGroup  // reader, writer, pinger
}

func newLink(c *websocket.Conn, lim limits, maxSend int64) *link {
	ctx, cancel := context.WithCancel(context.Background())
	c.SetReadLimit(lim.maxFrame + 1024) // a message holds frames up to the peer's send limit, which is ≤ ours
	return &link{c: c, lim: lim, maxSend: maxSend, out: newOutq(lim.queueBytes), ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

func (l *link) start() {
	l.wg.Add(3)
	go l.reader()
	go l.writer()
	go l.pinger()
}

// lostErr is the error of a lost link (nil while it is up).
func (l *link) lostErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// fail declares the link lost (once). graceful closes the WebSocket with a
// close handshake; otherwise it is dropped at once.
func (l *link) fail(cause error, graceful bool, code websocket.StatusCode, reason string) {
	first := false
	l.once.Do(func() {
		first = true
		err := cause
		if !errors.Is(err, ErrLinkLost) {
			err = fmt.Errorf("%w: %v", ErrLinkLost, cause)
		}
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		l.out.close()
		close(l.done)
		if l.onLost != nil {
			l.onLost(err)
		}
	})
	if !first {
		return
	}
	if graceful {
		_ = l.c.Close(code, reason)
	} else {
		_ = l.c.CloseNow()
	}
	l.cancel()
}

// send encodes f and queues it. pend, when set, counts the stream's frames
// not yet written. It returns errFrameTooBig, errQueueFull (putTry), the
// ctx's error (putWait) or the link's lost error.
func (l *link) send(ctx context.Context, f *frame, pend *atomic.Int32, mode putMode) error {
	b, err := encodeFrame(f)
	if err != nil {
		return err
	}
	if int64(len(b)) > l.maxSend {
		return errFrameTooBig
	}
	err = l.out.put(ctx, qent{b: b, pend: pend}, mode)
	if errors.Is(err, errQueueClose) {
		return l.lostErr()
	}
	if err == nil && l.lim.frames != nil {
		l.lim.frames(false, f.K.String())
	}
	return err
}

func (l *link) reader() {
	defer l.wg.Done()
	var buf bytes.Buffer
	for {
		// No ctx: fail closes the connection, which ends the read (and a
		// ctx would cost a timer per message).
		typ, r, err := l.c.Reader(context.Background())
		if err != nil {
			l.fail(fmt.Errorf("read: %w", err), false, 0, "")
			return
		}
		if typ != websocket.MessageBinary {
			l.fail(errors.New("text message on the link"), true, websocket.StatusUnsupportedData, "binary frames only")
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			if websocket.CloseStatus(err) == websocket.StatusMessageTooBig {
				l.lim.log.Warn("link: peer sent a message over the frame limit", "limit", l.lim.maxFrame)
			}
			l.fail(fmt.Errorf("read: %w", err), false, 0, "")
			return
		}
		if err := decodeFrames(buf.Bytes(), l.received); err != nil {
			l.fail(err, true, websocket.StatusProtocolError, "malformed frame")
			return
		}
		if buf.Cap() > 1<<20 {
			buf = bytes.Buffer{} // do not keep a large buffer per idle link
		}
	}
}

func (l *link) writer() {
	defer l.wg.Done()
	var buf []byte
	for {
		select {
		case <-l.out.wake:
		case <-l.ctx.Done():
			return
		}
		// Let goroutines that are about to queue a frame do so, so one
		// write carries them all.
		runtime.Gosched()
		for {
			batch := l.out.take()
			if batch == nil {
				break
			}
			for i := 0; i < len(batch); {
				j := i + 1
				msg := batch[i].b
				if j < len(batch) && int64(len(msg)+len(batch[j].b)) <= l.maxSend {
					// Several frames in one message: one write, one flush.
					buf = append(buf[:0], msg...)
					for j < len(batch) && int64(len(buf)+len(batch[j].b)) <= l.maxSend {
						buf = append(buf, batch[j].b...)
						j++
					}
					msg = buf
				}
				if l.hold != nil && !l.hold.Wait(l.ctx) {
					return
				}
				if err := l.c.Write(context.Background(), websocket.MessageBinary, msg); err != nil { // see reader
					l.fail(fmt.Errorf("write: %w", err), false, 0, "")
					return
				}
				i = j
			}
			l.out.written(batch)
			if cap(buf) > 4<<20 {
				buf = nil
			}
		}
	}
}

func (l *link) pinger() {
	defer l.wg.Done()
	t := time.NewTicker(l.lim.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-l.ctx.Done():
			return
		}
		ctx, cancel := context.WithTimeout(l.ctx, l.lim.pingTimeout)
		err := l.c.Ping(ctx)
		cancel()
		if err != nil {
			if l.ctx.Err() == nil {
				l.fail(fmt.Errorf("keepalive: no pong within %v: %w", l.lim.pingTimeout, err), false, 0, "")
			}
			return
		}
	}
}

// waitEmpty waits until every queued frame has been written.
func (o *outq) waitEmpty(ctx context.Context) error {
	o.mu.Lock()
	for o.bytes > 0 && !o.closed {
		if err := o.awaitSpace(ctx); err != nil {
			return err
		}
	}
	o.mu.Unlock()
	return nil
}
