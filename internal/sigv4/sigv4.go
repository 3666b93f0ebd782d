// Package sigv4 authenticates S3 requests: AWS Signature Version 4 by
// Authorization header and by presigned query, its aws-chunked streaming
// payloads (chunk and trailer signatures), and Signature Version 2 by header
// and by presigned query. It only verifies; deciding what the caller may do
// belongs to the policy layer.
package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	algorithm        = "AWS4-HMAC-SHA256"
	amzDateLayout    = "20060102T150405Z"
	maxSkew          = 15 * time.Minute
	maxPresignExpiry = 7 * 24 * time.Hour
	serviceS3        = "s3"
	terminator       = "aws4_request"

	emptySHA256              = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	unsignedPayload          = "UNSIGNED-PAYLOAD"
	streamingSigned          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// Lookup returns the secret for an access key id, or an error wrapping
// ErrUnknownKey when there is no such key. Any other error is returned by
// Verify unchanged (an internal failure, not an authentication one).
type Lookup func(ctx context.Context, accessKeyID string) (secret string, err error)

// Verifier authenticates requests. Its fields are configuration; set them
// before the first Verify and do not copy a Verifier after use (it holds a
// cache of derived signing keys). It is safe for concurrent use.
type Verifier struct {
	Lookup Lookup
	// Region is the server's region, used when StrictRegion is set
	// (default us-east-1).
	Region string
	// StrictRegion refuses a credential scope naming another region, as AWS
	// does; otherwise any region is accepted and used to derive the key.
	StrictRegion bool
	// Domain, when set, makes Host "BUCKET.Domain" virtual-host addressing,
	// which the SigV2 canonical resource needs.
	Domain string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	keys keyCache
}

// Result is an authenticated (or anonymous) request. Results may be
// shared: callers must not modify one.
type Result struct {
	AccessKeyID string // "" when Anonymous
	// Anonymous is set when the request has neither an Authorization header
	// nor a presigned query.
	Anonymous bool
	// Body is what to read instead of r.Body. For aws-chunked payloads it
	// decodes the chunks, checks chunk and trailer signatures and parses the
	// trailers. Data of a signed chunk is returned before the chunk's
	// signature can be checked; a mismatch is reported by a later Read, always
	// before io.EOF, so nothing may be committed before io.EOF. Decoding
	// failures are *Error values; errors of r.Body itself pass through,
	// except io.ErrUnexpectedEOF, which becomes IncompleteBody.
	Body io.Reader
	// DecodedLength is the payload length: x-amz-decoded-content-length for
	// aws-chunked, otherwise r.ContentLength; -1 when unknown.
	DecodedLength int64
	// PayloadSHA256 is the SHA-256 the client signed for the body (its
	// x-amz-content-sha256) when that is a hash; nil for unsigned and
	// streaming modes. The caller hashes the body and compares.
	PayloadSHA256 []byte
	// Trailer returns the trailing headers once Body has returned io.EOF. It
	// is nil when the request declares no x-amz-trailer.
	Trailer func() http.Header
	Version int // 2 or 4; 0 when Anonymous
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) region() string {
	if v.Region == "" {
		return "us-east-1"
	}
	return v.Region
}

// Verify authenticates r by whichever mechanism it uses. It reads no body
// itself; Result.Body reads lazily. Authentication failures are *Error.
func (v *Verifier) Verify(r *http.Request) (*Result, error) {
	auth := r.Header.Get("Authorization")
	qv4, qv2 := queryAuthKind(r.URL.RawQuery)
	if auth != "" && (qv4 || qv2) {
		return nil, errTwoMechanisms
	}
	if auth != "" {
		if rest, ok := strings.CutPrefix(auth, algorithm); ok && (rest == "" || rest[0] == ' ') {
			return v.verifyV4Header(r, rest)
		}
		if rest, ok := strings.CutPrefix(auth, "AWS "); ok {
			return v.verifyV2Header(r, rest)
		}
		return nil, newError(CodeInvalidArgument, "Unsupported Authorization Type")
	}
	if qv4 {
		return v.verifyV4Query(r)
	}
	if qv2 {
		return v.verifyV2Query(r)
	}
	if (r.Body == nil || r.Body == http.NoBody) && r.ContentLength == 0 {
		return anonymousNoBody, nil
	}
	return &Result{Anonymous: true, Body: body(r), DecodedLength: r.ContentLength}, nil
}

