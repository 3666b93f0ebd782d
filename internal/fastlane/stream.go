package fastlane

import (
	"net/http"
	"time"
)

// HTTP/2 multiplexes streams over one connection, and net/http serves
// them, so the bounds the Listener keeps on connections do not reach
// them: a client that grants no flow-control window (SETTINGS_INITIAL_
// WINDOW_SIZE 0) blocks every stream's handler in its first write for
// good, while the connection itself has nothing to write, so no
// connection write deadline fires; and one connection holds up to 250
// such handlers (net/http's MaxConcurrentStreams), so a connection cap of
// thousands let a stranger park millions of goroutines.
//
// boundStreams wraps the handler net/http runs HTTP/2 streams with: at
// most MaxConns streams run at once, the connections' own budget (a
// stream over it is answered 503 with no body, which needs no window),
// and a stream whose write makes no progress for WriteTimeout is reset,
// as a stalled connection is cut. Other requests go to h untouched.
func (l *Listener) boundStreams(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			h.ServeHTTP(w, r)
			return
		}
		if n := l.streams.Add(1); l.opts.MaxConns > 0 && n > int64(l.opts.MaxConns) {
			l.streams.Add(-1)
			l.warnCap("HTTP/2 stream cap reached: answering new streams 503")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		defer l.streams.Add(-1)
		sw := &streamWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: l.opts.WriteTimeout}
		h.ServeHTTP(sw, r)
		// What the handler left buffered goes out under the deadline too,
		// rather than in net/http's unbounded flush after we return.
		sw.FlushError()
	})
}

// Streams is how many HTTP/2 streams are being served.
func (l *Listener) Streams() int { return int(l.streams.Load()) }

// warnCap logs msg at most once a minute.
func (l *Listener) warnCap(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := time.Now(); now.Sub(l.capWarned) > time.Minute {
		l.capWarned = now
		l.opts.Log.Warn(msg, "cap", l.opts.MaxConns)
	}
}

// streamWriter gives each write of an HTTP/2 stream a deadline of its
// own, in pieces of writeChunk, so a reader slower than writeChunk per
// timeout is reset and a faster one is not, however long the response;
// between writes (a handler computing, waiting for an upstream) no
// deadline runs. A handler's explicit write deadline (ResponseController)
// replaces these until it clears it with the zero time.
type streamWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	fixed   bool
}

func (w *streamWriter) arm() {
	if !w.fixed {
		w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	}
}

func (w *streamWriter) disarm() {
	if !w.fixed {
		w.rc.SetWriteDeadline(time.Time{})
	}
}

func (w *streamWriter) Write(p []byte) (n int, err error) {
	w.arm()
	defer w.disarm()
	for len(p) > 0 {
		m, err := w.ResponseWriter.Write(p[:min(len(p), writeChunk)])
		n += m
		if err != nil {
			return n, err
		}
		p = p[m:]
		if len(p) > 0 {
			w.arm()
		}
	}
	return n, nil
}

// FlushError is what ResponseController.Flush calls.
func (w *streamWriter) FlushError() error {
	w.arm()
	defer w.disarm()
	return w.rc.Flush()
}

func (w *streamWriter) Flush() { w.FlushError() }

// SetWriteDeadline is a handler's own deadline (ResponseController).
func (w *streamWriter) SetWriteDeadline(t time.Time) error {
	w.fixed = !t.IsZero()
	return w.rc.SetWriteDeadline(t)
}

// Unwrap lets ResponseController reach net/http's writer for the rest
// (read deadlines, full duplex).
func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
