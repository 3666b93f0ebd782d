package testenv

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a backend (PostgreSQL, the S3 store)
// and plays its faults: Cut closes every connection and each new one at
// once, as a backend that went away; Stall stops passing bytes while
// keeping the connections open, as a paused (SIGSTOP) or partitioned one;
// StallAfter does so in the middle of a client's request.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	cut     bool
	stalled chan struct{} // closed when not stalled; replaced by Stall(true)
	conns   map[net.Conn]bool
	// stallIn counts down the bytes clients may still send before the
	// proxy stalls (StallAfter); negative when not set.
	stallIn int64
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
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]bool{}, stalled: open, stallIn: -1}
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

// StallAfter lets n more bytes go from the clients to the backend, then
// stalls as Stall(true) does: the bytes past n are held.
func (p *Proxy) StallAfter(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stallIn = n
}

// sent counts n bytes from a client; it returns how many of them may pass
// before the proxy stalls (n, unless StallAfter's count ran out).
func (p *Proxy) sent(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stallIn < 0 {
		return n
	}
	if int64(n) < p.stallIn {
		p.stallIn -= int64(n)
		return n
	}
	pass := int(p.stallIn)
	p.stallIn = -1
	select {
	case <-p.stalled:
		p.stalled = make(chan struct{})
	default:
	}
	return pass
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
			go func() { p.pipe(b, c, true); b.Close() }()
			p.pipe(c, b, false)
			c.Close()
		}()
	}
}

// pipe copies from src to dst, holding each chunk while stalled; up: src
// is a client.
func (p *Proxy) pipe(dst, src net.Conn, up bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && up {
			if pass := p.sent(n); pass < n {
				if _, werr := dst.Write(buf[:pass]); werr != nil {
					return
				}
				copy(buf, buf[pass:n])
				n -= pass
			}
		}
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
