package s3api

import (
	"net/http"
	"strings"

	"github.com/nixbucket/nixbucket/internal/observe"
)

// What the metrics and the access log learn from the S3 front end: each
// request's operation, bucket, key, request id and principal, written
// into the observe.Note of its ResponseWriter (see internal/observe).
// Operations are numbered once, at start, so that a request sets an
// index, never a name looked up.

// The binary-cache reads, told apart from S3's GetObject and HeadObject
// when they come over the Nix read path, and the uploads of
// `nix copy --to http://…`, told apart from PutObject (see noteNix).
const (
	opCacheInfo = "CacheInfo"
	opNarinfo   = "Narinfo"
	opNar       = "Nar"
	opListing   = "Listing"
	opLog       = "Log"
	// putPrefix names the upload of each: PutNarinfo, PutNar, …
	putPrefix = "Put"
	// opUnknown is a request that reached no operation: a malformed
	// query, or a method S3 has none for (405).
	opUnknown = "Unknown"
)

// operations lists every operation the front end reports: opUnknown
// first (index 0, the zero Note), then the rows of routes, ListObjectsV2
// (routed as ListObjects), then the binary-cache reads. opIndex maps
// names to indexes. Both are built by init, after routes (whose handlers
// refer to the indexes below).
var (
	operations []observe.Operation
	opIndex    map[string]int
)

// Indexes of the operations a request's note changes to after routing.
var (
	opListV2, opGet, opHead, opPut int
	nixOps                         [5]int // CacheInfo, Narinfo, Nar, Listing, Log
	nixPuts                        [5]int // their uploads, in the same order
)

// nixNames are the binary-cache operations, in nixOps' order.
var nixNames = [...]string{opCacheInfo, opNarinfo, opNar, opListing, opLog}

func init() {
	operations = []observe.Operation{{Name: opUnknown}}
	opIndex = map[string]int{opUnknown: 0}
	add := func(name string, nix bool) {
		if _, ok := opIndex[name]; !ok {
			opIndex[name] = len(operations)
			operations = append(operations, observe.Operation{Name: name, Nix: nix})
		}
	}
	for _, r := range routes {
		add(r.op, false)
	}
	add("ListObjectsV2", false)
	for _, n := range nixNames {
		add(n, true)
	}
	for _, n := range nixNames {
		add(putPrefix+n, true)
	}
	opListV2, opGet, opHead, opPut = opIndex["ListObjectsV2"], opIndex["GetObject"], opIndex["HeadObject"], opIndex["PutObject"]
	for i, n := range nixNames {
		nixOps[i], nixPuts[i] = opIndex[n], opIndex[putPrefix+n]
	}
	routeIndex = indexRoutes()
}

// Operations returns the operations the front end notes requests as:
// Note.Op indexes it. The caller may append its own.
func Operations() []observe.Operation {
	return append([]observe.Operation(nil), operations...)
}

// uploadsDelta is what a successful operation does to the number of
// multipart uploads open.
var uploadsDelta = map[string]int8{
	"CreateMultipartUpload":   1,
	"CompleteMultipartUpload": -1,
	"AbortMultipartUpload":    -1,
}

// noteOf returns the note of the request w answers; requests served
// without the observer (tests) write into a note of their own.
func noteOf(w http.ResponseWriter) *observe.Note {
	if n := observe.NoteOf(w); n != nil {
		return n
	}
	return new(observe.Note)
}

// noteIdentity records who the caller turned out to be.
func (q *request) noteIdentity() {
	if !q.id.Anonymous {
		q.note.Principal = q.id.User
		q.note.Token = q.id.TokenID
	}
}

// noteNix classifies a GET, HEAD or PUT of an object once the caller is
// known: a narinfo read (counted as a hit or miss, whatever the protocol),
// and a binary-cache read or upload when it came over Nix's HTTP binary
// cache protocol (plain: not signed the S3 way, from a client that is no
// S3 SDK — `nix copy --to http://…` uploads with a plain PUT).
func (q *request) noteNix(plain bool) {
	op := q.note.Op
	if op != opGet && op != opHead && op != opPut {
		return
	}
	kind := nixKind(q.key)
	if kind < 0 {
		return
	}
	if op == opPut {
		if plain {
			q.note.Op = nixPuts[kind]
		}
		return
	}
	q.note.Narinfo = kind == 1
	if plain {
		q.note.Op = nixOps[kind]
	}
}

// nixKind is the place in nixNames of a binary-cache key, or -1.
func nixKind(key string) int {
	switch {
	case key == "nix-cache-info":
		return 0
	case strings.HasSuffix(key, ".narinfo"):
		return 1
	case strings.HasPrefix(key, "nar/"):
		return 2
	case strings.HasSuffix(key, ".ls"):
		return 3
	case strings.HasPrefix(key, "log/"):
		return 4
	}
	return -1
}

// plainGuess is what q.plain would have been for a request whose
// authentication failed: no S3 signature and no S3 client.
func plainGuess(r *http.Request) bool {
	auth := header(r.Header, "Authorization")
	if strings.HasPrefix(auth, "AWS") {
		return false
	}
	return !strings.Contains(r.URL.RawQuery, "X-Amz-Credential") && !strings.Contains(r.URL.RawQuery, "AWSAccessKeyId") &&
		!fromS3Client(r)
}
