package s3api

import (
	"net/http"
	"strings"
)

// ACLs the way AWS has made buckets since April 2023: Object Ownership
// "BucketOwnerEnforced", ACLs disabled. The owner holds FULL_CONTROL of
// everything (getACL answers so), access is governed by bucket and IAM
// policies alone, and a request that would set any other ACL fails with
// AccessControlListNotSupported (S3 User Guide, "Controlling ownership of
// objects and disabling ACLs"): a public-read ACL must not look accepted
// while it grants nothing.

// aclRefused is AWS's answer to an ACL a bucket without ACLs cannot hold,
// its message extended with where to turn instead.
var aclRefused = errorf("AccessControlListNotSupported",
	"The bucket does not allow ACLs. Access is governed by bucket and IAM policies: to make objects public, grant s3:GetObject to Principal \"*\" in a bucket policy.")

// cannedOK are the canned ACLs that a bucket owner enforced bucket accepts
// because they grant nothing beyond what the owner has.
var cannedOK = map[string]bool{"private": true, "bucket-owner-full-control": true}

// grantHeaders are the headers that grant permissions explicitly.
var grantHeaders = []string{"X-Amz-Grant-Read", "X-Amz-Grant-Write", "X-Amz-Grant-Read-Acp",
	"X-Amz-Grant-Write-Acp", "X-Amz-Grant-Full-Control"}

// refuseACLHeaders refuses x-amz-acl and x-amz-grant-* headers that set
// another ACL than the owner's full control, on PutObject, CopyObject,
// CreateMultipartUpload, CreateBucket, PutBucketAcl and PutObjectAcl.
func refuseACLHeaders(h http.Header) error {
	if v, ok := h["X-Amz-Acl"]; ok && (len(v) != 1 || !cannedOK[strings.TrimSpace(v[0])]) {
		return aclRefused
	}
	for _, name := range grantHeaders {
		v, ok := h[name]
		if !ok {
			continue
		}
		if name == "X-Amz-Grant-Full-Control" && len(v) == 1 && ownerGrant(v[0]) {
			continue
		}
		return aclRefused
	}
	return nil
}

// ownerGrant reports whether a grant header names the owner alone:
// id="<canonical id>".
func ownerGrant(v string) bool {
	v = strings.TrimSpace(v)
	id, ok := strings.CutPrefix(v, "id=")
	return ok && strings.Trim(id, `"`) == owner.ID
}

// putACL serves PutBucketAcl and PutObjectAcl: a canned ACL or an
// AccessControlPolicy document that grants the owner FULL_CONTROL and
// nothing else is accepted, as it changes nothing; any other is refused.
func putACL(q *request) error {
	action, arn := "s3:PutBucketAcl", q.bucketARN()
	if q.key != "" {
		action, arn = "s3:PutObjectAcl", q.objectARN()
	}
	if err := q.allow(action, arn); err != nil {
		return err
	}
	if q.key != "" {
		if err := noVersion(q); err != nil {
			return err
		}
		if _, err := q.h.Objects.Head(q.Context(), q.bucket, q.key); err != nil {
			return q.missing(err)
		}
	} else if _, err := q.h.Objects.Bucket(q.Context(), q.bucket); err != nil {
		return err
	}
	if err := refuseACLHeaders(q.Header); err != nil {
		return err
	}
	var doc accessControlPolicy
	err := readXML(q, &doc)
	switch {
	case err == errEmptyBody:
		if q.Header.Get("x-amz-acl") == "" && q.Header.Get("x-amz-grant-full-control") == "" {
			return errorf("MissingSecurityHeader", "Your request was missing a required header")
		}
	case err != nil:
		return err
	case !ownerOnly(doc):
		return aclRefused
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// ownerOnly reports whether an ACL document grants exactly the owner's
// FULL_CONTROL.
func ownerOnly(doc accessControlPolicy) bool {
	if len(doc.Grants) != 1 {
		return false
	}
	g := doc.Grants[0]
	return g.Permission == "FULL_CONTROL" && g.Grantee.ID == owner.ID && (doc.Owner.ID == "" || doc.Owner.ID == owner.ID)
}
