package fastlane

import (
	"time"
)

// A handler that runs long gets its connection's read side watched, as
// net/http watches every request's (its connReader's background read):
// a client that goes away cancels the request's context even when the
// handler is not writing (a pull-through waiting for its upstream).
// Watching costs a goroutine and two deadline changes, too much for every
// narinfo request, so only requests still running after a sweep of the
// Listener (every watchEvery) are watched: cancellation comes at most
// about twice that late.
const watchEvery = 100 * time.Millisecond

// Watch states of a connection.
const (
	watchOff     int32 = iota // no handler running
	watchable                 // a handler runs, unwatched
	watching                  // a goroutine reads the connection
	watchStopped              // the handler returned: the read is being aborted
)

// aLongTimeAgo is a deadline that has passed, to abort a read.
var aLongTimeAgo = time.Unix(1, 0)

// sweep starts a watch on each connection whose handler has run since the
// previous sweep, until the Listener closes.
func (l *Listener) sweep() {
	tick := time.NewTicker(watchEvery)
	defer tick.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-tick.C:
		}
		l.mu.Lock()
		for m := range l.conns {
			if c, ok := m.(*conn); ok {
				c.maybeWatch()
			}
		}
		l.mu.Unlock()
	}
}

// maybeWatch starts a watch if the same request was running at the
// previous sweep. Only the sweeper calls it.
func (c *conn) maybeWatch() {
	gen := c.reqGen.Load()
	if c.watch.Load() != watchable || gen != c.sweptGen {
		c.sweptGen = gen
		return
	}
	if c.watch.CompareAndSwap(watchable, watching) {
		go c.readWatch()
	}
}

// readWatch reads the connection while the handler runs. A byte read is
// kept for the next request; an error other than the abort means the
// client is gone, and cancels the request.
func (c *conn) readWatch() {
	defer func() { c.watchDone <- struct{}{} }()
	// Under net/http no read deadline runs while a handler does.
	c.nc.SetReadDeadline(time.Time{})
	if c.watch.Load() != watching {
		return
	}
	n, err := c.nc.Read(c.peek[:])
	c.peekN = n
	if n == 0 && err != nil && c.watch.Load() == watching {
		c.peerGone = true
		c.req.cancel()
	}
}

// stopWatch ends the watch of the request whose handler returned, and
// reports whether the client went away meanwhile.
func (c *conn) stopWatch() bool {
	if c.watch.CompareAndSwap(watchable, watchOff) || c.watch.Load() != watching {
		return false // unwatched (or no handler ran: a panic elsewhere)
	}
	c.watch.Store(watchStopped)
	c.nc.SetReadDeadline(aLongTimeAgo)
	<-c.watchDone
	c.watch.Store(watchOff)
	c.nc.SetReadDeadline(c.deadline)
	gone := c.peerGone
	c.peerGone = false
	return gone
}

// takePeek moves a byte the watch read into the read buffer.
func (c *conn) takePeek() {
	if c.peekN == 0 {
		return
	}
	if c.end == len(c.buf) {
		c.end = copy(c.buf, c.buf[c.start:c.end])
		c.start = 0
	}
	c.buf[c.end] = c.peek[0]
	c.end++
	c.peekN = 0
}
