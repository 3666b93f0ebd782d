package s3api

import "log/slog"

// level is what a request addresses: the service (no bucket), a bucket, or
// an object.
type level uint8

const (
	service level = iota
	bucketLevel
	objectLevel
)

// route is one S3 operation: the method, the level and the subresource
// (the query key that names it) that select it, and its handler.
type route struct {
	method string
	level  level
	// sub is the subresource query key ("acl", "uploadId"); "" is the
	// operation on the resource itself, chosen only when the query holds
	// no subresource at all.
	sub string
	// copy requires an x-amz-copy-source header (CopyObject,
	// UploadPartCopy); a row without it also matches requests with one.
	copy bool
	op   string // AWS's operation name, for logs and 501 answers
	// serve carries the operation out; nil answers 501 NotImplemented.
	serve handlerFunc
}

// routes is the one table of S3 operations: every subresource of the S3
// API reference (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html),
// so that a request for one nixbucket does not implement answers 501
// NotImplemented instead of falling through to another operation (PUT
// ?versioning must not create a bucket, GET ?policyStatus must not list
// one). To implement an operation, give its row a handler.
//
// Within a method and level the first matching row wins: rows that need a
// copy source come before the same subresource without, and the row
// without subresource comes last.
var routes = []route{
	{"GET", service, "", false, "ListBuckets", listBuckets},

	// Buckets.
	{"GET", bucketLevel, "abac", false, "GetBucketAbac", nil},
	{"GET", bucketLevel, "accelerate", false, "GetBucketAccelerateConfiguration", nil},
	{"GET", bucketLevel, "acl", false, "GetBucketAcl", getACL},
	{"GET", bucketLevel, "analytics", false, "GetBucketAnalyticsConfiguration", nil},
	{"GET", bucketLevel, "cors", false, "GetBucketCors", getBucketCors},
	{"GET", bucketLevel, "encryption", false, "GetBucketEncryption", nil},
	{"GET", bucketLevel, "intelligent-tiering", false, "GetBucketIntelligentTieringConfiguration", nil},
	{"GET", bucketLevel, "inventory", false, "GetBucketInventoryConfiguration", nil},
	{"GET", bucketLevel, "lifecycle", false, "GetBucketLifecycleConfiguration", getBucketLifecycle},
	{"GET", bucketLevel, "location", false, "GetBucketLocation", getBucketLocation},
	{"GET", bucketLevel, "logging", false, "GetBucketLogging", nil},
	{"GET", bucketLevel, "metadataConfiguration", false, "GetBucketMetadataConfiguration", nil},
	{"GET", bucketLevel, "metadataTable", false, "GetBucketMetadataTableConfiguration", nil},
	{"GET", bucketLevel, "metrics", false, "GetBucketMetricsConfiguration", nil},
	{"GET", bucketLevel, "notification", false, "GetBucketNotificationConfiguration", nil},
	{"GET", bucketLevel, "object-lock", false, "GetObjectLockConfiguration", notFound("s3:GetBucketObjectLockConfiguration", "ObjectLockConfigurationNotFoundError")},
	{"GET", bucketLevel, "ownershipControls", false, "GetBucketOwnershipControls", nil},
	{"GET", bucketLevel, "policy", false, "GetBucketPolicy", getBucketPolicy},
	{"GET", bucketLevel, "policyStatus", false, "GetBucketPolicyStatus", nil},
	{"GET", bucketLevel, "publicAccessBlock", false, "GetPublicAccessBlock", nil},
	{"GET", bucketLevel, "replication", false, "GetBucketReplication", nil},
	{"GET", bucketLevel, "requestPayment", false, "GetBucketRequestPayment", nil},
	{"GET", bucketLevel, "session", false, "CreateSession", nil},
	{"GET", bucketLevel, "tagging", false, "GetBucketTagging", notFound("s3:GetBucketTagging", "NoSuchTagSet")},
	{"GET", bucketLevel, "uploads", false, "ListMultipartUploads", listUploads},
	{"GET", bucketLevel, "versioning", false, "GetBucketVersioning", getBucketVersioning},
	{"GET", bucketLevel, "versions", false, "ListObjectVersions", listObjectVersions},
	{"GET", bucketLevel, "website", false, "GetBucketWebsite", nil},
	{"GET", bucketLevel, "", false, "ListObjects", listObjects},

	{"HEAD", bucketLevel, "", false, "HeadBucket", headBucket},

	{"PUT", bucketLevel, "abac", false, "PutBucketAbac", nil},
	{"PUT", bucketLevel, "accelerate", false, "PutBucketAccelerateConfiguration", nil},
	{"PUT", bucketLevel, "acl", false, "PutBucketAcl", putACL},
	{"PUT", bucketLevel, "analytics", false, "PutBucketAnalyticsConfiguration", nil},
	{"PUT", bucketLevel, "cors", false, "PutBucketCors", putBucketCors},
	{"PUT", bucketLevel, "encryption", false, "PutBucketEncryption", nil},
	{"PUT", bucketLevel, "intelligent-tiering", false, "PutBucketIntelligentTieringConfiguration", nil},
	{"PUT", bucketLevel, "inventory", false, "PutBucketInventoryConfiguration", nil},
	{"PUT", bucketLevel, "lifecycle", false, "PutBucketLifecycleConfiguration", putBucketLifecycle},
	{"PUT", bucketLevel, "logging", false, "PutBucketLogging", nil},
	{"PUT", bucketLevel, "metadataInventoryTable", false, "UpdateBucketMetadataInventoryTableConfiguration", nil},
	{"PUT", bucketLevel, "metadataJournalTable", false, "UpdateBucketMetadataJournalTableConfiguration", nil},
	{"PUT", bucketLevel, "metrics", false, "PutBucketMetricsConfiguration", nil},
	{"PUT", bucketLevel, "notification", false, "PutBucketNotificationConfiguration", nil},
	{"PUT", bucketLevel, "object-lock", false, "PutObjectLockConfiguration", nil},
	{"PUT", bucketLevel, "ownershipControls", false, "PutBucketOwnershipControls", nil},
	{"PUT", bucketLevel, "policy", false, "PutBucketPolicy", putBucketPolicy},
	{"PUT", bucketLevel, "publicAccessBlock", false, "PutPublicAccessBlock", nil},
	{"PUT", bucketLevel, "replication", false, "PutBucketReplication", nil},
	{"PUT", bucketLevel, "requestPayment", false, "PutBucketRequestPayment", nil},
	{"PUT", bucketLevel, "tagging", false, "PutBucketTagging", nil},
	{"PUT", bucketLevel, "versioning", false, "PutBucketVersioning", putBucketVersioning},
	{"PUT", bucketLevel, "website", false, "PutBucketWebsite", nil},
	{"PUT", bucketLevel, "", false, "CreateBucket", createBucket},

	{"DELETE", bucketLevel, "analytics", false, "DeleteBucketAnalyticsConfiguration", nil},
	{"DELETE", bucketLevel, "cors", false, "DeleteBucketCors", deleteBucketCors},
	{"DELETE", bucketLevel, "encryption", false, "DeleteBucketEncryption", nil},
	{"DELETE", bucketLevel, "intelligent-tiering", false, "DeleteBucketIntelligentTieringConfiguration", nil},
	{"DELETE", bucketLevel, "inventory", false, "DeleteBucketInventoryConfiguration", nil},
	{"DELETE", bucketLevel, "lifecycle", false, "DeleteBucketLifecycle", deleteBucketLifecycle},
	{"DELETE", bucketLevel, "metadataConfiguration", false, "DeleteBucketMetadataConfiguration", nil},
	{"DELETE", bucketLevel, "metadataTable", false, "DeleteBucketMetadataTableConfiguration", nil},
	{"DELETE", bucketLevel, "metrics", false, "DeleteBucketMetricsConfiguration", nil},
	{"DELETE", bucketLevel, "ownershipControls", false, "DeleteBucketOwnershipControls", nil},
	{"DELETE", bucketLevel, "policy", false, "DeleteBucketPolicy", deleteBucketPolicy},
	{"DELETE", bucketLevel, "publicAccessBlock", false, "DeletePublicAccessBlock", nil},
	{"DELETE", bucketLevel, "replication", false, "DeleteBucketReplication", nil},
	{"DELETE", bucketLevel, "tagging", false, "DeleteBucketTagging", nil},
	{"DELETE", bucketLevel, "website", false, "DeleteBucketWebsite", nil},
	{"DELETE", bucketLevel, "", false, "DeleteBucket", deleteBucket},

	{"POST", bucketLevel, "delete", false, "DeleteObjects", deleteObjects},
	{"POST", bucketLevel, "metadataConfiguration", false, "CreateBucketMetadataConfiguration", nil},
	{"POST", bucketLevel, "metadataTable", false, "CreateBucketMetadataTableConfiguration", nil},
	{"POST", bucketLevel, "", false, "PostObject", nil}, // browser form uploads

	// Objects.
	{"GET", objectLevel, "acl", false, "GetObjectAcl", getACL},
	{"GET", objectLevel, "attributes", false, "GetObjectAttributes", getObjectAttributes},
	{"GET", objectLevel, "legal-hold", false, "GetObjectLegalHold", objectLockRefused("s3:GetObjectLegalHold")},
	{"GET", objectLevel, "retention", false, "GetObjectRetention", objectLockRefused("s3:GetObjectRetention")},
	{"GET", objectLevel, "tagging", false, "GetObjectTagging", getObjectTagging},
	{"GET", objectLevel, "torrent", false, "GetObjectTorrent", nil},
	{"GET", objectLevel, "uploadId", false, "ListParts", listParts},
	{"GET", objectLevel, "", false, "GetObject", getObject},

	{"HEAD", objectLevel, "", false, "HeadObject", headObject},

	{"PUT", objectLevel, "acl", false, "PutObjectAcl", putACL},
	{"PUT", objectLevel, "legal-hold", false, "PutObjectLegalHold", objectLockRefused("s3:PutObjectLegalHold")},
	{"PUT", objectLevel, "renameObject", false, "RenameObject", nil},
	{"PUT", objectLevel, "retention", false, "PutObjectRetention", objectLockRefused("s3:PutObjectRetention")},
	{"PUT", objectLevel, "tagging", false, "PutObjectTagging", putObjectTagging},
	{"PUT", objectLevel, "uploadId", true, "UploadPartCopy", uploadPartCopy},
	{"PUT", objectLevel, "uploadId", false, "UploadPart", uploadPart},
	{"PUT", objectLevel, "", true, "CopyObject", copyObject},
	{"PUT", objectLevel, "", false, "PutObject", putObject},

	{"DELETE", objectLevel, "tagging", false, "DeleteObjectTagging", deleteObjectTagging},
	{"DELETE", objectLevel, "uploadId", false, "AbortMultipartUpload", abortUpload},
	{"DELETE", objectLevel, "", false, "DeleteObject", deleteObject},

	{"POST", objectLevel, "restore", false, "RestoreObject", nil},
	{"POST", objectLevel, "select", false, "SelectObjectContent", nil},
	{"POST", objectLevel, "uploadId", false, "CompleteMultipartUpload", completeUpload},
	{"POST", objectLevel, "uploads", false, "CreateMultipartUpload", createUpload},

	// CORS preflights, whatever the subresource: ServeHTTP answers them
	// before authentication (servePreflight); the rows name the operation.
	{"OPTIONS", bucketLevel, "", false, opPreflight, nil},
	{"OPTIONS", objectLevel, "", false, opPreflight, nil},
}

