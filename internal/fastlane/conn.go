package fastlane

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync/atomic"
	"time"
)

// Connection states, for Shutdown.
const (
	stateActive int32 = iota // reading a head or serving a request
	stateIdle                // waiting for the first byte of a request
	stateClosed
)

// readBufSize is the read buffer of a connection: a request head that
// does not fit goes to net/http, whose limit is MaxHeaderBytes.
const readBufSize = 8 << 10

// conn is one connection served here. Everything in it is reused from
// request to request.
type conn struct {
	l         *Listener
	nc        net.Conn     // tc, or TLS over a socket over tc
	tc        *net.TCPConn // the TCP connection
	tls       *tls.ConnectionState
	state     atomic.Int32
	idleSince atomic.Int64 // unix nanoseconds, for the cap's eviction
	wc        writeClock
	buf       []byte
	start     int // buf[start:end] is read and not yet consumed
	end       int
	remote    string
	// deadline is the read deadline last set: an idle wait moves it only
	// when it is more than a second stale, not on every request. Zero
	// until the first wait, which is bounded by ReadHeaderTimeout.
	deadline time.Time
	// headBy is when the head being read must be whole, or zero while
	// no byte of it has come (after the first request).
	headBy time.Time
	h      head
	last   map[string]string // last value of each interned header, to reuse its string
	w      response
	// mark is where the answer being produced starts in w.out: what comes
	// before it answers earlier pipelined requests.
	mark int
	// ctx is the connection's context, cancelled when it closes (cut
	// included); req is the context of the request being served, which a
	// failed write cancels too, as the client is gone.
	ctx        context.Context
	cancelConn context.CancelFunc
	req        *reqCtx
	// The watch of a long request's read side (see watch.go).
	watch     atomic.Int32
	reqGen    atomic.Uint32 // counts requests, for the sweeper
	sweptGen  uint32        // reqGen at the previous sweep
	watchDone chan struct{}
	peek      [1]byte // what the watch read
	peekN     int
	peerGone  bool
	// flushes counts the writes of out to the connection, so that an
	// answer written in part while its handler ran is not kept (encore.go).
	flushes uint64
}

// newConn returns a connection served here over tc, or over TLS on tc when
// the Listener has a TLS configuration. Under TLS the write deadline slides
// in the socket below the record layer (see socket), so the connection's
// own writeClock only passes writes and explicit deadlines through.
func newConn(l *Listener, tc *net.TCPConn) *conn {
	c := &conn{
		l:      l,
		nc:     tc,
		tc:     tc,
		buf:    make([]byte, readBufSize),
		remote: tc.RemoteAddr().String(),
		last:   make(map[string]string, 8),
	}
	timeout := l.opts.WriteTimeout
	if l.opts.TLS != nil {
		sock := newSocket(tc, l.opts.WriteTimeout, func() { l.untrack(c) })
		c.nc, timeout = tls.Server(sock, l.opts.TLS), 0
	}
	c.wc = newWriteClock(c.nc, tc, timeout)
	// The context net/http would give the connection.
	ctx := context.WithValue(l.baseCtx, http.LocalAddrContextKey, tc.LocalAddr())
	if l.connCtx != nil {
		if ctx = l.connCtx(ctx, c.nc); ctx == nil {
			panic("ConnContext returned nil")
		}
	}
	c.ctx, c.cancelConn = context.WithCancel(ctx)
	c.watchDone = make(chan struct{}, 1)
	c.idleSince.Store(time.Now().UnixNano())
	c.state.Store(stateIdle) // until its first request arrives
	c.w.c = c
	c.w.header = make(http.Header, 16)
	return c
}

// serve reads and answers requests until the connection closes or is
// handed over.
func (c *conn) serve() {
	handed := false
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.l.logf("http: panic serving %v: %v\n%s", c.remote, v, buf)
			}
			c.stopWatch()
			// The answers to earlier pipelined requests still go out,
			// and so does what the panicking one had sent on its way
			// (as net/http flushes its connection's buffer).
			if !c.w.sentHead {
				c.w.out = c.w.out[:c.mark]
			}
			c.flush()
		}
		c.cancelConn()
		if !handed {
			c.l.untrack(c)
			c.nc.Close()
			c.setState(http.StateClosed)
		}
	}()
	if tc, ok := c.nc.(*tls.Conn); ok {
		if !c.handshake(tc) {
			return
		}
		if c.tls.NegotiatedProtocol == "h2" {
			// HTTP/2 is net/http's. The connection stays counted, busy,
			// until its socket closes.
			c.state.Store(stateActive)
			c.setState(http.StateHijacked)
			c.l.deliver(tc)
			handed = true
			return
		}
	}
	for {
		switch c.readHead() {
		case handOff:
			if handed = c.handOver(); handed {
				c.l.untrack(c) // replaced by its handed-over self
			}
			return
		case needMore: // the connection ended or timed out
			return
		}
		c.serveOne()
		c.start += c.h.size
		c.takePeek()
		if c.start == c.end {
			c.start, c.end = 0, 0
		}
		if c.w.closeAfter || c.l.closing.Load() {
			c.flush()
			return
		}
		// Pipelined requests are answered together.
		if c.start == c.end || len(c.w.out) >= cap(c.w.out)/2 {
			if !c.flush() {
				return
			}
		}
		c.setState(http.StateIdle)
	}
}

