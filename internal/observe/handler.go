package observe

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// Observer records every request a handler serves: in the metrics, and
// in the access log when Log is set.
type Observer struct {
	Metrics *Metrics
	Log     *AccessLog // nil: no access log
	// Ops are the operations' names, as given to NewMetrics.
	Ops []Operation
	// Offer, when set, is given every answer whose handler let it be
	// given again (Note.Still), with the request and its id, as a Replay
	// that records each repeat as this request is recorded (the fast
	// lane's encores, internal/fastlane). NewID makes the repeats'
	// request ids.
	Offer  func(r *http.Request, id string, p *Replay)
	NewID  func() string
	Wanted func(r *http.Request) bool // sets Note.Offerable
	// Traffic, when set, is told of every request that names a bucket:
	// the bucket, whether the answer showed it exists (see
	// Metrics.Request), the body bytes received and sent, and when it
	// ended (the console's traffic counters, internal/traffic).
	Traffic func(bucket string, exists bool, in, out int64, at time.Time)
}

// Wrap returns h observed. Both transports (the fast lane and net/http)
// serve this one handler, so both are observed alike. Per request it
// costs a pooled recorder, two clock reads and a few atomic adds; with
// the access log on, one line formatted into a pooled buffer.
func (o *Observer) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := recorders.Get().(*recorder)
		rec.ResponseWriter = w
		req := r
		if r.Body != nil && r.Body != http.NoBody {
			// A shallow copy: net/http answers "Expect: 100-continue"
			// by its own body reader, which r keeps.
			r2 := *r
			rec.body.r = r.Body
			r2.Body = &rec.body
			req = &r2
		}
		defer func() {
			// Recorded even when the handler panics (net/http recovers
			// and closes the connection): the request happened.
			o.record(rec, r, start, time.Since(start))
			if rec.note.Still != nil && o.Offer != nil && o.NewID != nil {
				o.Offer(r, rec.note.RequestID, &Replay{o: o, n: rec.note, method: r.Method, status: rec.Status(), out: rec.Written()})
			}
			*rec = recorder{}
			recorders.Put(rec)
		}()
		if o.Wanted != nil && o.Offer != nil {
			rec.note.Offerable = o.Wanted(r)
		}
		h.ServeHTTP(rec, req)
	})
}

// record notes a request that began at start and took d. Its end is
// start+d: one clock read per request fewer than time.Now.
func (o *Observer) record(rec *recorder, r *http.Request, start time.Time, d time.Duration) {
	o.note(&rec.note, r.RemoteAddr, r.Method, rec.Status(), rec.body.n, rec.Written(), start, d)
}

// Replay is an answer given again (Observer.Offer): each repeat is
// recorded as the request that first got it was, but for its request id,
// remote address, time and duration.
type Replay struct {
	o      *Observer
	n      Note
	method string
	status int
	out    int64
}

// Still reports whether the answer still holds.
func (p *Replay) Still(ctx context.Context) bool { return p.n.Still(ctx) }

// NewID returns a request id for a repeat.
func (p *Replay) NewID() string { return p.o.NewID() }

// Given records a repeat.
func (p *Replay) Given(remote, id string, start time.Time, d time.Duration) {
	n := p.n
	n.RequestID = id
	if p.o.Metrics != nil {
		p.o.Metrics.Repeated()
	}
	p.o.note(&n, remote, p.method, p.status, 0, p.out, start, d)
}

// Refused records an answer the HTTP server wrote by itself, with no
// handler run, to a request it could not read (a head over the size
// limit, a malformed request line): an anonymous request of the unknown
// operation, of no method (none could be read) and no bucket, with the
// request id requestID (not sent: the answer was not the server's to
// make), answered at the time of the call with status and body bytes. Its
// duration is 0, since when its head began is not known.
func (o *Observer) Refused(remote, requestID string, status int, out int64) {
	n := Note{RequestID: requestID}
	o.note(&n, remote, "", status, 0, out, time.Now(), 0)
}

// note records the request n describes, from remote, with its method,
// status, body bytes read and written, start and duration.
func (o *Observer) note(n *Note, remote, method string, status int, in, out int64, start time.Time, d time.Duration) {
	if o.Metrics != nil {
		o.Metrics.Request(n, status, in, out, d)
	}
	if o.Traffic != nil && n.Bucket != "" {
		o.Traffic(n.Bucket, !n.NoBucket && (status < 400 || status == http.StatusNotFound), in, out, start.Add(d))
	}
	if o.Log == nil {
		return
	}
	op := 0
	if n.Op > 0 && n.Op < len(o.Ops) {
		op = n.Op
	}
	principal := n.Principal
	if principal == "" {
		principal = "anonymous"
	}
	e := Entry{
		Time:      start.Add(d),
		RequestID: n.RequestID,
		Remote:    remote,
		Principal: principal,
		Token:     n.Token,
		Protocol:  o.Ops[op].Protocol(),
		Operation: o.Ops[op].Name,
		Method:    method,
		Bucket:    n.Bucket,
		Key:       n.Key,
		Status:    status,
		BytesIn:   in,
		BytesOut:  out,
		Duration:  d,
	}
	o.Log.Log(&e)
}

var recorders = sync.Pool{New: func() any { return new(recorder) }}

// recorder is the ResponseWriter the observed handler answers through:
// a StatusWriter that also counts the request body and carries the Note.
type recorder struct {
	StatusWriter
	body countingBody
	note Note
}

func (rec *recorder) Note() *Note { return &rec.note }

// StatusWriter is a ResponseWriter that notes the status of an answer and
// counts its body bytes. It passes every optional ability on: ReadFrom
// (sendfile for NARs) and Flush directly, the rest through Unwrap
// (http.ResponseController). Set ResponseWriter before use.
type StatusWriter struct {
	http.ResponseWriter
	status int // the final status; 0 until written
	out    int64
}

// Status is the answer's status: 200 when the handler wrote nothing.
func (sw *StatusWriter) Status() int {
	if sw.status == 0 {
		return http.StatusOK
	}
	return sw.status
}

// Written is the body bytes written.
func (sw *StatusWriter) Written() int64 { return sw.out }

func (sw *StatusWriter) WriteHeader(code int) {
	if sw.status == 0 && code >= 200 {
		sw.status = code
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *StatusWriter) Write(p []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	n, err := sw.ResponseWriter.Write(p)
	sw.out += int64(n)
	return n, err
}

// ReadFrom keeps the underlying writer's ReadFrom (sendfile for NARs).
func (sw *StatusWriter) ReadFrom(src io.Reader) (int64, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := sw.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{sw.ResponseWriter}, src)
	}
	sw.out += n
	return n, err
}

// Flush flushes the underlying writer, if it can.
func (sw *StatusWriter) Flush() { http.NewResponseController(sw.ResponseWriter).Flush() }

// Unwrap gives http.ResponseController the underlying writer.
func (sw *StatusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

// writerOnly hides a writer's ReadFrom, so io.Copy does not call back.
type writerOnly struct{ io.Writer }

// countingBody counts the request body bytes read.
type countingBody struct {
	r io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingBody) Close() error { return c.r.Close() }
