package objects

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// ValidBucketName checks AWS's general-purpose bucket naming rules
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html),
// and refuses what S3's CreateBucket refuses beyond them: a hyphen next
// to a dot (each dot-separated label must begin and end with a letter or
// digit, the DNS rule; ceph's s3-tests test_bucket_create_naming_dns_dash_dot
// and _dot_dash see AWS answer InvalidBucketName). It is checked when a
// bucket is created only: a bucket made under older rules keeps working.
func ValidBucketName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: %q: %s", ErrInvalidBucketName, name, why)
	}
	if len(name) < 3 || len(name) > 63 {
		return bad("must be 3 to 63 characters long")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return bad("may hold only lowercase letters, digits, dots and hyphens")
		}
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return bad("must begin and end with a letter or digit")
	}
	if strings.Contains(name, "..") {
		return bad("must not hold two adjacent dots")
	}
	if strings.Contains(name, "-.") || strings.Contains(name, ".-") {
		return bad("must not hold a hyphen next to a dot")
	}
	if ipLike(name) {
		return bad("must not be formatted as an IP address")
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return bad("must not start with " + p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return bad("must not end with " + s)
		}
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// ipLike reports whether name is four dot-separated runs of digits, as
// AWS's SDKs tell an IP address from a bucket name (the Java SDK's
// BucketNameUtils, `(\d+\.){3}\d+`): 192.168.5.4, and also 192.168.05.4
// or 999.1.1.1, which a strict address parser refuses but a host name
// resolver may still take for an address.
func ipLike(name string) bool {
	labels := strings.Split(name, ".")
	if len(labels) != 4 {
		return false
	}
	for _, l := range labels {
		if l == "" || strings.Trim(l, "0123456789") != "" {
			return false
		}
	}
	return true
}

// CreateBucket creates a bucket; meta.ErrBucketExists if it exists. The
// Hook, when it is a BucketHook, then sets it up.
func (s *Service) CreateBucket(ctx context.Context, name string) (err error) {
	defer storageFull(&err)
	if err := ValidBucketName(name); err != nil {
		return err
	}
	if err := s.admit(0); err != nil {
		return err
	}
	err = s.Meta.CreateBucket(ctx, meta.Bucket{Name: name, Created: s.now()})
	s.forgetAll()
	s.dropFilters()
	if err != nil {
		return err
	}
	return s.bucketCreated(ctx, name)
}

// Bucket returns a bucket's record; meta.ErrNoSuchBucket if missing.
func (s *Service) Bucket(ctx context.Context, name string) (meta.Bucket, error) {
	return s.Meta.Bucket(ctx, name)
}

// bucketStamp is where the store's buckets stood when a bucket was seen
// to exist: the generation, which every bucket creation and deletion on
// any server moves (meta.Announcer), and the Service's count of its own
// forgetting everything.
type bucketStamp struct{ gen, all uint64 }

// needBucket returns a wrapped meta.ErrNoSuchBucket unless the bucket
// exists, before a write reads its body: a bucket seen to exist is not
// asked about again while the stamp it was seen under holds, which spares
// every PUT a round trip to the metadata store (PostgreSQL). A bucket
// deleted since, on another server whose announcement has not arrived
// yet, still fails the write: the store refuses to commit an object to a
// missing bucket (metatest ObjectMissingBucket).
func (s *Service) needBucket(ctx context.Context, name string) error {
	stamp, ok := s.bucketStamp(ctx)
	if ok {
		if v, seen := s.known.Load(name); seen && v.(bucketStamp) == stamp {
			return nil
		}
	}
	if _, err := s.Meta.Bucket(ctx, name); err != nil {
		return err
	}
	if ok {
		s.known.Store(name, stamp)
	}
	return nil
}

// NeedBucket is needBucket, for a caller that refuses a request to a
// missing bucket before the store would (a DELETE, whose missing key is
// not an error): the store still refuses it if the bucket went since.
func (s *Service) NeedBucket(ctx context.Context, name string) error {
	return s.needBucket(ctx, name)
}

// bucketStamp is the current bucketStamp; ok is false when the Service
// cannot vouch for it (NoMemo, the store's change feed away, no
// generation).
func (s *Service) bucketStamp(ctx context.Context) (_ bucketStamp, ok bool) {
	a, isAnnouncer := s.Meta.(meta.Announcer)
	if !isAnnouncer || !s.inMemory(ctx, "") {
		return bucketStamp{}, false
	}
	all := s.versions.all.Load()
	g, err := a.Generation(ctx)
	if err != nil {
		return bucketStamp{}, false
	}
	return bucketStamp{gen: g, all: all}, true
}

// Buckets lists all buckets by name.
func (s *Service) Buckets(ctx context.Context) ([]meta.Bucket, error) {
	return s.Meta.Buckets(ctx)
}

// DeleteBucket removes a bucket that holds no objects. Multipart uploads
// in progress do not keep it, as on AWS: they are aborted with it
// (meta.ErrBucketNotEmpty counts them, so they are aborted first, and only
// once the bucket is seen to hold no object).
func (s *Service) DeleteBucket(ctx context.Context, name string) error {
	var err error
	for range 3 { // uploads started meanwhile are aborted on the next round
		err = s.freeing(func() error { return s.Meta.DeleteBucket(ctx, name) })
		if !errors.Is(err, meta.ErrBucketNotEmpty) {
			break
		}
		var aborted bool
		if aborted, err = s.abortUploadsOfEmpty(ctx, name); err != nil || !aborted {
			break
		}
	}
	s.forgetAll() // its keys' missing entries must say NoSuchBucket now
	s.dropFilters()
	s.known.Delete(name)
	if err == nil {
		s.versions.buckets.Delete(name) // see Version
	}
	return err
}

// abortUploadsOfEmpty aborts every multipart upload of a bucket that holds
// no object, and reports whether it aborted any; a bucket with objects
// gets meta.ErrBucketNotEmpty.
func (s *Service) abortUploadsOfEmpty(ctx context.Context, bucket string) (bool, error) {
	objs, err := s.Meta.ScanObjects(ctx, meta.ScanQuery{Bucket: bucket, Limit: 1})
	if err != nil {
		return false, err
	}
	if len(objs) > 0 {
		return false, fmt.Errorf("delete bucket %q: %w", bucket, meta.ErrBucketNotEmpty)
	}
	aborted := false
	for {
		ups, err := s.Meta.ScanUploads(ctx, meta.ScanQuery{Bucket: bucket, Limit: 1000})
		if err != nil {
			return aborted, err
		}
		for _, u := range ups {
			if _, err := s.AbortUploadFreed(ctx, bucket, u.Key, u.ID); err != nil && !errors.Is(err, meta.ErrNoSuchUpload) {
				return aborted, err
			}
			aborted = true
		}
		if len(ups) < 1000 {
			return aborted, nil
		}
	}
}