// readHead reads until buf holds a whole head, and says what to do with
// it; needMore means the connection is done.
func (c *conn) readHead() verdict {
	if c.start == c.end {
		// Let the other connections' goroutines run first: by the time
		// this one reads, its client has usually sent the next request,
		// so the read returns it instead of failing with EAGAIN and
		// parking in the poller (as nginx skips a read that would find
		// nothing). Read syscalls per request went from 1.9 to 1.05, CPU
		// per narinfo miss from about 12 µs to 10.
		runtime.Gosched()
		now := time.Now()
		c.idleSince.Store(now.UnixNano())
		c.state.Store(stateIdle)
		if c.l.closing.Load() {
			return needMore
		}
		if c.deadline.IsZero() {
			// A new connection sends its first request within the
			// header timeout, as net/http wants, or goes: silent
			// sockets must not hold their places for the idle timeout.
			c.deadline = now.Add(c.l.opts.ReadHeaderTimeout)
			c.nc.SetReadDeadline(c.deadline)
		} else if c.deadline.Sub(now) < c.l.opts.IdleTimeout-time.Second {
			c.deadline = now.Add(c.l.opts.IdleTimeout)
			c.nc.SetReadDeadline(c.deadline)
		}
	}
	// The head is bounded by ReadHeaderTimeout once, as net/http bounds
	// it: the first request's from the connection's start (the deadline
	// set above), a later one's from its first byte (below); headBy
	// carries the bound to net/http if the head is handed over.
	headerDeadline := false
	c.headBy = time.Time{}
	if c.reqGen.Load() == 0 {
		headerDeadline, c.headBy = true, c.deadline
	}
	for {
		if c.end > c.start {
			if v := parseHead(c.buf[c.start:c.end], &c.h); v == fast || v == handOff && !c.short() {
				return v
			}
			if !headerDeadline {
				c.deadline = time.Now().Add(c.l.opts.ReadHeaderTimeout)
				c.nc.SetReadDeadline(c.deadline)
				headerDeadline, c.headBy = true, c.deadline
			}
		}
		if c.end == len(c.buf) {
			if c.start == 0 {
				return handOff // a head bigger than this buffer
			}
			c.end = copy(c.buf, c.buf[c.start:c.end])
			c.start = 0
		}
		// Answers to pipelined requests go out before waiting for more:
		// their client may wait for them before it sends the rest.
		if len(c.w.out) > 0 && !c.flush() {
			return needMore
		}
		n, err := c.nc.Read(c.buf[c.end:])
		if n > 0 && !c.state.CompareAndSwap(stateIdle, stateActive) && c.state.Load() == stateClosed {
			return needMore // Shutdown closed it while idle
		}
		c.end += n
		if err != nil && n == 0 {
			// A request cut short by the end of the connection is
			// net/http's to answer (a 400), as it would have been
			// without this package. Otherwise (nothing, or too little
			// for net/http to read, a reset or a timeout) nobody is
			// waiting for an answer: net/http, too, closes without one.
			if err == io.EOF && c.end > c.start && !c.short() {
				return handOff
			}
			return needMore
		}
	}
}

// short reports whether the bytes read of a request after the first are
// too few for net/http to read a request from: it waits for four
// (http.conn.serve's Peek) and closes in silence if the connection ends
// sooner, so they are not handed over yet.
func (c *conn) short() bool {
	return c.reqGen.Load() > 0 && c.end-c.start < 4
}

// handOver passes the connection, with the bytes read and not yet
// consumed, to net/http. It reports whether it did.
func (c *conn) handOver() bool {
	if !c.flush() {
		return false
	}
	c.nc.SetDeadline(time.Time{})
	var prefix []byte
	if c.end > c.start {
		prefix = append([]byte(nil), c.buf[c.start:c.end]...)
	}
	pc := newPrefixConn(c.l, c.nc, c.tc, prefix)
	if prefix != nil {
		pc.headBy = c.headBy
	}
	pc.state.Store(stateActive) // it has a request, or is mid-way through one
	c.l.replace(c, pc)
	// To ConnState this connection ends here; net/http's begins.
	c.setState(http.StateHijacked)
	if c.tls != nil {
		c.l.deliver(&tlsPrefixConn{pc})
	} else {
		c.l.deliver(pc)
	}
	return true
}

