package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/s3api"
)

// bodyIdle is s3api.BodyIdle; tests shorten it.
var bodyIdle = s3api.BodyIdle

// completeQuiet is s3api.Handler.CompleteQuiet (0: its default); tests
// set it negative, so a completion answers as a slow one does.
var completeQuiet time.Duration

// boundBodies bounds the time a request body may keep a connection, and
// with it a goroutine and a descriptor, waiting for bytes that do not
// come. The S3 handler bounds the bodies it reads (a sliding deadline,
// s3api.BodyIdle); the /-/ namespace (the console's forms, the pins API)
// gets the same bound here. And after any handler returns, net/http reads
// what is left of a small body (up to 256 KiB) before it answers, to keep
// the connection, with no deadline of its own (the server sets no
// ReadTimeout, for bodies of gigabytes): a client refused before its body
// was read, or cut off by the sliding deadline (which clears itself when
// it fires), that then sent nothing more held its connection for good.
// That read now ends after BodyIdle too, and net/http closes the
// connection instead.
func boundBodies(next http.Handler) http.Handler {
	idle := bodyIdle
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		inner := r
		if strings.HasPrefix(r.URL.Path, "/-/") {
			inner = s3api.BoundRequest(w, r)
		}
		next.ServeHTTP(w, inner)
		// Set after the handler, so that it bounds net/http's own read;
		// net/http clears it before the connection's next request.
		http.NewResponseController(w).SetReadDeadline(time.Now().Add(idle))
	})
}