// subresources holds every subresource name of routes: a query that holds
// one never reaches an operation on the resource itself.
var subresources = func() map[string]bool {
	m := map[string]bool{}
	for _, r := range routes {
		if r.sub != "" {
			m[r.sub] = true
		}
	}
	return m
}()

// routed is a row of routes with what the metrics need of it, resolved
// once: its operation's index (see observe.go) and what it does to the
// number of uploads open.
type routed struct {
	*route
	opIndex int
	uploads int8
}

// routeIndex holds the rows of each method and level in table order, so
// that a request (a narinfo GET, mostly) scans only its own few. init
// (observe.go) builds it, once the operations are numbered.
var routeIndex map[routeKey][]*routed

func indexRoutes() map[routeKey][]*routed {
	m := map[routeKey][]*routed{}
	for i := range routes {
		r := &routes[i]
		k := routeKey{r.method, r.level}
		m[k] = append(m[k], &routed{route: r, opIndex: opIndex[r.op], uploads: uploadsDelta[r.op]})
	}
	return m
}

type routeKey struct {
	method string
	level  level
}

// find returns the route of q, or nil when S3 defines no operation for its
// method on what it addresses (405 MethodNotAllowed). It also notes the
// subresource, which the log line of a refusal names.
func find(q *request) *routed {
	lv := objectLevel
	switch {
	case q.bucket == "":
		lv = service
	case q.key == "":
		lv = bucketLevel
	}
	hasSub := false
	for k := range q.query {
		if subresources[k] {
			hasSub = true
			q.sub = k
			break
		}
	}
	copySrc := header(q.Header, "X-Amz-Copy-Source") != ""
	for _, r := range routeIndex[routeKey{q.Method, lv}] {
		if r.copy && !copySrc {
			continue
		}
		if r.sub == "" && !hasSub || r.sub != "" && q.has(r.sub) {
			q.sub = r.sub
			return r
		}
	}
	return nil
}

