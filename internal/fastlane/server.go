// Package fastlane serves HTTP/1.1 for an http.Handler with less overhead
// than net/http on the requests a binary cache lives on: bodiless GETs
// and HEADs of narinfos, nix-cache-info and NARs, tens of thousands a
// second from Nix clients that keep their connections open.
//
// A Listener wraps a TCP listener. Each connection starts here: request
// heads are parsed by a deliberately narrow parser (see parseHead), and a
// request it accepts is served in place, the answer leaving in one write.
// What a handler or a client can tell is as under net/http (the tests
// named TestSame* compare the two): each request is new, with its own
// context carrying the http.Server and the local address, cancelled when
// the client goes away (a write fails, or the read side of a long
// request's connection ends: see watch.go), when the connection is closed
// and when the handler returns; 1xx answers leave at once; 2 KiB of a
// body of unknown length are held back to give it a Content-Length; a
// panic loses none of the answers produced before it; every temporary
// accept error is retried; the http.Server's hooks and error log apply
// (Options.Server). The first request it does not accept (a PUT, a query
// string, a body, anything unusual or malformed) hands the connection,
// with every byte read so far, to the Listener's Accept, so the
// http.Server serving the Listener takes it from there. The handler is
// the same, only its transport differs, and every error answer to a bad
// request still comes from net/http.
//
// The Listener also bounds every connection it accepts, whichever
// transport serves it: it counts them under Options.MaxConns (closing the
// longest idle first), gives a new one the header timeout to send its
// first request, and slides each one's write deadline with the client's
// progress (writeClock), so a client that stops reading is cut off.
//
// A handler may also offer its answer to be given again to identical
// requests without being run (Offer, encore.go): a public cache's repeated
// misses.
//
// bench/nix.sh measured why it exists: on 2 CPUs net/http alone spent
// about twice nginx's CPU per narinfo request.
package fastlane

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Options tune a Listener. Zero values take net/http's defaults where it
// has them.
type Options struct {
	// ReadHeaderTimeout bounds reading a request head, the first one
	// included (default 1 minute), IdleTimeout the wait for the next
	// request on a kept-alive connection (default 2 minutes).
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// WriteTimeout is how long a write may make no progress before the
	// connection is cut (default 2 minutes), on connections served here
	// and handed over alike; see writeClock.
	WriteTimeout time.Duration
	// MaxConns caps the open connections, served here and handed over
	// together (0: no cap). A connection over the cap first closes the
	// connections idle longest (waiting for a request, the first one
	// included); when none is idle it is closed at once.
	MaxConns int
	// Passthrough hands every connection to net/http as soon as it is
	// accepted: only the cap and the write deadlines apply.
	Passthrough bool
	Log         *slog.Logger
	// TLS, when set, makes every connection TLS: after the handshake an
	// HTTP/1.1 connection is served here as over TCP, one that chose
	// HTTP/2 by ALPN goes to net/http at once, and any connection handed
	// over keeps its ConnectionState, which net/http makes Request.TLS.
	// With Passthrough, net/http shakes hands itself.
	TLS *tls.Config
	// Server, when set, is the http.Server serving the Listener, and the
	// one source of what both transports share: its Handler (when
	// NewListener gets none), its ReadHeaderTimeout and IdleTimeout (when
	// the fields above are zero), and, for connections served here too,
	// its BaseContext, ConnContext, ConnState and ErrorLog. NewListener
	// replaces its ConnState with one that calls the Listener's ConnState
	// and then the original, so set ConnState before, and its Handler with
	// one that bounds the HTTP/2 streams net/http serves (see
	// boundStreams), so set Handler before too.
	Server *http.Server
	// Refused, when set, is told of every answer net/http writes by
	// itself, with no handler run, to a request it could not read on a
	// connection handed over (a head over its size limit, a malformed
	// request line or header, an unsupported version or transfer
	// coding), so that they are logged and counted like every other
	// answer: the client's address, the status and the body bytes of the
	// answer. Not with Passthrough and TLS: net/http's answers are then
	// written through its own TLS connection, unseen.
	Refused func(remote net.Addr, status int, body int64)
}

