package s3api

import (
	"bytes"
	"encoding/xml"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// apiOperations is every operation of the S3 API reference
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html)
// that a general-purpose endpoint serves, by how a request selects it. It is
// written out here, apart from the routing table, so that a subresource
// missing from the table, or routed to another operation, fails.
var apiOperations = []struct {
	method, path, query string
	copy                bool
	op                  string
}{
	{"GET", "/", "", false, "ListBuckets"},
	{"GET", "/b", "abac", false, "GetBucketAbac"},
	{"PUT", "/b", "abac", false, "PutBucketAbac"},
	{"GET", "/b", "accelerate", false, "GetBucketAccelerateConfiguration"},
	{"PUT", "/b", "accelerate", false, "PutBucketAccelerateConfiguration"},
	{"GET", "/b", "acl", false, "GetBucketAcl"},
	{"PUT", "/b", "acl", false, "PutBucketAcl"},
	{"GET", "/b", "analytics&id=x", false, "GetBucketAnalyticsConfiguration"},
	{"PUT", "/b", "analytics&id=x", false, "PutBucketAnalyticsConfiguration"},
	{"DELETE", "/b", "analytics&id=x", false, "DeleteBucketAnalyticsConfiguration"},
	{"GET", "/b", "cors", false, "GetBucketCors"},
	{"PUT", "/b", "cors", false, "PutBucketCors"},
	{"DELETE", "/b", "cors", false, "DeleteBucketCors"},
	{"GET", "/b", "encryption", false, "GetBucketEncryption"},
	{"PUT", "/b", "encryption", false, "PutBucketEncryption"},
	{"DELETE", "/b", "encryption", false, "DeleteBucketEncryption"},
	{"GET", "/b", "intelligent-tiering&id=x", false, "GetBucketIntelligentTieringConfiguration"},
	{"PUT", "/b", "intelligent-tiering&id=x", false, "PutBucketIntelligentTieringConfiguration"},
	{"DELETE", "/b", "intelligent-tiering&id=x", false, "DeleteBucketIntelligentTieringConfiguration"},
	{"GET", "/b", "inventory&id=x", false, "GetBucketInventoryConfiguration"},
	{"PUT", "/b", "inventory&id=x", false, "PutBucketInventoryConfiguration"},
	{"DELETE", "/b", "inventory&id=x", false, "DeleteBucketInventoryConfiguration"},
	{"GET", "/b", "lifecycle", false, "GetBucketLifecycleConfiguration"},
	{"PUT", "/b", "lifecycle", false, "PutBucketLifecycleConfiguration"},
	{"DELETE", "/b", "lifecycle", false, "DeleteBucketLifecycle"},
	{"GET", "/b", "location", false, "GetBucketLocation"},
	{"GET", "/b", "logging", false, "GetBucketLogging"},
	{"PUT", "/b", "logging", false, "PutBucketLogging"},
	{"POST", "/b", "metadataConfiguration", false, "CreateBucketMetadataConfiguration"},
	{"GET", "/b", "metadataConfiguration", false, "GetBucketMetadataConfiguration"},
	{"DELETE", "/b", "metadataConfiguration", false, "DeleteBucketMetadataConfiguration"},
	{"PUT", "/b", "metadataInventoryTable", false, "UpdateBucketMetadataInventoryTableConfiguration"},
	{"PUT", "/b", "metadataJournalTable", false, "UpdateBucketMetadataJournalTableConfiguration"},
	{"POST", "/b", "metadataTable", false, "CreateBucketMetadataTableConfiguration"},
	{"GET", "/b", "metadataTable", false, "GetBucketMetadataTableConfiguration"},
	{"DELETE", "/b", "metadataTable", false, "DeleteBucketMetadataTableConfiguration"},
	{"GET", "/b", "metrics&id=x", false, "GetBucketMetricsConfiguration"},
	{"PUT", "/b", "metrics&id=x", false, "PutBucketMetricsConfiguration"},
	{"DELETE", "/b", "metrics&id=x", false, "DeleteBucketMetricsConfiguration"},
	{"GET", "/b", "notification", false, "GetBucketNotificationConfiguration"},
	{"PUT", "/b", "notification", false, "PutBucketNotificationConfiguration"},
	{"GET", "/b", "object-lock", false, "GetObjectLockConfiguration"},
	{"PUT", "/b", "object-lock", false, "PutObjectLockConfiguration"},
	{"GET", "/b", "ownershipControls", false, "GetBucketOwnershipControls"},
	{"PUT", "/b", "ownershipControls", false, "PutBucketOwnershipControls"},
	{"DELETE", "/b", "ownershipControls", false, "DeleteBucketOwnershipControls"},
	{"GET", "/b", "policy", false, "GetBucketPolicy"},
	{"PUT", "/b", "policy", false, "PutBucketPolicy"},
	{"DELETE", "/b", "policy", false, "DeleteBucketPolicy"},
	{"GET", "/b", "policyStatus", false, "GetBucketPolicyStatus"},
	{"GET", "/b", "publicAccessBlock", false, "GetPublicAccessBlock"},
	{"PUT", "/b", "publicAccessBlock", false, "PutPublicAccessBlock"},
	{"DELETE", "/b", "publicAccessBlock", false, "DeletePublicAccessBlock"},
	{"GET", "/b", "replication", false, "GetBucketReplication"},
	{"PUT", "/b", "replication", false, "PutBucketReplication"},
	{"DELETE", "/b", "replication", false, "DeleteBucketReplication"},
	{"GET", "/b", "requestPayment", false, "GetBucketRequestPayment"},
	{"PUT", "/b", "requestPayment", false, "PutBucketRequestPayment"},
	{"GET", "/b", "session", false, "CreateSession"},
	{"GET", "/b", "tagging", false, "GetBucketTagging"},
	{"PUT", "/b", "tagging", false, "PutBucketTagging"},
	{"DELETE", "/b", "tagging", false, "DeleteBucketTagging"},
	{"GET", "/b", "uploads", false, "ListMultipartUploads"},
	{"GET", "/b", "versioning", false, "GetBucketVersioning"},
	{"PUT", "/b", "versioning", false, "PutBucketVersioning"},
	{"GET", "/b", "versions", false, "ListObjectVersions"},
	{"GET", "/b", "website", false, "GetBucketWebsite"},
	{"PUT", "/b", "website", false, "PutBucketWebsite"},
	{"DELETE", "/b", "website", false, "DeleteBucketWebsite"},
	{"POST", "/b", "delete", false, "DeleteObjects"},
	{"POST", "/b", "", false, "PostObject"},
	{"GET", "/b", "", false, "ListObjects"},
	{"GET", "/b", "list-type=2", false, "ListObjects"}, // then ListObjectsV2, by the handler
	{"HEAD", "/b", "", false, "HeadBucket"},
	{"PUT", "/b", "", false, "CreateBucket"},
	{"DELETE", "/b", "", false, "DeleteBucket"},

	{"GET", "/b/k", "acl", false, "GetObjectAcl"},
	{"PUT", "/b/k", "acl", false, "PutObjectAcl"},
	{"GET", "/b/k", "attributes", false, "GetObjectAttributes"},
	{"GET", "/b/k", "legal-hold", false, "GetObjectLegalHold"},
	{"PUT", "/b/k", "legal-hold", false, "PutObjectLegalHold"},
	{"GET", "/b/k", "retention", false, "GetObjectRetention"},
	{"PUT", "/b/k", "retention", false, "PutObjectRetention"},
	{"GET", "/b/k", "tagging", false, "GetObjectTagging"},
	{"PUT", "/b/k", "tagging", false, "PutObjectTagging"},
	{"DELETE", "/b/k", "tagging", false, "DeleteObjectTagging"},
	{"GET", "/b/k", "torrent", false, "GetObjectTorrent"},
	{"PUT", "/b/k", "renameObject", false, "RenameObject"},
	{"POST", "/b/k", "restore", false, "RestoreObject"},
	{"POST", "/b/k", "select&select-type=2", false, "SelectObjectContent"},
	{"POST", "/b/k", "uploads", false, "CreateMultipartUpload"},
	{"PUT", "/b/k", "partNumber=1&uploadId=u", false, "UploadPart"},
	{"PUT", "/b/k", "partNumber=1&uploadId=u", true, "UploadPartCopy"},
	{"POST", "/b/k", "uploadId=u", false, "CompleteMultipartUpload"},
	{"DELETE", "/b/k", "uploadId=u", false, "AbortMultipartUpload"},
	{"GET", "/b/k", "uploadId=u", false, "ListParts"},
	{"GET", "/b/k", "", false, "GetObject"},
	{"GET", "/b/k", "partNumber=2&versionId=null&response-content-type=a", false, "GetObject"},
	{"HEAD", "/b/k", "partNumber=1", false, "HeadObject"},
	{"PUT", "/b/k", "", false, "PutObject"},
	{"PUT", "/b/k", "", true, "CopyObject"},
	// OPTIONS object (the CORS preflight), on a bucket or an object.
	{"OPTIONS", "/b", "", false, opPreflight},
	{"OPTIONS", "/b/k", "", false, opPreflight},
	{"DELETE", "/b/k", "", false, "DeleteObject"},
}