// route picks the operation from the method, the presence of bucket and
// key, and the subresource query keys, and carries it out. Unknown query
// keys (such as the SDKs' x-id) are ignored.
func (h *Handler) route(q *request) error {
	r := q.rt
	if r == nil {
		if r = find(q); r == nil {
			return errorf("MethodNotAllowed", "")
		}
	}
	q.op = r.op
	if r.serve == nil {
		return errorf("NotImplemented", "")
	}
	if err := checkExpectedOwner(q); err != nil {
		return err
	}
	if done, err := rootCacheInfo(q); done {
		return err
	}
	err := r.serve(q)
	if err == nil && r.uploads != 0 && q.note != nil && !q.sameUploads {
		q.note.Uploads = r.uploads
	}
	return err
}

// logNotImplemented tells the operator which call a client needed that
// nixbucket does not carry out: every 501 is logged with the operation
// and subresource.
func (h *Handler) logNotImplemented(q *request, e *Error) {
	h.log().LogAttrs(q.Context(), slog.LevelWarn, "not implemented",
		slog.String("operation", q.op), slog.String("subresource", q.sub),
		slog.String("method", q.Method), slog.String("bucket", q.bucket), slog.String("key", q.key),
		slog.String("why", e.Message))
}

// listObjects is ListObjects or, with list-type=2, ListObjectsV2.
func listObjects(q *request) error {
	if q.query.Get("list-type") == "2" {
		q.op = "ListObjectsV2"
		if q.note != nil {
			q.note.Op = opListV2
		}
		return listObjectsV2(q)
	}
	return listObjectsV1(q)
}

func notImplemented(*request) error { return errorf("NotImplemented", "") }
