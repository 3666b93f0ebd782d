package server

import (
	"io"
	"log/slog"
	"net/http"
	"time"
)

// logRequests wraps h so that every request is logged at debug level once
// answered: method, path, status, body bytes, duration, remote address and
// the key or token id it claimed. Both transports (the fast lane and
// net/http) serve the same handler, so both are logged. The server wraps
// its handler only when the logger is at debug level when it opens, so
// the requests of a server not logging them pay nothing.
func logRequests(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		lw := &loggedResponse{w: w}
		defer func() {
			status := lw.status
			if status == 0 {
				status = http.StatusOK
			}
			attrs := []slog.Attr{
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Int64("bytes", lw.bytes),
				slog.Duration("duration", time.Since(start)),
				slog.String("remote", r.RemoteAddr),
			}
			switch c := claimedCredential(r); {
			case c.token != "":
				attrs = append(attrs, slog.String("token_id", c.token))
			case c.key != "":
				attrs = append(attrs, slog.String("key_id", c.key))
			}
			log.LogAttrs(r.Context(), slog.LevelDebug, "request", attrs...)
		}()
		h.ServeHTTP(lw, r)
	})
}

// loggedResponse counts what a handler answers. It passes every optional
// ability on: ReadFrom (sendfile) and Flush directly, the rest through
// Unwrap (http.ResponseController).
type loggedResponse struct {
	w      http.ResponseWriter
	status int // the final status; 0 until written
	bytes  int64
}

func (l *loggedResponse) Header() http.Header { return l.w.Header() }

func (l *loggedResponse) WriteHeader(code int) {
	if l.status == 0 && code >= 200 {
		l.status = code
	}
	l.w.WriteHeader(code)
}

func (l *loggedResponse) Write(p []byte) (int, error) {
	if l.status == 0 {
		l.status = http.StatusOK
	}
	n, err := l.w.Write(p)
	l.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the underlying writer's ReadFrom (sendfile for NARs).
func (l *loggedResponse) ReadFrom(src io.Reader) (int64, error) {
	if l.status == 0 {
		l.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := l.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{l.w}, src)
	}
	l.bytes += n
	return n, err
}

// Flush flushes the underlying writer, if it can.
func (l *loggedResponse) Flush() { http.NewResponseController(l.w).Flush() }

// Unwrap gives http.ResponseController the underlying writer.
func (l *loggedResponse) Unwrap() http.ResponseWriter { return l.w }

// writerOnly hides a writer's ReadFrom, so io.Copy does not call back.
type writerOnly struct{ io.Writer }