// Listener serves connections for a handler itself and passes on, through
// Accept, those it hands over.
type Listener struct {
	ln      net.Listener
	handler http.Handler
	opts    Options

	mu    sync.Mutex
	conns map[member]struct{} // open connections, served here or handed over
	// capWarned is when the log last said that new connections are closed.
	capWarned time.Time
	closing   atomic.Bool
	streams   atomic.Int64 // HTTP/2 streams being served (boundStreams)
	encores   encores      // answers kept for repeats (encore.go)

	handover chan net.Conn
	done     chan struct{}
	once     sync.Once
	errMu    sync.Mutex
	err      error // what stopped the accept loop

	// From Options.Server: the context connections start from, and the
	// hooks net/http would run for them.
	baseCtx   context.Context
	connCtx   func(context.Context, net.Conn) context.Context
	connState func(net.Conn, http.ConnState)
	errorLog  *log.Logger
}

// NewListener starts serving connections from ln with h. Serve the
// returned Listener with an http.Server whose Handler is h too and whose
// ConnState calls the Listener's ConnState (the cap needs it to tell which
// handed-over connections are idle): Options.Server does both.
func NewListener(ln net.Listener, h http.Handler, opts Options) *Listener {
	baseCtx := context.Background()
	l := &Listener{ln: ln} // what BaseContext may ask for
	if srv := opts.Server; srv != nil {
		if h == nil {
			h = srv.Handler
		}
		if opts.ReadHeaderTimeout <= 0 {
			opts.ReadHeaderTimeout = cmp.Or(srv.ReadHeaderTimeout, srv.ReadTimeout)
		}
		if opts.IdleTimeout <= 0 {
			opts.IdleTimeout = cmp.Or(srv.IdleTimeout, srv.ReadTimeout)
		}
		if srv.BaseContext != nil {
			if baseCtx = srv.BaseContext(l); baseCtx == nil {
				panic("BaseContext returned a nil context")
			}
		}
		baseCtx = context.WithValue(baseCtx, http.ServerContextKey, srv)
		l.connCtx, l.connState, l.errorLog = srv.ConnContext, srv.ConnState, srv.ErrorLog
		srv.ConnState = func(nc net.Conn, st http.ConnState) {
			l.ConnState(nc, st)
			if l.connState != nil {
				l.connState(nc, st)
			}
		}
		srv.Handler = l.boundStreams(h)
		if opts.Refused != nil {
			srv.ConnContext = l.markConns(srv.ConnContext)
			srv.Handler = markHandled(srv.Handler)
		}
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = time.Minute
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 2 * time.Minute
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 2 * time.Minute
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	l.handler, l.opts, l.baseCtx = h, opts, baseCtx
	l.conns = map[member]struct{}{}
	l.handover = make(chan net.Conn)
	l.done = make(chan struct{})
	go l.acceptLoop()
	if !opts.Passthrough {
		go l.sweep()
	}
	return l
}

func (l *Listener) acceptLoop() {
	var backoff time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if l.closing.Load() {
				return
			}
			// As net/http does: every temporary error (EMFILE, ENFILE,
			// ECONNABORTED, a timeout...) is retried, backing off from 5ms
			// to a second.
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				l.logf("http: Accept error: %v; retrying in %v", err, backoff)
				time.Sleep(backoff)
				continue
			}
			l.errMu.Lock()
			l.err = err
			l.errMu.Unlock()
			l.Close()
			return
		}
		backoff = 0
		tc, ok := nc.(*net.TCPConn)
		if !ok {
			if l.opts.TLS != nil { // never plain on a TLS port
				nc = tls.Server(nc, l.opts.TLS)
			}
			l.deliver(nc)
			continue
		}
		if l.opts.Passthrough {
			pc := newPrefixConn(l, tc, tc, nil)
			if !l.track(pc) {
				nc.Close()
				continue
			}
			if l.opts.TLS != nil {
				// net/http shakes hands itself; the writes of its
				// *tls.Conn go through pc's clock.
				l.deliver(tls.Server(pc, l.opts.TLS))
			} else {
				l.deliver(pc)
			}
			continue
		}
		c := newConn(l, tc)
		if !l.track(c) {
			nc.Close()
			continue
		}
		c.setState(http.StateNew)
		go c.serve()
	}
}

