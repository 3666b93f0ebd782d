package fastlane

import (
	"io"
	"net"
	"net/http"
	"net/textproto"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Buffer sizes: stageSize body bytes are held back so a response that
// ends within them gets a Content-Length (as net/http holds 2,048); out
// collects what goes to the wire, so a small response leaves in one write.
const (
	stageSize = 2 << 10
	outSize   = 8 << 10
	sniffLen  = 512 // what http.DetectContentType looks at
)

// response is the http.ResponseWriter of a request served here. It
// follows net/http's rules: headers are fixed at WriteHeader, a missing
// Content-Type is sniffed and a missing Date added, a body that ends
// within stageSize gets a Content-Length, a longer one without it is
// chunked, HEAD bodies are counted and dropped, and a body that breaks its
// own Content-Length closes the connection.
type response struct {
	c           *conn
	header      http.Header
	status      int
	isHead      bool
	wroteHeader bool  // the status is fixed
	sentHead    bool  // the head is in out (or on the wire)
	declared    int64 // Content-Length set by the handler, or -1
	written     int64
	chunked     bool
	badLength   bool // the handler's Content-Length was invalid
	closeAfter  bool
	noType      bool // no Content-Type and no Content-Encoding: sniff one
	noDate      bool
	err         error // the first write error: the connection is done
	fields      []byte
	stage       []byte
	out         []byte
}

func (w *response) reset(isHead, closeAfter bool) {
	clear(w.header)
	if w.c.wc.fixed {
		w.c.wc.set(time.Time{}) // back to the sliding deadline
	}
	w.status = 0
	w.isHead = isHead
	w.wroteHeader, w.sentHead, w.chunked, w.badLength = false, false, false, false
	w.declared, w.written = -1, 0
	w.closeAfter = closeAfter
	w.err = nil
	w.fields = w.fields[:0]
	w.stage = w.stage[:0]
	if w.stage == nil {
		w.stage = make([]byte, 0, stageSize)
		w.out = make([]byte, 0, outSize)
	}
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.wroteHeader {
		caller := relevantCaller()
		w.c.l.logf("http: superfluous response.WriteHeader call from %s (%s:%d)", caller.Function, path.Base(caller.File), caller.Line)
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		// An informational answer goes out at once, and the real one
		// follows. As net/http, it carries the handler's fields so far,
		// but no body framing.
		w.out = appendStatus(w.out, code)
		w.out = appendFields(w.out, w.header, "Content-Length", "Transfer-Encoding")
		w.out = append(w.out, "\r\n"...)
		w.flushOut()
		return
	}
	w.wroteHeader = true
	w.status = code
	h := w.header
	if cl := h["Content-Length"]; len(cl) > 0 {
		v, err := strconv.ParseInt(cl[0], 10, 64)
		if len(cl) == 1 && err == nil && v >= 0 {
			w.declared = v
		} else {
			w.c.l.logf("http: invalid Content-Length of %q", cl[0])
			delete(h, "Content-Length")
			w.badLength = true
		}
	}
	if v, ok := h["Connection"]; ok && len(v) > 0 && strings.EqualFold(v[0], "close") {
		w.closeAfter = true
	}
	_, hasType := h["Content-Type"]
	w.noType = !hasType && h.Get("Content-Encoding") == ""
	_, hasDate := h["Date"]
	w.noDate = !hasDate
	// The snapshot of the handler's fields, as net/http takes one.
	w.fields = appendFields(w.fields, h)
}

// relevantCaller is the first caller outside the response writer and
// net/http, as net/http names it when it logs a misuse.
func relevantCaller() runtime.Frame {
	pc := make([]uintptr, 16)
	n := runtime.Callers(1, pc)
	frames := runtime.CallersFrames(pc[:n])
	var frame runtime.Frame
	for more := true; more; {
		frame, more = frames.Next()
		if !strings.HasPrefix(frame.Function, "net/http.") && !strings.Contains(frame.Function, "fastlane.(*response).") &&
			!strings.HasSuffix(frame.Function, "fastlane.relevantCaller") {
			return frame
		}
	}
	return frame
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified && status >= 200
}

func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if w.isHead {
		if room := stageSize - len(w.stage); room > 0 {
			w.stage = append(w.stage, p[:min(room, len(p))]...)
		}
		return len(p), nil
	}
	if !w.sentHead {
		if len(w.stage)+len(p) <= stageSize {
			w.stage = append(w.stage, p...)
			return len(p), nil
		}
		w.sendHead(false, p)
	}
	w.body(p)
	return len(p), w.err
}

