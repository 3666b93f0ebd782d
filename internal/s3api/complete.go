package s3api

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

type completeRequest struct {
	XMLName xml.Name `xml:"CompleteMultipartUpload"`
	Parts   []struct {
		PartNumber int
		ETag       string
		checksumXML
	} `xml:"Part"`
}

type completeResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	NS       string   `xml:"xmlns,attr"`
	Location string
	Bucket   string
	Key      string
	ETag     string
	objectChecksumXML
}

// A completion may take long: onto a key that promises its content (a
// NAR named by its hash) the core reads the whole object to check it. S3
// answers such a CompleteMultipartUpload as AWS does
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html):
// once the work has run for completeQuiet it sends 200 and the XML
// declaration, then a space every completeKeepalive so no client or proxy
// times the connection out, then the result, or an <Error> document that
// the SDKs (botocore, aws-sdk-go-v2, minio-go) look for in a 200 of this
// call. A refusal known before the work starts (InvalidPart and the like)
// and a completion that ends within completeQuiet are answered as usual.
const (
	completeQuiet     = time.Second
	completeKeepalive = 5 * time.Second
)

// completeQuiet is Handler.CompleteQuiet, or its default.
func (h *Handler) completeQuiet() time.Duration {
	if h.CompleteQuiet == 0 {
		return completeQuiet
	}
	return h.CompleteQuiet
}

func completeUpload(q *request) error {
	if err := q.allow("s3:PutObject", q.objectARN()); err != nil {
		return err
	}
	cond, err := writeConditions(q)
	if err != nil {
		return err
	}
	// The x-amz-checksum-* headers of a completion are the object's, not
	// the body's, and a Content-MD5 may be the whole object's too (Nix
	// ≥2.33 sends one on the creation), so the body is not checked.
	body, err := readXMLBody(q)
	if err != nil {
		return err
	}
	var req completeRequest
	if err := decodeXML(body, &req); err != nil {
		return err
	}
	if len(req.Parts) == 0 {
		// AWS's schema wants at least one Part (ceph's s3-tests,
		// test_multipart_upload_empty).
		return errorf("MalformedXML", "")
	}
	sum, err := completeChecksumOf(q.Header)
	if err != nil {
		return err
	}
	parts := make([]objects.CompletedPart, 0, len(req.Parts))
	for _, p := range req.Parts {
		alg, v := p.only()
		parts = append(parts, objects.CompletedPart{Number: p.PartNumber, ETag: p.ETag, ChecksumAlgorithm: alg, Checksum: v})
	}
	checked := make(chan struct{})
	done := make(chan completion, 1)
	in := objects.Completion{Bucket: q.bucket, Key: q.key, UploadID: q.query.Get("uploadId"), Parts: parts, Cond: cond, Sum: sum,
		Checked: func() { close(checked) }}
	go func() {
		var c completion
		defer func() {
			// The handler's goroutine is not this one: a panic here is
			// answered as net/http answers one there, not a crash.
			if p := recover(); p != nil {
				c.err = fmt.Errorf("completing upload %s: panic: %v", in.UploadID, p)
			}
			done <- c
		}()
		c.obj, c.again, c.err = q.h.Objects.CompleteUploadAgain(q.Context(), in)
	}()
	var c completion
	started := false
	select {
	case c = <-done:
	case <-checked:
		c, started = q.h.awaitCompletion(q, done)
	}
	if c.again {
		q.sameUploads = true // a repeat: the upload was closed before
	}
	if !started && c.err != nil {
		return c.err
	}
	var doc any = completeResult{
		NS: s3NS, Location: q.objectURL(), Bucket: q.bucket, Key: q.key, ETag: `"` + c.obj.ETag + `"`,
		objectChecksumXML: objectChecksumOf(c.obj),
	}
	if !started {
		writeXML(q.w, http.StatusOK, doc)
		return nil
	}
	// The 200 and the declaration are out: what is left is the document,
	// the result or the error.
	if c.err != nil {
		_, e := q.h.errorDocument(q.w, q.Request, c.err)
		e.errorSubject = subjectOf(q, e.Code)
		doc = e
	}
	xml.NewEncoder(q.w).Encode(doc)
	return nil
}

// completion is what the core answered a CompleteMultipartUpload.
type completion struct {
	obj   meta.Object
	again bool
	err   error
}

// awaitCompletion waits for a completion that has passed its checks. One
// that takes longer than completeQuiet gets its 200 and the XML
// declaration at once, and a space every completeKeepalive until it ends;
// started reports that.
func (h *Handler) awaitCompletion(q *request, done <-chan completion) (c completion, started bool) {
	if quiet := h.completeQuiet(); quiet > 0 {
		t := time.NewTimer(quiet)
		select {
		case c := <-done:
			t.Stop()
			return c, false
		case <-t.C:
		}
	}
	rc := http.NewResponseController(q.w)
	q.w.Header().Set("Content-Type", "application/xml")
	q.w.WriteHeader(http.StatusOK)
	// A space right away: what follows the declaration is visibly the
	// keep-alive S3 sends, and it reaches the client with the headers.
	q.w.Write([]byte(xml.Header + " "))
	rc.Flush()
	tick := time.NewTicker(completeKeepalive)
	defer tick.Stop()
	for {
		select {
		case c := <-done:
			return c, true
		case <-tick.C:
			q.w.Write([]byte{' '})
			rc.Flush()
		}
	}
}
