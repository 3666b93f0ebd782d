// Package metatest is the conformance suite every meta.Store passes.
//
// A store's own test calls Run with a function that opens a new, empty
// store and registers its Close with t.Cleanup, and returns with it a
// function that opens a second instance on the same store (as another
// server, or the admin CLI, would), also closed by t.Cleanup:
//
//	metatest.Run(t, func(t *testing.T) (meta.Store, metatest.Reopen) {
//		path := filepath.Join(t.TempDir(), "meta.db")
//		open := func(t *testing.T) meta.Store {
//			s, err := sqlite.Open(path)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		}
//		return open(t), open
//	})
package metatest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Reopen opens another instance of the store Open returned: another
// process's view of the same data.
type Reopen func(t *testing.T) meta.Store

// Open returns a new, empty store and the way to open it again.
type Open func(t *testing.T) (meta.Store, Reopen)

// Run runs the conformance suite; open must return a new, empty store for
// each subtest.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s meta.Store)
	}{
		{"Buckets", testBuckets},
		{"DeleteBucketNotEmpty", testDeleteBucketNotEmpty},
		{"Objects", testObjects},
		{"ObjectMissingBucket", testObjectMissingBucket},
		{"ManySegments", testManySegments},
		{"PutCheck", testPutCheck},
		{"DeleteCheck", testDeleteCheck},
		{"ScanObjects", testScanObjects},
		{"ScanObjectsPaging", testScanObjectsPaging},
		{"SharedBlob", testSharedBlob},
		{"Uploads", testUploads},
		{"Parts", testParts},
		{"CompleteUpload", testCompleteUpload},
		{"CompleteUploadInvalid", testCompleteUploadInvalid},
		{"CompleteUploadCheck", testCompleteUploadCheck},
		{"AbortUpload", testAbortUpload},
		{"ScanUploads", testScanUploads},
		{"UploadChecksums", testUploadChecksums},
		{"Referenced", testReferenced},
		{"AccessKeys", testAccessKeys},
		{"Users", testUsers},
		{"DeleteUserCascade", testDeleteUserCascade},
		{"AccessKeyAdmin", testAccessKeyAdmin},
		{"Tokens", testTokens},
		{"BucketPolicies", testBucketPolicies},
		{"Settings", testSettings},
		{"Generation", testGeneration},
		{"ConcurrentPut", testConcurrentPut},
		{"ConcurrentCreateIfAbsent", testConcurrentCreateIfAbsent},
		{"NarinfoIndex", testNarinfoIndex},
		{"NarinfoCheck", testNarinfoCheck},
		{"NarinfoCompleteUpload", testNarinfoCompleteUpload},
		{"CacheStats", testCacheStats},
		{"TouchNarinfos", testTouchNarinfos},
		{"NarinfoUsesReferences", testNarinfoUsesReferences},
		{"CheckSeesNarinfo", testCheckSeesNarinfo},
		{"CollectObject", testCollectObject},
		{"ScanNarinfoRecords", testScanNarinfoRecords},
		{"NarinfosBatch", testNarinfosBatch},
		{"SearchNarinfos", testSearchNarinfos},
		{"RecentNarinfos", testRecentNarinfos},
		{"CacheSettings", testCacheSettings},
		{"SigningKeys", testSigningKeys},
		{"NixBucketCleanup", testNixBucketCleanup},
		{"NixGeneration", testNixGeneration},
		{"LifecycleRules", testLifecycleRules},
		{"Pins", testPins},
		{"PinnedPaths", testPinnedPaths},
		{"PinsBucketCleanup", testPinsBucketCleanup},
		{"Retention", testRetention},
		{"ScanNarinfoEdges", testScanNarinfoEdges},
		{"Tags", testTags},
		{"SharedPart", testSharedPart},
		{"Traffic", testTraffic},
		{"Usage", testUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := open(t)
			tc.fn(t, s)
		})
	}
	// The store's contract across instances: what another server or the
	// admin CLI, working on the same store, must see.
	shared := []struct {
		name string
		fn   func(t *testing.T, s meta.Store, reopen Reopen)
	}{
		{"SharedData", testSharedData},
		{"GenerationShared", testGenerationShared},
		{"GenerationMonotonic", testGenerationMonotonic},
		{"TimePrecision", testTimePrecision},
		{"NULKeys", testNULKeys},
		{"LifecycleRulesShared", testLifecycleRulesShared},
		{"PinsShared", testPinsShared},
		{"RaceCreateIfAbsentShared", testRaceCreateIfAbsentShared},
		{"RaceIfMatchShared", testRaceIfMatchShared},
		{"RaceCollectNarinfoShared", testRaceCollectNarinfoShared},
		{"RaceCompleteUploadShared", testRaceCompleteUploadShared},
		{"RaceSharedBlobShared", testRaceSharedBlobShared},
		{"ObjectChangesShared", testObjectChangesShared},
		{"JobLocksShared", testJobLocksShared},
		{"JobLocksRace", testJobLocksRace},
		{"TagsShared", testTagsShared},
		{"TrafficShared", testTrafficShared},
	}
	for _, tc := range shared {
		t.Run(tc.name, func(t *testing.T) {
			s, reopen := open(t)
			tc.fn(t, s, reopen)
		})
	}
}

