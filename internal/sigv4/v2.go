package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// v2SubResources are the query parameters that belong to a SigV2 canonical
// resource: the union of botocore's HmacV1Auth and minio-go's lists.
var v2SubResources = map[string]bool{
	"accelerate": true, "acl": true, "analytics": true, "cors": true, "defaultObjectAcl": true,
	"delete": true, "encryption": true, "inventory": true, "legal-hold": true, "lifecycle": true,
	"location": true, "logging": true, "metrics": true, "notification": true, "object-lock": true,
	"partNumber": true, "policy": true, "replication": true, "requestPayment": true, "restore": true,
	"retention": true, "select": true, "select-type": true, "storageClass": true, "tagging": true,
	"torrent": true, "uploadId": true, "uploads": true, "versionId": true, "versioning": true,
	"versions": true, "website": true,
	"response-cache-control": true, "response-content-disposition": true, "response-content-encoding": true,
	"response-content-language": true, "response-content-type": true, "response-expires": true,
}

// verifyV2Header authenticates "Authorization: AWS AKID:base64(HMAC-SHA1)".
func (v *Verifier) verifyV2Header(r *http.Request, cred string) (*Result, error) {
	cred = strings.TrimSpace(cred)
	i := strings.LastIndexByte(cred, ':')
	if i <= 0 || i == len(cred)-1 {
		return nil, newError(CodeInvalidArgument, "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature")
	}
	accessKey, sig := cred[:i], cred[i+1:]
	var t time.Time
	dateField := r.Header.Get("Date")
	if amz := r.Header.Get("X-Amz-Date"); amz != "" {
		// With x-amz-date the Date line of the string to sign is empty;
		// x-amz-date is signed among the x-amz- headers.
		dateField = ""
		var ok bool
		if t, ok = parseV2Time(amz); !ok {
			return nil, errNoDate
		}
	} else if dateField != "" {
		var ok bool
		if t, ok = parseV2Time(dateField); !ok {
			return nil, errNoDate
		}
	} else {
		return nil, errNoDate
	}
	if d := v.now().Sub(t); d > maxSkew || d < -maxSkew {
		return nil, errSkewed
	}
	pairs, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	if err := v.checkV2(r, pairs, false, accessKey, sig, dateField); err != nil {
		return nil, err
	}
	return &Result{AccessKeyID: accessKey, Version: 2, Body: body(r), DecodedLength: r.ContentLength}, nil
}