// testRequest builds the request value that ServeHTTP would route.
func testRequest(t *testing.T, h *Handler, method, target string, copySource bool) (*request, *httptest.ResponseRecorder) {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	if copySource {
		r.Header.Set("X-Amz-Copy-Source", "/src/key")
	}
	w := httptest.NewRecorder()
	q := &request{Request: r, w: w, h: h, query: r.URL.Query()}
	q.rid[0] = "test-request-id"
	w.Header()["X-Amz-Request-Id"] = q.rid[:]
	q.bucket, q.key = h.splitPath(r)
	return q, w
}

func TestRoutesCoverTheAPI(t *testing.T) {
	h := &Handler{}
	for _, c := range apiOperations {
		target := c.path
		if c.query != "" {
			target += "?" + c.query
		}
		t.Run(c.method+" "+target, func(t *testing.T) {
			q, _ := testRequest(t, h, c.method, target, c.copy)
			r := find(q)
			if r == nil {
				t.Fatalf("not routed, want %s", c.op)
			}
			if r.op != c.op {
				t.Errorf("routed to %s, want %s", r.op, c.op)
			}
		})
	}
	// Every subresource of the table is in the list above: the list is
	// the reference, and a row it lacks is a row nobody checked.
	listed := map[string]bool{}
	for _, c := range apiOperations {
		listed[c.op] = true
	}
	for _, r := range routes {
		if !listed[r.op] {
			t.Errorf("route %s %s?%s is not an operation of the API list", r.method, []string{"service", "bucket", "object"}[r.level], r.sub)
		}
	}
}