// Accept returns the next connection handed over to net/http.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.handover:
		return c, nil
	case <-l.done:
		l.errMu.Lock()
		defer l.errMu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

// deliver passes c to Accept, or closes it once the Listener is closed.
func (l *Listener) deliver(c net.Conn) {
	select {
	case l.handover <- c:
	case <-l.done:
		c.Close()
	}
}

// logf logs what net/http would log to the serving http.Server's
// ErrorLog, where that log would go.
func (l *Listener) logf(format string, args ...any) {
	switch {
	case l.errorLog != nil:
		l.errorLog.Printf(format, args...)
	case l.opts.Server != nil:
		log.Printf(format, args...)
	default:
		l.opts.Log.Warn(fmt.Sprintf(format, args...))
	}
}

// Addr is the wrapped listener's address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close stops accepting and closes the connections waiting for a request;
// those serving one close when it is answered. http.Server.Shutdown calls
// it; Shutdown also waits for them.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		l.closing.Store(true)
		err = l.ln.Close()
		close(l.done)
	})
	l.closeIdle()
	return err
}

// Shutdown closes the Listener and waits, within ctx, until every
// connection served here is closed.
func (l *Listener) Shutdown(ctx context.Context) error {
	l.Close()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for l.closeIdle() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// track counts a new connection, making room under the cap; false means
// it must be closed.
func (l *Listener) track(m member) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing.Load() {
		return false
	}
	if !l.makeRoom() {
		if now := time.Now(); now.Sub(l.capWarned) > time.Minute {
			l.capWarned = now
			l.opts.Log.Warn("connection cap reached and no connection idle: closing new ones", "cap", l.opts.MaxConns)
		}
		return false
	}
	l.conns[m] = struct{}{}
	return true
}

func (l *Listener) untrack(m member) {
	l.mu.Lock()
	delete(l.conns, m)
	l.mu.Unlock()
}

// replace swaps a connection for its handed-over self, so the count never
// dips.
func (l *Listener) replace(old, m member) {
	l.mu.Lock()
	delete(l.conns, old)
	l.conns[m] = struct{}{}
	l.mu.Unlock()
}

// closeIdle closes the connections waiting for a request and returns how
// many remain.
func (l *Listener) closeIdle() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for m := range l.conns {
		if m.closeIfIdle() {
			delete(l.conns, m)
		}
	}
	return len(l.conns)
}

// Conns returns how many connections are open, served here or handed
// over.
func (l *Listener) Conns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Cut closes every connection still open, requests in flight and all, and
// returns how many it closed: what a graceful stop does once its grace is
// over.
func (l *Listener) Cut() int {
	l.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.conns)
	for m := range l.conns {
		m.cut()
		delete(l.conns, m)
	}
	return n
}

// ConnState follows net/http's view of the connections handed over, so
// those idle between requests can be closed to make room. Set it as the
// serving http.Server's ConnState.
func (l *Listener) ConnState(nc net.Conn, st http.ConnState) {
	pc := handedOver(nc)
	if pc == nil {
		return
	}
	switch st {
	case http.StateActive:
		// net/http has read (some of) a request, which no handler has
		// answered yet (see markHandled).
		pc.handled.Store(false)
		pc.state.CompareAndSwap(stateIdle, stateActive)
	case http.StateIdle:
		// The answer is out. The next request may be read from what
		// net/http buffered, with no StateActive before its refusal.
		pc.handled.Store(false)
		pc.idleSince.Store(time.Now().UnixNano())
		pc.state.CompareAndSwap(stateActive, stateIdle)
	}
}

// handedOver returns the connection handed over under nc, which net/http
// serves: nc itself, or a *tls.Conn over it; nil for another.
func handedOver(nc net.Conn) *prefixConn {
	if tc, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = tc.NetConn() // a *tls.Conn over a connection from here
	}
	switch c := nc.(type) {
	case *prefixConn:
		return c
	case *tlsPrefixConn:
		return c.prefixConn
	}
	return nil
}