// parseV2Time parses the date of a SigV2 request: an HTTP date, the same
// with a numeric zone (s3cmd sends "Sat, 05 Dec 2026 22:17:15 +0000"), or
// SigV4's ISO 8601 basic format.
func parseV2Time(s string) (time.Time, bool) {
	if t, err := http.ParseTime(s); err == nil {
		return t, true
	}
	for _, layout := range []string{time.RFC1123Z, amzDateLayout} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// verifyV2Query authenticates a SigV2 presigned URL (AWSAccessKeyId,
// Expires, Signature).
func (v *Verifier) verifyV2Query(r *http.Request) (*Result, error) {
	pairs, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	accessKey, _ := queryGet(pairs, "AWSAccessKeyId")
	sig, _ := queryGet(pairs, "Signature")
	expires, _ := queryGet(pairs, "Expires")
	if accessKey == "" || sig == "" || expires == "" {
		return nil, newError(CodeAccessDenied, "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
	}
	if !once(pairs, "AWSAccessKeyId", "Signature", "Expires") {
		return nil, newError(CodeInvalidArgument, "Query-string authentication allows each of the Signature, Expires and AWSAccessKeyId parameters only once")
	}
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil {
		return nil, newError(CodeAccessDenied, "Invalid date (should be seconds since epoch): "+expires)
	}
	if v.now().Unix() > exp {
		return nil, errExpired
	}
	// A '+' of the base64 signature sent unescaped has been decoded to ' '.
	sig = strings.ReplaceAll(sig, " ", "+")
	if err := v.checkV2(r, pairs, true, accessKey, sig, expires); err != nil {
		return nil, err
	}
	return &Result{AccessKeyID: accessKey, Version: 2, Body: body(r), DecodedLength: r.ContentLength}, nil
}

// checkV2 looks the key up and compares the signature with the HMAC-SHA1 of
// the string to sign.
func (v *Verifier) checkV2(r *http.Request, pairs []queryPair, presign bool, accessKey, sig, dateField string) error {
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(got) != sha1.Size {
		return errSignatureMismatch
	}
	secret, err := v.lookup(r.Context(), accessKey)
	unknown := err == errUnknownAccessKey
	if unknown {
		secret = dummySecret // sign anyway: see finishV4
	} else if err != nil {
		return err
	}
	// The resource path is signed as sent (botocore, AWS) or as the AWS
	// encoding of the decoded path (minio-go); both name the same object.
	paths := []string{wirePath(r)}
	if p := uriEncode(r.URL.Path, true); p != paths[0] && p != "" {
		paths = append(paths, p)
	}
	// A path-style request to a bucket itself ("/BUCKET", not
	// "/BUCKET/KEY") is signed by botocore and s3cmd as "/BUCKET/", the
	// resource AWS's virtual-host form of the same request has.
	if p := paths[0]; len(p) > 1 && strings.IndexByte(p[1:], '/') < 0 {
		if _, virtual := VirtualHostBucket(r.Host, v.Domain); !virtual {
			paths = append(paths, p+"/")
		}
	}
	for _, path := range paths {
		mac := hmac.New(sha1.New, []byte(secret))
		mac.Write(v.stringToSignV2(r, pairs, presign, dateField, path))
		if hmac.Equal(got, mac.Sum(nil)) && !unknown {
			return nil
		}
	}
	if unknown {
		return errUnknownKeyMismatch // answered as a wrong secret, as in finishV4
	}
	return errSignatureMismatch
}

// stringToSignV2 builds
//
//	METHOD\nContent-MD5\nContent-Type\nDate-or-Expires\n<x-amz- headers><resource>
//
// For presigned URLs the headers may arrive as query parameters, where
// botocore's presigner moves them.
func (v *Verifier) stringToSignV2(r *http.Request, pairs []queryPair, presign bool, dateField, path string) []byte {
	get := func(name string) string {
		if s := r.Header.Get(name); s != "" || !presign {
			return s
		}
		for _, p := range pairs {
			if strings.EqualFold(p.key, name) {
				return p.value
			}
		}
		return ""
	}
	b := make([]byte, 0, 256)
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = appendTrimmed(b, get("Content-Md5"))
	b = append(b, '\n')
	b = appendTrimmed(b, get("Content-Type"))
	b = append(b, '\n')
	b = append(b, dateField...)
	b = append(b, '\n')

	amz := map[string][]string{}
	for k, vals := range r.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-") {
			amz[lk] = append(amz[lk], vals...)
		}
	}
	if presign {
		for _, p := range pairs {
			if lk := strings.ToLower(p.key); strings.HasPrefix(lk, "x-amz-") {
				amz[lk] = append(amz[lk], p.value)
			}
		}
	}
	names := make([]string, 0, len(amz))
	for k := range amz {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		b = append(b, k...)
		b = append(b, ':')
		b = appendJoined(b, amz[k])
		b = append(b, '\n')
	}
	return v.appendResourceV2(b, r, pairs, path)
}

// appendResourceV2 appends the canonical resource: the encoded path,
// prefixed by "/BUCKET" for virtual-host requests, then the sub-resources
// sorted by name with decoded values.
func (v *Verifier) appendResourceV2(b []byte, r *http.Request, pairs []queryPair, path string) []byte {
	if bucket, ok := VirtualHostBucket(r.Host, v.Domain); ok {
		b = append(b, '/')
		b = append(b, bucket...)
	}
	b = append(b, path...)
	var subs []queryPair
	for _, p := range pairs {
		if v2SubResources[p.key] {
			subs = append(subs, p)
		}
	}
	slices.SortStableFunc(subs, func(x, y queryPair) int { return strings.Compare(x.key, y.key) })
	for i, p := range subs {
		if i == 0 {
			b = append(b, '?')
		} else {
			b = append(b, '&')
		}
		b = append(b, p.key...)
		val, err := url.PathUnescape(p.rawValue)
		if err != nil {
			val = p.value
		}
		if val != "" {
			b = append(b, '=')
			b = append(b, val...)
		}
	}
	return b
}

// wirePath returns the request path as the client sent it, still encoded.
func wirePath(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		p, _, _ := strings.Cut(r.RequestURI, "?")
		return p
	}
	if p := r.URL.EscapedPath(); p != "" {
		return p
	}
	return "/"
}