// anonymousNoBody is the Result of every unsigned request without a body.
// Callers must not modify a Result.
var anonymousNoBody = &Result{Anonymous: true, Body: http.NoBody}

func body(r *http.Request) io.Reader {
	if r.Body == nil {
		return http.NoBody
	}
	return r.Body
}

// v4Auth is what a SigV4 request claims, from its header or its query.
type v4Auth struct {
	presign       bool
	accessKey     string
	scope         string // DATE/REGION/SERVICE/aws4_request
	date, region  string
	signedHeaders string
	signature     string
	amzDate       string // the request time as the string to sign has it
	t             time.Time
}

// malformed returns the error for a bad Authorization header or presigned
// query parameter, as AWS words them.
func (a *v4Auth) malformed(msg string) *Error {
	if a.presign {
		return newError(CodeAuthorizationQueryParametersError, msg)
	}
	return newError(CodeAuthorizationHeaderMalformed, "The authorization header is malformed; "+msg)
}

// badCredential returns the error for a bad credential scope.
func (a *v4Auth) badCredential(msg string) *Error {
	if a.presign {
		return newError(CodeAuthorizationQueryParametersError, "Error parsing the X-Amz-Credential parameter; "+msg)
	}
	return newError(CodeAuthorizationHeaderMalformed, "The authorization header is malformed; "+msg)
}

// parseCredential splits "AKID/DATE/REGION/SERVICE/aws4_request" and checks
// the scope against the request time and the server's region.
func (v *Verifier) parseCredential(a *v4Auth, cred string) error {
	parts := strings.Split(cred, "/")
	if len(parts) < 5 || parts[0] == "" {
		return a.badCredential(`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`)
	}
	n := len(parts)
	a.accessKey = strings.Join(parts[:n-4], "/")
	a.scope = cred[len(a.accessKey)+1:]
	a.date, a.region = parts[n-4], parts[n-3]
	switch {
	case parts[n-2] != serviceS3:
		return a.badCredential(fmt.Sprintf("incorrect service %q. This endpoint belongs to %q.", parts[n-2], serviceS3))
	case parts[n-1] != terminator:
		return a.badCredential(fmt.Sprintf("incorrect terminal %q. This endpoint uses %q.", parts[n-1], terminator))
	case a.region == "":
		return a.badCredential("the region is missing from the Credential.")
	case v.StrictRegion && a.region != v.region():
		return a.badCredential(fmt.Sprintf("the region '%s' is wrong; expecting '%s'", a.region, v.region()))
	}
	return nil
}

// verifyV4Header authenticates "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…".
func (v *Verifier) verifyV4Header(r *http.Request, fields string) (*Result, error) {
	a := &v4Auth{}
	var cred string
	for rest := fields; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = val
		case "SignedHeaders":
			a.signedHeaders = val
		case "Signature":
			a.signature = val
		}
	}
	if cred == "" || a.signedHeaders == "" || a.signature == "" {
		return nil, a.malformed("the authorization header requires three components: Credential, SignedHeaders and Signature.")
	}
	if err := v.parseCredential(a, cred); err != nil {
		return nil, err
	}
	if a.amzDate = r.Header.Get("X-Amz-Date"); a.amzDate != "" {
		t, err := time.Parse(amzDateLayout, a.amzDate)
		if err != nil {
			return nil, errNoDate
		}
		a.t = t
	} else if d := r.Header.Get("Date"); d != "" {
		t, err := http.ParseTime(d)
		if err != nil {
			return nil, errNoDate
		}
		a.t = t.UTC()
		a.amzDate = a.t.Format(amzDateLayout)
	} else {
		return nil, errNoDate
	}
	if a.date != a.amzDate[:8] {
		return nil, a.malformed("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	if d := v.now().Sub(a.t); d > maxSkew || d < -maxSkew {
		return nil, errSkewed
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		// S3 requires the header. A client that left it out of a request
		// without a body (curl --aws-sigv4 does) signed the hash of nothing.
		if r.ContentLength != 0 {
			return nil, newError(CodeInvalidRequest, "Missing required header for this request: x-amz-content-sha256")
		}
		payload = emptySHA256
	}
	pairs, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	return v.finishV4(r, a, pairs, payload)
}

