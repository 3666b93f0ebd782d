// Package observe is what an operator sees of a running server: Prometheus
// metrics on a registry of the server's own, and the access log, one line
// per request, written off the request's path.
//
// Both are fed by one middleware (Observer.Wrap) around the server's
// handler. The handler tells the middleware what a request was (its
// operation, bucket, principal) by filling in the Note it finds on its
// ResponseWriter (NoteOf), so that nothing is parsed twice; the
// middleware adds what it measures itself (status, bytes, duration).
//
// The binary-cache read path must stay as fast as without metrics, so a
// request costs a few atomic adds: the label values are resolved once
// into fixed tables indexed by operation, bucket slot and status class,
// never looked up by name per request.
package observe

import (
	"context"
	"net/http"
)

// Operation is one kind of request the metrics tell apart: its name (an
// S3 operation such as GetObject, or a binary-cache read such as Narinfo)
// and whether it is the Nix protocol.
type Operation struct {
	Name string
	Nix  bool
}

// Protocol is the protocol label of an operation: "nix" or "s3".
func (o Operation) Protocol() string {
	if o.Nix {
		return "nix"
	}
	return "s3"
}

// Note is what the handler serving a request learned about it, for the
// metrics and the access log. The zero Note is an anonymous request of
// operation 0 (the caller's "unknown") on no bucket.
type Note struct {
	Op        int    // index into the operations given to NewMetrics
	Bucket    string // "" when the request names none
	Key       string
	RequestID string // the x-amz-request-id sent to the client
	Principal string // the user name; "" for anonymous
	Token     string // the token id, when a token was used
	// NoBucket says the bucket does not exist: the request is counted
	// under the "other" bucket and never takes a bucket label of its own.
	NoBucket bool
	// Narinfo marks a read (GET or HEAD) of a narinfo, counted as a hit
	// or a miss.
	Narinfo bool
	// Uploads is +1 when the request began a multipart upload, -1 when it
	// completed or aborted one.
	Uploads int8
	// Offerable says, before the handler runs, that the transport would
	// keep this request's answer for repeats (Observer.Wanted); Still,
	// set by the handler then, says its answer may be given again as it
	// is to requests identical to this one for as long as Still reports
	// true (see Observer.Offer).
	Offerable bool
	Still     func(ctx context.Context) bool
}

// Noter is implemented by the ResponseWriter that Observer.Wrap hands
// the wrapped handler: the Note of the request being served.
type Noter interface {
	Note() *Note
}

// NoteOf returns the Note of the request w answers, or nil when w does
// not come from Observer.Wrap (tests, the metrics off). It is one type
// assertion, and allocates nothing.
func NoteOf(w http.ResponseWriter) *Note {
	if n, ok := w.(Noter); ok {
		return n.Note()
	}
	return nil
}
