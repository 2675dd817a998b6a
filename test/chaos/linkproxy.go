package main

import (
	"context"
	"io"
	"net"
	"sync"
	"time"
)

// linkProxy sits on the link between the gateways and one runner: the
// runner advertises the proxy's address, the proxy forwards to the runner's
// listener. A fault can delay every chunk or drop the link (close open
// connections and refuse new ones) for a while.
type linkProxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	delay    time.Duration
	dropping bool
	conns    map[net.Conn]struct{}
}

func newLinkProxy(addr, target string) (*linkProxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &linkProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}, nil
}

// Addr is the address gateways dial.
func (p *linkProxy) Addr() string { return p.ln.Addr().String() }

// serve accepts until ctx ends.
func (p *linkProxy) serve(ctx context.Context) {
	go func() { <-ctx.Done(); p.ln.Close(); p.closeAll() }()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		drop := p.dropping
		p.mu.Unlock()
		if drop {
			c.Close()
			continue
		}
		go p.pipe(ctx, c)
	}
}

func (p *linkProxy) pipe(ctx context.Context, c net.Conn) {
	d := net.Dialer{Timeout: 5 * time.Second}
	up, err := d.DialContext(ctx, "tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.track(c, true)
	p.track(up, true)
	defer func() { p.track(c, false); p.track(up, false); c.Close(); up.Close() }()
	done := make(chan struct{}, 2)
	go func() { p.copy(up, c); done <- struct{}{} }()
	go func() { p.copy(c, up); done <- struct{}{} }()
	<-done
}

func (p *linkProxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			d := p.delay
			p.mu.Unlock()
			if d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				return
			}
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

func (p *linkProxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *linkProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// setDelay delays every forwarded chunk by d (0 ends the fault).
func (p *linkProxy) setDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// setDrop cuts the link (open connections closed, new ones refused) or
// restores it.
func (p *linkProxy) setDrop(on bool) {
	p.mu.Lock()
	p.dropping = on
	p.mu.Unlock()
	if on {
		p.closeAll()
	}
}