// sendHead appends the status line and header fields to out. final says
// the handler has returned, so everything written is in stage; next is
// the body bytes about to follow stage, sniffed with it.
func (w *response) sendHead(final bool, next []byte) {
	w.sentHead = true
	if w.c.l.closing.Load() {
		w.closeAfter = true
	}
	w.out = appendStatus(w.out, w.status)
	w.out = append(w.out, w.fields...)
	allowed := bodyAllowed(w.status)
	if w.declared < 0 && allowed {
		switch {
		case w.badLength:
			// As net/http: a body whose handler set an invalid length
			// gets none computed. (A HEAD then gets no length: net/http
			// sends the invalid one.)
			if !w.isHead {
				w.chunked = true
				w.out = append(w.out, "Transfer-Encoding: chunked\r\n"...)
			}
		case final && !w.isHead, final && w.written > 0 && w.written <= stageSize:
			// Like net/http, a HEAD gets the length of a body it wrote
			// only if the body fit the buffer.
			w.out = append(w.out, "Content-Length: "...)
			w.out = strconv.AppendInt(w.out, w.written, 10)
			w.out = append(w.out, "\r\n"...)
		case !final && !w.isHead:
			w.chunked = true
			w.out = append(w.out, "Transfer-Encoding: chunked\r\n"...)
		}
	}
	if w.noType && allowed && len(w.stage)+len(next) > 0 {
		sniff := w.stage
		if len(sniff) < sniffLen && len(next) > 0 {
			var b [sniffLen]byte
			n := copy(b[:], sniff)
			n += copy(b[n:], next)
			sniff = b[:n]
		}
		w.out = append(w.out, "Content-Type: "...)
		w.out = append(w.out, http.DetectContentType(sniff)...)
		w.out = append(w.out, "\r\n"...)
	}
	if w.noDate {
		w.out = append(w.out, "Date: "...)
		w.out = append(w.out, httpDate()...)
		w.out = append(w.out, "\r\n"...)
	}
	if w.closeAfter {
		if _, ok := w.header["Connection"]; !ok {
			w.out = append(w.out, "Connection: close\r\n"...)
		}
	}
	w.out = append(w.out, "\r\n"...)
	if !w.isHead && allowed && len(w.stage) > 0 {
		stage := w.stage
		w.stage = w.stage[:0]
		w.body(stage)
	}
}

// body sends body bytes after the head, chunk-framed when chunked.
func (w *response) body(p []byte) {
	if len(p) == 0 || w.err != nil {
		return
	}
	if w.chunked {
		w.out = strconv.AppendInt(w.out, int64(len(p)), 16)
		w.out = append(w.out, "\r\n"...)
		w.emit(p)
		w.out = append(w.out, "\r\n"...)
		return
	}
	w.emit(p)
}

// emit queues p in out, writing out (and p, when big) when it is full.
func (w *response) emit(p []byte) {
	if len(w.out)+len(p) <= cap(w.out) {
		w.out = append(w.out, p...)
		return
	}
	err := w.c.wc.writev(w.out, p)
	w.out = w.out[:0]
	w.c.mark = 0
	w.c.flushes++
	w.fail(err)
}

// fail records the first write error: the client is gone, so the
// request's context is cancelled, as net/http's is once its connection
// reader sees the end.
func (w *response) fail(err error) {
	if err != nil && w.err == nil {
		w.err = err
		w.closeAfter = true
		if w.c.req != nil {
			w.c.req.cancel()
		}
	}
}

// ReadFrom sends a body of known length straight from src (sendfile for a
// file), as net/http does, on every call: a handler that sends a body in
// spans as it becomes available (a pull-through NAR still downloading)
// calls it once per span, and only the first sends the head.
func (w *response) ReadFrom(src io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.isHead || w.declared < 0 || w.noType || w.chunked || !bodyAllowed(w.status) {
		return io.CopyBuffer(writerOnly{w}, src, make([]byte, 32<<10))
	}
	if !w.sentHead {
		w.sendHead(false, nil)
	}
	if !w.flushOut() {
		return 0, w.err
	}
	n, err := w.c.wc.readFrom(src)
	w.written += n
	if err != nil {
		w.fail(err)
	}
	return n, err
}

// writerOnly hides ReadFrom, so io.Copy uses Write.
type writerOnly struct{ io.Writer }

func (w *response) flushOut() bool {
	if w.err == nil && !w.c.flush() {
		w.fail(net.ErrClosed)
	}
	return w.err == nil
}

// Flush sends what the handler wrote so far; a response of unknown length
// becomes chunked.
func (w *response) Flush() { w.FlushError() }

func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sentHead && !w.isHead {
		w.sendHead(false, nil)
	}
	w.flushOut()
	return w.err
}

func (w *response) SetReadDeadline(t time.Time) error  { return w.c.nc.SetReadDeadline(t) }
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.wc.set(t) }

// finish completes the response after the handler returns.
func (w *response) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sentHead {
		w.sendHead(true, nil)
	}
	if w.chunked {
		w.out = append(w.out, "0\r\n\r\n"...)
	}
	if w.declared >= 0 && w.written != w.declared && !w.isHead && bodyAllowed(w.status) {
		w.closeAfter = true // the body broke its own framing
	}
}

func appendStatus(b []byte, code int) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	if text := http.StatusText(code); text != "" {
		return append(append(b, text...), "\r\n"...)
	}
	b = append(b, "status code "...)
	b = strconv.AppendInt(b, int64(code), 10)
	return append(b, "\r\n"...)
}

// appendFields appends h as header lines, sorted by name, skipping
// invalid names and turning line breaks in values into spaces, as
// net/http does.
func appendFields(b []byte, h http.Header, skip ...string) []byte {
	var keys [32]string
	names := keys[:0]
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if !validFieldName(k) || slices.Contains(skip, k) {
			continue
		}
		for _, v := range h[k] {
			b = appendField(b, k, textproto.TrimString(v))
		}
	}
	return b
}

func appendField[T string | []byte](b []byte, k string, v T) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	n := len(b)
	b = append(b, v...)
	for i := n; i < len(b); i++ {
		if b[i] == '\r' || b[i] == '\n' {
			b[i] = ' '
		}
	}
	return append(b, "\r\n"...)
}

func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := range len(k) {
		if !tokenChar[k[i]] {
			return false
		}
	}
	return true
}

// httpDate returns the Date header's value, formatted once a second.
func httpDate() []byte {
	now := time.Now()
	if d := cachedDate.Load(); d != nil && d.sec == now.Unix() {
		return d.b
	}
	d := &date{sec: now.Unix(), b: now.UTC().AppendFormat(nil, http.TimeFormat)}
	cachedDate.Store(d)
	return d.b
}

type date struct {
	sec int64
	b   []byte
}

var cachedDate atomic.Pointer[date]