// when is a fixed time outside UTC with microseconds, so that round trips
// show both precision and conversion to UTC. Stores keep microseconds at
// least (see TimePrecision for nanoseconds).
var when = time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.FixedZone("UTC+1", 3600))

var blobSeq atomic.Int64

// newBlob returns a segment with a blob ID unique in the process.
func newBlob(size int64) meta.Segment {
	return meta.Segment{Blob: fmt.Sprintf("blob-%06d", blobSeq.Add(1)), Size: size}
}

// newObject returns an object with every field set and one fresh segment.
func newObject(bucket, key string) meta.Object {
	seg := newBlob(int64(len(key)) + 100)
	return meta.Object{
		Bucket:   bucket,
		Key:      key,
		Size:     seg.Size,
		ETag:     "0123456789abcdef0123456789abcdef",
		Modified: when,
		Headers: meta.Headers{
			ContentType:        "application/x-nix-nar",
			ContentEncoding:    "zstd",
			ContentDisposition: `attachment; filename="x.nar"`,
			ContentLanguage:    "en",
			CacheControl:       "max-age=3600",
			Expires:            "Wed, 21 Oct 2026 07:28:00 GMT",
			UserMeta:           map[string]string{"owner": "nix", "é": "ünïcode"},
		},
		SHA256:            bytes.Repeat([]byte{0xab}, 32),
		ChecksumAlgorithm: "CRC32",
		Checksum:          "AAAAAA==",
		Segments:          []meta.Segment{seg},
	}
}

func mustCreateBucket(t *testing.T, s meta.Store, name string) {
	t.Helper()
	if err := s.CreateBucket(t.Context(), meta.Bucket{Name: name, Created: when}); err != nil {
		t.Fatalf("CreateBucket(%q): %v", name, err)
	}
}

func mustPut(t *testing.T, s meta.Store, obj meta.Object) []meta.Segment {
	t.Helper()
	g, err := s.PutObject(t.Context(), obj, nil)
	if err != nil {
		t.Fatalf("PutObject(%q/%q): %v", obj.Bucket, obj.Key, err)
	}
	return g
}

func mustObject(t *testing.T, s meta.Store, bucket, key string) meta.Object {
	t.Helper()
	obj, err := s.Object(t.Context(), bucket, key)
	if err != nil {
		t.Fatalf("Object(%q/%q): %v", bucket, key, err)
	}
	return obj
}

// wantErr fails unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

// checkTime fails unless got is want in UTC.
func checkTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("%s: time %v (%v), want %v in UTC", what, got, got.Location(), want)
	}
}

// normObject makes got and want comparable: times in UTC, empty maps and
// slices nil.
func normObject(o meta.Object) meta.Object {
	o.Modified = o.Modified.UTC()
	o.Headers = normHeaders(o.Headers)
	if len(o.SHA256) == 0 {
		o.SHA256 = nil
	}
	if len(o.Segments) == 0 {
		o.Segments = nil
	}
	return o
}

func normHeaders(h meta.Headers) meta.Headers {
	if len(h.UserMeta) == 0 {
		h.UserMeta = nil
	}
	return h
}

// checkObject fails unless got equals want, segments included unless
// withSegments is false.
func checkObject(t *testing.T, got, want meta.Object, withSegments bool) {
	t.Helper()
	checkTime(t, "object "+want.Key+" Modified", got.Modified, want.Modified)
	if !withSegments {
		got.Segments, want.Segments = nil, nil
	}
	if g, w := normObject(got), normObject(want); !reflect.DeepEqual(g, w) {
		t.Errorf("object %q:\n got %+v\nwant %+v", want.Key, g, w)
	}
}

// blobs returns the blob IDs of segs, sorted.
func blobs(segs []meta.Segment) []string {
	ids := make([]string, len(segs))
	for i, s := range segs {
		ids[i] = s.Blob
	}
	slices.Sort(ids)
	return ids
}

// checkGarbage fails unless got holds exactly the segments of want, in any
// order.
func checkGarbage(t *testing.T, what string, got []meta.Segment, want ...meta.Segment) {
	t.Helper()
	g := slices.Clone(got)
	w := slices.Clone(want)
	cmp := func(a, b meta.Segment) int { return strings.Compare(a.Blob, b.Blob) }
	slices.SortFunc(g, cmp)
	slices.SortFunc(w, cmp)
	if len(g) == 0 && len(w) == 0 {
		return
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: garbage %v, want %v", what, g, w)
	}
}

// checkReferenced fails unless Referenced answers want for each blob.
func checkReferenced(t *testing.T, s meta.Store, want map[string]bool) {
	t.Helper()
	got, err := s.Referenced(t.Context(), slices.Collect(maps.Keys(want)))
	if err != nil {
		t.Fatalf("Referenced: %v", err)
	}
	for b, w := range want {
		if got[b] != w {
			t.Errorf("Referenced[%q] = %v, want %v", b, got[b], w)
		}
	}
}
