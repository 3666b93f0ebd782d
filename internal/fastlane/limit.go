package fastlane

import (
	"cmp"
	"slices"
)

// member is an open connection the Listener counts: one served here
// (*conn) or one handed over to net/http (*prefixConn).
type member interface {
	// closeIfIdle closes the connection if it is waiting for a request
	// and reports whether it did.
	closeIfIdle() bool
	// idle reports whether it waits for a request, and since when
	// (unix nanoseconds).
	idle() (bool, int64)
	// cut closes it whatever it is doing.
	cut()
}

// evictBatch is how many idle connections, at most, one connection over
// the cap closes: a flood of new connections scans and sorts the open
// ones once per batch rather than once per connection.
func (l *Listener) evictBatch() int { return max(1, l.opts.MaxConns/64) }

// makeRoom reports whether one more connection fits under the cap,
// closing the connections idle longest to make room. l.mu is held.
func (l *Listener) makeRoom() bool {
	if l.opts.MaxConns <= 0 || len(l.conns) < l.opts.MaxConns {
		return true
	}
	type candidate struct {
		m     member
		since int64
	}
	var idle []candidate
	for m := range l.conns {
		if ok, since := m.idle(); ok {
			idle = append(idle, candidate{m, since})
		}
	}
	if n := l.evictBatch(); len(idle) > n {
		slices.SortFunc(idle, func(a, b candidate) int { return cmp.Compare(a.since, b.since) })
		idle = idle[:n]
	}
	evicted := 0
	for _, c := range idle {
		if c.m.closeIfIdle() {
			delete(l.conns, c.m)
			evicted++
		}
	}
	if evicted > 0 {
		l.opts.Log.Debug("connection cap reached: closed idle connections", "closed", evicted, "cap", l.opts.MaxConns)
	}
	return len(l.conns) < l.opts.MaxConns
}

// closeIfIdle and cut close the TCP connection itself, never TLS over it:
// they run under the Listener's lock, which closing the TLS connection's
// socket takes (see socket), and TLS's Close may wait to send an alert.
func (c *conn) closeIfIdle() bool {
	if c.state.CompareAndSwap(stateIdle, stateClosed) {
		c.tc.Close()
		return true
	}
	return false
}

func (c *conn) idle() (bool, int64) {
	return c.state.Load() == stateIdle, c.idleSince.Load()
}

func (c *conn) cut() {
	c.state.Store(stateClosed)
	c.cancelConn() // the handler's request context too
	c.tc.Close()
}

func (c *prefixConn) closeIfIdle() bool {
	if c.state.CompareAndSwap(stateIdle, stateClosed) {
		c.tc.Close()
		return true
	}
	return false
}

func (c *prefixConn) idle() (bool, int64) {
	return c.state.Load() == stateIdle, c.idleSince.Load()
}

func (c *prefixConn) cut() {
	c.state.Store(stateClosed)
	c.tc.Close()
}
