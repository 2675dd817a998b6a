package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/transport/spdy"
)

// portForwardProtocol is the stream protocol of pods/portforward (client-go's
// tools/portforward, not imported: it would add a WebSocket library to
// go.mod for a dialer we do not use).
const portForwardProtocol = "portforward.k8s.io"

// forwarder is `kubectl port-forward` to the pods behind the gateway
// Service, written for a test that runs long under load: every local TCP
// connection goes to the next ready gateway pod (round robin), one SPDY
// connection per pod is kept and re-dialled when it breaks, and an error on
// one forwarded connection does not tear down the others (client-go's
// PortForwarder closes everything on the first stream error and serves a
// single pod).
type forwarder struct {
	s      *suite
	ln     net.Listener
	remote int
	logf   func(format string, args ...any)

	reqID  atomic.Int64
	next   atomic.Uint64
	mu     sync.Mutex
	conns  map[string]httpstream.Connection // by pod name
	pods   []string
	listed time.Time
	closed bool
}

func newForwarder(s *suite, remotePort int, logf func(string, ...any)) (*forwarder, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &forwarder{s: s, ln: ln, remote: remotePort, logf: logf, conns: map[string]httpstream.Connection{}}
	go f.serve()
	return f, nil
}

// Endpoint is the local URL of the forwarded gateway.
func (f *forwarder) Endpoint() string { return "http://" + f.ln.Addr().String() }

func (f *forwarder) Close() {
	f.mu.Lock()
	f.closed = true
	conns := f.conns
	f.conns = map[string]httpstream.Connection{}
	f.mu.Unlock()
	_ = f.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
}

func (f *forwarder) log(format string, args ...any) {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if !closed {
		f.logf("port-forward: "+format, args...)
	}
}

func (f *forwarder) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		go f.handle(c)
	}
}

// readyPods returns the ready gateway pods, listed at most every 2 s.
func (f *forwarder) readyPods() ([]string, error) {
	f.mu.Lock()
	if time.Since(f.listed) < 2*time.Second && len(f.pods) > 0 {
		pods := f.pods
		f.mu.Unlock()
		return pods, nil
	}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := f.s.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=rivet-gateway,app.kubernetes.io/instance=" + engineName})
	if err != nil {
		return nil, err
	}
	var pods []string
	for i := range l.Items {
		if podReady(&l.Items[i]) {
			pods = append(pods, l.Items[i].Name)
		}
	}
	if len(pods) == 0 {
		return nil, errors.New("no ready gateway pod")
	}
	sort.Strings(pods)
	f.mu.Lock()
	f.pods, f.listed = pods, time.Now()
	f.mu.Unlock()
	return pods, nil
}

// conn returns the SPDY connection to the next ready gateway pod.
func (f *forwarder) conn() (string, httpstream.Connection, error) {
	pods, err := f.readyPods()
	if err != nil {
		return "", nil, err
	}
	pod := pods[int(f.next.Add(1)%uint64(len(pods)))]
	f.mu.Lock()
	c := f.conns[pod]
	f.mu.Unlock()
	if c != nil {
		select {
		case <-c.CloseChan():
			f.drop(pod, c)
		default:
			return pod, c, nil
		}
	}
	rt, up, err := spdy.RoundTripperFor(f.s.rest)
	if err != nil {
		return pod, nil, err
	}
	u := f.s.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("portforward").URL()
	c, proto, err := spdy.NewDialer(up, &http.Client{Transport: rt}, http.MethodPost, u).Dial(portForwardProtocol)
	if err != nil {
		return pod, nil, fmt.Errorf("dial %s: %w", pod, err)
	}
	if proto != portForwardProtocol {
		_ = c.Close()
		return pod, nil, fmt.Errorf("pod %s: protocol %q", pod, proto)
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		_ = c.Close()
		return pod, nil, errors.New("forwarder closed")
	}
	if old := f.conns[pod]; old != nil {
		f.mu.Unlock()
		_ = c.Close() // another goroutine dialled first
		return pod, old, nil
	}
	f.conns[pod] = c
	f.mu.Unlock()
	return pod, c, nil
}

func (f *forwarder) drop(pod string, c httpstream.Connection) {
	f.mu.Lock()
	if f.conns[pod] == c {
		delete(f.conns, pod)
	}
	f.listed = time.Time{}
	f.mu.Unlock()
	_ = c.Close()
}

// handle forwards one local connection. Streams are opened before a single
// byte is read from the client, so when that fails the client sees its
// connection closed before it sent anything, which clients retry.
func (f *forwarder) handle(local net.Conn) {
	defer local.Close()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 300 * time.Millisecond)
		}
		pod, sc, err := f.conn()
		if err != nil {
			lastErr = err
			continue
		}
		id := strconv.FormatInt(f.reqID.Add(1), 10)
		h := http.Header{}
		h.Set(corev1.StreamType, corev1.StreamTypeError)
		h.Set(corev1.PortHeader, strconv.Itoa(f.remote))
		h.Set(corev1.PortForwardRequestIDHeader, id)
		errStream, err := sc.CreateStream(h)
		if err != nil {
			lastErr = fmt.Errorf("pod %s: error stream: %w", pod, err)
			f.drop(pod, sc)
			continue
		}
		_ = errStream.Close() // nothing to send on it
		h.Set(corev1.StreamType, corev1.StreamTypeData)
		data, err := sc.CreateStream(h)
		if err != nil {
			sc.RemoveStreams(errStream)
			lastErr = fmt.Errorf("pod %s: data stream: %w", pod, err)
			f.drop(pod, sc)
			continue
		}
		f.pipe(pod, sc, local, data, errStream)
		return
	}
	f.log("giving up on a connection: %v", lastErr)
}

func (f *forwarder) pipe(pod string, sc httpstream.Connection, local net.Conn, data, errStream httpstream.Stream) {
	defer sc.RemoveStreams(data, errStream)
	errMsg := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(errStream)
		errMsg <- string(b)
	}()
	remoteDone := make(chan struct{})
	go func() {
		_, _ = io.Copy(local, data)
		close(remoteDone)
	}()
	go func() {
		_, _ = io.Copy(data, local)
		_ = data.Close() // half-close: the client sent everything
	}()
	select {
	case <-remoteDone:
	case <-sc.CloseChan():
	}
	_ = local.Close()
	_ = data.Reset()
	select {
	case m := <-errMsg:
		if m != "" {
			f.log("pod %s: %s", pod, m)
		}
	case <-time.After(5 * time.Second):
	}
}
