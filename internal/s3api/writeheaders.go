package s3api

import (
	"net/http"
	"strings"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Headers of object writes that ask for what nixbucket does not keep are
// refused, never silently dropped: a client that sets a retention period
// or a redirect must not believe it holds.

// objectLockHeaders ask for Object Lock on a PutObject, CopyObject or
// CreateMultipartUpload.
var objectLockHeaders = []string{"X-Amz-Object-Lock-Mode", "X-Amz-Object-Lock-Retain-Until-Date", "X-Amz-Object-Lock-Legal-Hold"}

// noObjectLock is AWS's answer to Object Lock asked of a bucket created
// without it, which every nixbucket bucket is.
var noObjectLock = errorf("InvalidRequest", "Bucket is missing Object Lock Configuration")

// objectWrite checks the headers of an object write (PutObject,
// CopyObject, CreateMultipartUpload), after its authorization: ACLs, Object
// Lock, encryption with keys nixbucket does not hold, website redirects
// and appends are refused, and the tags of x-amz-tagging are read and
// authorized. withTags says whether x-amz-tagging applies (for a copy only
// with the REPLACE tagging directive).
func objectWrite(q *request, withTags bool) (tags []meta.Tag, err error) {
	if err := refuseACLHeaders(q.Header); err != nil {
		return nil, err
	}
	for _, name := range objectLockHeaders {
		if _, ok := q.Header[name]; ok {
			return nil, noObjectLock
		}
	}
	if err := serverSideEncryption(q.Header); err != nil {
		return nil, err
	}
	if v, ok := q.Header["X-Amz-Storage-Class"]; ok && !storageClasses[strings.Join(v, ",")] {
		return nil, errorf("InvalidStorageClass", "")
	}
	if _, ok := q.Header["X-Amz-Website-Redirect-Location"]; ok {
		return nil, errorf("NotImplemented", "x-amz-website-redirect-location is not implemented: nixbucket does not host static websites, and would not keep the redirect.")
	}
	if _, ok := q.Header["X-Amz-Write-Offset-Bytes"]; ok {
		// An append (S3 Express One Zone): taken as a PUT, it would
		// replace the object the caller meant to extend.
		return nil, errorf("NotImplemented", "x-amz-write-offset-bytes is not implemented: nixbucket does not append to objects.")
	}
	if !withTags {
		return nil, nil
	}
	tags, _, err = headerTags(q)
	if err != nil {
		return nil, err
	}
	return tags, q.allowTagging(tags)
}

// storageClasses are the x-amz-storage-class values S3 knows. nixbucket
// keeps every object as STANDARD, readable at once (an archive class would
// only delay reads), so each is taken; another value, a typo, is AWS's
// InvalidStorageClass rather than a silent STANDARD.
var storageClasses = map[string]bool{
	"STANDARD": true, "REDUCED_REDUNDANCY": true, "STANDARD_IA": true, "ONEZONE_IA": true,
	"INTELLIGENT_TIERING": true, "GLACIER": true, "DEEP_ARCHIVE": true, "OUTPOSTS": true,
	"GLACIER_IR": true, "SNOW": true, "EXPRESS_ONEZONE": true, "FSX_OPENZFS": true, "FSX_ONTAP": true,
}

// sseCustomerHeaders ask for SSE-C: the object encrypted with the client's
// key, and readable only with it.
var sseCustomerHeaders = []string{
	"X-Amz-Server-Side-Encryption-Customer-Algorithm", "X-Amz-Server-Side-Encryption-Customer-Key",
	"X-Amz-Copy-Source-Server-Side-Encryption-Customer-Algorithm", "X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key",
}

// serverSideEncryption accepts x-amz-server-side-encryption: AES256, S3's
// default that every object on AWS gets anyway, so the header asks for
// nothing more (tools send it by habit). KMS keys and customer keys (SSE-C)
// are refused: a client must not believe an object is readable only with
// a key it chose when anyone allowed to read it can. Other values are
// AWS's InvalidArgument.
func serverSideEncryption(h http.Header) error {
	for _, name := range sseCustomerHeaders {
		if _, ok := h[name]; ok {
			return errorf("NotImplemented", "Server-side encryption with customer-provided keys (SSE-C) is not implemented.")
		}
	}
	v, ok := h["X-Amz-Server-Side-Encryption"]
	if !ok {
		return nil
	}
	switch strings.TrimSpace(strings.Join(v, ",")) {
	case "AES256":
		return nil
	case "aws:kms", "aws:kms:dsse":
		return errorf("NotImplemented", "Server-side encryption with AWS KMS keys (SSE-KMS) is not implemented.")
	}
	return errorf("InvalidArgument", "The encryption method specified is not supported")
}

// readEncryption refuses encryption headers on a GET or HEAD of an object
// that exists, as S3 does for an object not encrypted with a customer key,
// which no nixbucket object is: SSE-C parameters are not applicable to it
// (400 InvalidRequest), and x-amz-server-side-encryption is no read header
// (400 InvalidArgument). Served anyway, the client would believe its key
// had guarded the object.
func readEncryption(h http.Header) error {
	for _, name := range sseCustomerHeaders[:2] {
		if _, ok := h[name]; ok {
			return errorf("InvalidRequest", "The encryption parameters are not applicable to this object.")
		}
	}
	if _, ok := h["X-Amz-Server-Side-Encryption"]; ok {
		return errorf("InvalidArgument", "x-amz-server-side-encryption header is not supported for this operation.")
	}
	return nil
}

// objectLockRefused answers the Object Lock operations on an object
// (Get/PutObjectRetention, Get/PutObjectLegalHold) after their own
// authorization, as AWS does in a bucket without Object Lock.
func objectLockRefused(action string) handlerFunc {
	return func(q *request) error {
		if err := q.allow(action, q.objectARN()); err != nil {
			return err
		}
		if _, err := q.h.Objects.Bucket(q.Context(), q.bucket); err != nil {
			return err
		}
		return noObjectLock
	}
}

// checkExpectedOwner applies x-amz-expected-bucket-owner (and, for copies,
// x-amz-source-expected-bucket-owner): every bucket belongs to the one
// account, so another account id is refused with 403 AccessDenied, as AWS
// refuses a bucket that another account owns.
func checkExpectedOwner(q *request) error {
	for _, name := range []string{"X-Amz-Expected-Bucket-Owner", "X-Amz-Source-Expected-Bucket-Owner"} {
		v, ok := q.Header[name]
		if !ok {
			continue
		}
		if len(v) != 1 || strings.TrimSpace(v[0]) != q.h.Access.Account() {
			return errorf("AccessDenied", "")
		}
	}
	return nil
}

// createBucketHeaders refuses what CreateBucket may ask for and nixbucket
// does not do: ACLs, Object Lock, Object Ownership other than
// BucketOwnerEnforced.
func createBucketHeaders(h http.Header) error {
	if err := refuseACLHeaders(h); err != nil {
		return err
	}
	if v := h.Get("X-Amz-Bucket-Object-Lock-Enabled"); strings.EqualFold(v, "true") {
		return errorf("NotImplemented", "Object Lock is not implemented: buckets are created without it.")
	}
	if v := h.Get("X-Amz-Object-Ownership"); v != "" && v != "BucketOwnerEnforced" {
		return errorf("NotImplemented", "Object Ownership "+v+" is not implemented: buckets behave as BucketOwnerEnforced, without ACLs.")
	}
	return nil
}
