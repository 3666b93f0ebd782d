package testenv

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a backend (PostgreSQL, the S3 store)
// and plays its faults: Cut closes every connection and each new one at
// once, as a backend that went away; Stall stops passing bytes while
// keeping the connections open, as a paused (SIGSTOP) or partitioned one.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	cut     bool
	stalled chan struct{} // closed when not stalled; replaced by Stall(true)
	conns   map[net.Conn]bool
}

// NewProxy starts a proxy to target (host:port) on 127.0.0.1, closed when
// the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := make(chan struct{})
	close(open)
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]bool{}, stalled: open}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.Stall(false)
		p.Cut(true)
	})
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut cuts the backend off (true), or lets it through again.
func (p *Proxy) Cut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// Stall holds every byte either way (true) until Stall(false).
func (p *Proxy) Stall(stall bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.stalled:
		if stall {
			p.stalled = make(chan struct{})
		}
	default:
		if !stall {
			close(p.stalled)
		}
	}
}

// gate returns a channel that is closed while the proxy is not stalled.
func (p *Proxy) gate() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalled
}

// track registers c, or closes it and reports false while cut.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			continue
		}
		go func() {
			b, err := net.Dial("tcp", p.target)
			if err != nil || !p.track(b) {
				c.Close()
				return
			}
			go func() { p.pipe(b, c); b.Close() }()
			p.pipe(c, b)
			c.Close()
		}()
	}
}

// pipe copies from src to dst, holding each chunk while stalled.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			<-p.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