// TestSubresourceNeverFallsThrough checks that a subresource S3 does not
// define for a method is refused rather than served by the operation on
// the resource itself (PUT ?versioning once created a bucket).
func TestSubresourceNeverFallsThrough(t *testing.T) {
	h := &Handler{}
	for _, c := range []struct{ method, target string }{
		{"POST", "/b?versioning"},
		{"HEAD", "/b?acl"},
		{"GET", "/b/k?versioning"},
		{"PUT", "/b/k?policy"},
		{"DELETE", "/b/k?website"},
		{"PATCH", "/b/k"},
		{"PUT", "/"},
	} {
		q, _ := testRequest(t, h, c.method, c.target, false)
		if r := find(q); r != nil {
			t.Errorf("%s %s routed to %s, want MethodNotAllowed", c.method, c.target, r.op)
		}
	}
}

// TestNotImplementedAnswer checks a 501's answer and its log line, which
// names the operation and subresource.
func TestNotImplementedAnswer(t *testing.T) {
	var logs bytes.Buffer
	h := &Handler{Log: slog.New(slog.NewTextHandler(&logs, nil))}
	for _, c := range apiOperations {
		target := c.path + "?" + c.query
		q, w := testRequest(t, h, c.method, target, c.copy)
		r := find(q)
		if r == nil || r.serve != nil {
			continue
		}
		logs.Reset()
		err := h.route(q)
		if err == nil {
			t.Fatalf("%s %s: no error from an operation without handler", c.method, target)
		}
		h.fail(q, err)
		if w.Code != http.StatusNotImplemented {
			t.Errorf("%s %s: status %d, want 501", c.method, target, w.Code)
		}
		want := "operation=" + c.op + " subresource=" + r.sub
		if !strings.Contains(logs.String(), want) {
			t.Errorf("%s %s: log %q lacks %q", c.method, target, logs.String(), want)
		}
		if c.method == http.MethodHead {
			continue
		}
		var doc struct {
			XMLName   xml.Name `xml:"Error"`
			Code      string
			Message   string
			Resource  string
			RequestID string `xml:"RequestId"`
		}
		if err := xml.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Fatalf("%s %s: %v: %s", c.method, target, err, w.Body)
		}
		u, _ := url.Parse(target)
		if doc.Code != "NotImplemented" || doc.Message != errorCodes["NotImplemented"].message || doc.Resource != u.Path || doc.RequestID != "test-request-id" {
			t.Errorf("%s %s: %+v", c.method, target, doc)
		}
	}
}