// handshake runs the TLS handshake within ReadHeaderTimeout and reports
// whether it succeeded (a failure is logged as net/http does).
func (c *conn) handshake(tc *tls.Conn) bool {
	c.nc.SetDeadline(time.Now().Add(c.l.opts.ReadHeaderTimeout))
	if err := tc.Handshake(); err != nil {
		// As net/http does: a plain HTTP request gets a plain answer.
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
			re.Conn.Close()
			return false
		}
		if c.l.opts.Server != nil {
			c.l.logf("http: TLS handshake error from %s: %v", c.remote, err)
		} else {
			c.l.opts.Log.Debug("tls handshake failed", "remote", c.remote, "err", err)
		}
		return false
	}
	c.nc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	c.tls = &st
	return true
}

// looksLikeHTTP reports whether the first bytes of a TLS record are a
// plain HTTP method.
func looksLikeHTTP(h [5]byte) bool {
	switch string(h[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET":
		return true
	}
	return false
}

// serveOne builds the request from the parsed head and runs the handler.
// The request, its header map and URL are new each time, as a handler may
// keep them after it returns; the response writer is the connection's.
func (c *conn) serveOne() {
	c.state.Store(stateActive)
	c.setState(http.StateActive)
	if c.replay() {
		return
	}
	h := &c.h
	hdr := make(http.Header, len(h.fields))
	m := new(reqMem)
	vals := m.vals[:]
	if len(h.fields) > len(m.vals) {
		vals = make([]string, len(h.fields))
	}
	for i, f := range h.fields {
		name, common := canonicalName(f.name)
		var v string
		if common {
			v = c.value(name, f.value)
		} else {
			v = string(f.value)
		}
		if old, ok := hdr[name]; ok {
			hdr[name] = append(old, v)
			continue
		}
		vals[i] = v
		hdr[name] = vals[i : i+1 : i+1]
	}
	// As net/http does for HTTP/1.0 caches (RFC 7234, section 5.4).
	if p := hdr["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
		if _, ok := hdr["Cache-Control"]; !ok {
			hdr["Cache-Control"] = []string{"no-cache"}
		}
	}
	target := string(h.target)
	m.url.Path = target
	m.ctx.parent = c.ctx
	m.ctx.conn = c
	c.req = &m.ctx
	// WithContext copies the request: the only way to set its context
	// without parsing the target again. The copy it makes on its way stays
	// on the stack, and the request lives in m with the rest.
	m.req = *(&http.Request{
		Method:     h.method,
		URL:        &m.url,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     hdr,
		Body:       http.NoBody,
		Host:       c.value("Host", h.host),
		RemoteAddr: c.remote,
		TLS:        c.tls,
		RequestURI: target,
		Close:      h.close,
	}).WithContext(&m.ctx)
	c.mark = len(c.w.out)
	c.w.reset(h.method == http.MethodHead, h.close)
	c.reqGen.Add(1)
	c.watch.Store(watchable)
	flushes := c.flushes
	c.l.handler.ServeHTTP(&c.w, &m.req)
	if c.stopWatch() {
		c.w.closeAfter = true // the client is gone
	}
	c.w.finish()
	if m.ctx.offer != nil {
		c.keep(m.ctx.offerID, m.ctx.offer, flushes)
	}
	m.ctx.cancel() // as net/http does once the handler returns
}

// reqMem is a request and what it points to, allocated together: one
// allocation where the request, its URL, its context and its header
// values would each take one.
type reqMem struct {
	req http.Request
	url url.URL
	ctx reqCtx
	// vals backs the header map's one-value slices.
	vals [8]string
}

// setState tells the serving http.Server's ConnState, if any.
func (c *conn) setState(st http.ConnState) {
	if f := c.l.connState; f != nil {
		f(c.nc, st)
	}
}

// value returns v as a string, reusing the previous request's string for
// the same header when the bytes are equal (a client sends the same Host,
// Authorization and User-Agent on every request). Only interned names
// come here, so the map stays small.
func (c *conn) value(name string, v []byte) string {
	if s, ok := c.last[name]; ok && s == string(v) {
		return s
	}
	s := string(v)
	c.last[name] = s
	return s
}

// flush writes the pending output and reports whether it went out.
func (c *conn) flush() bool {
	if len(c.w.out) == 0 {
		return true
	}
	_, err := c.wc.write(c.w.out)
	c.w.out = c.w.out[:0]
	c.mark = 0
	c.flushes++
	return err == nil
}