// verifyV4Query authenticates a presigned URL (X-Amz-Algorithm & co.).
func (v *Verifier) verifyV4Query(r *http.Request) (*Result, error) {
	a := &v4Auth{presign: true}
	pairs, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	alg, ok1 := queryGet(pairs, "X-Amz-Algorithm")
	cred, ok2 := queryGet(pairs, "X-Amz-Credential")
	a.amzDate, _ = queryGet(pairs, "X-Amz-Date")
	expires, ok4 := queryGet(pairs, "X-Amz-Expires")
	a.signedHeaders, _ = queryGet(pairs, "X-Amz-SignedHeaders")
	a.signature, _ = queryGet(pairs, "X-Amz-Signature")
	if !ok1 || !ok2 || !ok4 || a.amzDate == "" || a.signedHeaders == "" || a.signature == "" {
		return nil, a.malformed("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
	}
	if !once(pairs, "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature") {
		return nil, a.malformed("Query-string authentication version 4 allows each of the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters only once.")
	}
	if alg != algorithm {
		return nil, a.malformed(`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`)
	}
	if a.t, err = time.Parse(amzDateLayout, a.amzDate); err != nil {
		return nil, a.malformed(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)
	}
	if err := v.parseCredential(a, cred); err != nil {
		return nil, err
	}
	if a.date != a.amzDate[:8] {
		return nil, a.malformed(fmt.Sprintf("Invalid credential date %q. This date is not the same as X-Amz-Date: %q.", a.date, a.amzDate[:8]))
	}
	secs, err := parseDecimal(expires)
	switch {
	case err != nil:
		return nil, a.malformed("X-Amz-Expires should be a number")
	case secs < 0:
		return nil, a.malformed("X-Amz-Expires must be non-negative")
	case time.Duration(secs)*time.Second > maxPresignExpiry:
		// AWS's words (400 AuthorizationQueryParametersError), as ceph's
		// s3-tests and minio record them.
		return nil, a.malformed("X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds")
	}
	now := v.now()
	if a.t.Sub(now) > maxSkew {
		return nil, errNotYetValid
	}
	if now.After(a.t.Add(time.Duration(secs) * time.Second)) {
		return nil, errExpired
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		payload, _ = queryGet(pairs, "X-Amz-Content-Sha256")
	}
	if payload == "" {
		payload = unsignedPayload
	}
	return v.finishV4(r, a, pairs, payload)
}

// parseDecimal parses an optionally negative decimal of at most 10 digits.
func parseDecimal(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if s == "" || len(s) > 10 {
		return 0, errors.New("bad number")
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("bad number")
		}
		n = n*10 + int64(s[i]-'0')
	}
	if neg {
		n = -n
	}
	return n, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// finishV4 checks the payload mode, looks the key up, compares the
// signature and builds the Result.
func (v *Verifier) finishV4(r *http.Request, a *v4Auth, pairs []queryPair, payload string) (*Result, error) {
	if err := checkSignedHeaders(r, a.signedHeaders); err != nil {
		return nil, err
	}
	res := &Result{AccessKeyID: a.accessKey, Version: 4, Body: body(r), DecodedLength: r.ContentLength}
	var chunked *chunkParams
	switch payload {
	case unsignedPayload:
	case streamingSigned, streamingSignedTrailer, streamingUnsignedTrailer:
		n, err := decodedLength(r)
		if err != nil {
			return nil, err
		}
		res.DecodedLength = n
		chunked = &chunkParams{
			signed:   payload != streamingUnsignedTrailer,
			trailer:  payload != streamingSigned,
			amzDate:  a.amzDate,
			scope:    a.scope,
			declared: n,
		}
	default:
		if strings.HasPrefix(payload, "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD") {
			return nil, newError(CodeNotImplemented, "A header you provided implies functionality that is not implemented: SigV4a (AWS4-ECDSA-P256-SHA256) streaming payloads")
		}
		sum, err := hex.DecodeString(payload)
		if err != nil || len(sum) != sha256.Size {
			return nil, newError(CodeInvalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
		}
		res.PayloadSHA256 = sum
	}
	var got [sha256.Size]byte
	if len(a.signature) != 2*sha256.Size {
		return nil, errSignatureMismatch
	}
	if _, err := hex.Decode(got[:], []byte(a.signature)); err != nil {
		return nil, errSignatureMismatch
	}
	secret, err := v.lookup(r.Context(), a.accessKey)
	keyID := a.accessKey
	unknown := err == errUnknownAccessKey
	if unknown {
		// Sign anyway, so an unknown key takes as long as a wrong secret,
		// with one cached stand-in key (unknown ids must not crowd out
		// the keys of real ones).
		keyID, secret = "", dummySecret
	} else if err != nil {
		return nil, err
	}
	key := v.keys.get(keyID, secret, a.date, a.region, serviceS3)

	sign := func(asSent bool) [sha256.Size]byte {
		bp := bufPool.Get().(*[]byte)
		b := appendCanonicalRequest((*bp)[:0], r, asSent, pairs, a.presign, a.signedHeaders, payload)
		crHash := sha256.Sum256(b)
		b = append(b[:0], algorithm+"\n"...)
		b = append(b, a.amzDate...)
		b = append(b, '\n')
		b = append(b, a.scope...)
		b = append(b, '\n')
		b = hex.AppendEncode(b, crHash[:])
		sum := hmacSHA256(key[:], b)
		if cap(b) <= 64<<10 {
			*bp = b[:0]
			bufPool.Put(bp)
		}
		return sum
	}
	want := sign(false)
	ok := hmac.Equal(got[:], want[:])
	if !ok && pathSentOtherwise(r) {
		// curl (and so Nix ≥2.33) signs the path as sent, not S3's
		// re-encoding of it; that covers this very path and no other.
		want = sign(true)
		ok = hmac.Equal(got[:], want[:])
	}
	if unknown {
		// An unknown key gets the same answer as a wrong secret: which
		// key ids exist is nobody's business.
		return nil, errUnknownKeyMismatch
	}
	if !ok {
		return nil, errSignatureMismatch
	}

	if chunked != nil {
		chunked.key = key
		chunked.seed = want
		chunked.expect = trailerNames(r.Header.Values("X-Amz-Trailer"))
		cr := newChunkedReader(res.Body, *chunked)
		res.Body = cr
		if len(chunked.expect) > 0 {
			res.Trailer = cr.trailerHeader
		}
	}
	return res, nil
}

// dummySecret signs for an unknown access key (see finishV4).
const dummySecret = "nixbucket-unknown-access-key-0000000000"

func (v *Verifier) lookup(ctx context.Context, accessKey string) (string, error) {
	if v.Lookup == nil {
		return "", errUnknownAccessKey
	}
	secret, err := v.Lookup(ctx, accessKey)
	if errors.Is(err, ErrUnknownKey) {
		return "", errUnknownAccessKey
	}
	if err != nil {
		return "", fmt.Errorf("look up access key %q: %w", accessKey, err)
	}
	return secret, nil
}

// trailerNames splits the comma-separated x-amz-trailer values.
func trailerNames(values []string) []string {
	var names []string
	for _, v := range values {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	return names
}

// decodedLength returns x-amz-decoded-content-length, or -1 when absent.
func decodedLength(r *http.Request) (int64, error) {
	s := r.Header.Get("X-Amz-Decoded-Content-Length")
	if s == "" {
		return -1, nil
	}
	n, err := parseDecimal(s)
	if err != nil || n < 0 || n > maxChunkSize {
		return 0, newError(CodeInvalidArgument, "Invalid x-amz-decoded-content-length: "+s)
	}
	return n, nil
}
