package s3api

import (
	"io"
	"net/http"
	"time"
)

// serveContent is http.ServeContent, except that the answer keeps its
// Content-Length when the object has a Content-Encoding. ServeContent
// drops Content-Length whenever Content-Encoding is set (it cannot know
// whether a handler will compress what it writes), so such an object would
// go out chunked, and S3 clients check the length they get against the
// object's size. The encoding is held back until ServeContent writes the
// status, after it has set the length.
func serveContent(w http.ResponseWriter, r *http.Request, content io.ReadSeeker) {
	h := w.Header()
	enc, ok := h["Content-Encoding"]
	if !ok {
		http.ServeContent(w, r, "", time.Time{}, content)
		return
	}
	delete(h, "Content-Encoding")
	http.ServeContent(&encodingWriter{ResponseWriter: w, enc: enc}, r, "", time.Time{}, content)
}

// encodingWriter puts Content-Encoding back as the status is written.
type encodingWriter struct {
	http.ResponseWriter
	enc  []string
	done bool
}

func (w *encodingWriter) WriteHeader(status int) {
	if !w.done {
		w.done = true
		if status < 300 { // not on a 416 ServeContent writes itself
			w.Header()["Content-Encoding"] = w.enc
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *encodingWriter) Write(p []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// ReadFrom keeps the underlying writer's sendfile path.
func (w *encodingWriter) ReadFrom(r io.Reader) (int64, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return io.Copy(w.ResponseWriter, r)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *encodingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
