package migrate

import (
	"bytes"
	"maps"
	"slices"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// sameTime reports whether two stored times are one: stores keep times
// to the microsecond or better (see package meta), so a time copied from
// a store that keeps nanoseconds reads back within a microsecond.
func sameTime(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -time.Microsecond && d < time.Microsecond
}

// sameObject reports whether two objects are the same copy: record,
// segments, tags and narinfo record.
func sameObject(a, b meta.Object) bool {
	return sameUntagged(a, b) && slices.Equal(a.Tags, b.Tags)
}

// sameUntagged is sameObject but for the tags: an object whose tags alone
// changed (PutObjectTagging, which keeps its ETag and modification time)
// needs only its tags set.
func sameUntagged(a, b meta.Object) bool {
	return a.Bucket == b.Bucket && a.Key == b.Key && a.Size == b.Size && a.ETag == b.ETag &&
		sameTime(a.Modified, b.Modified) && sameHeaders(a.Headers, b.Headers) &&
		bytes.Equal(a.SHA256, b.SHA256) && a.ChecksumAlgorithm == b.ChecksumAlgorithm &&
		a.Checksum == b.Checksum && a.PartsCount == b.PartsCount &&
		slices.EqualFunc(a.Segments, b.Segments, sameSegment) && sameNarinfo(a.Narinfo, b.Narinfo)
}

func sameHeaders(a, b meta.Headers) bool {
	return a.ContentType == b.ContentType && a.ContentEncoding == b.ContentEncoding &&
		a.ContentDisposition == b.ContentDisposition && a.ContentLanguage == b.ContentLanguage &&
		a.CacheControl == b.CacheControl && a.Expires == b.Expires && maps.Equal(a.UserMeta, b.UserMeta)
}

func sameSegment(a, b meta.Segment) bool {
	return a.Blob == b.Blob && a.Size == b.Size && bytes.Equal(a.Data, b.Data)
}

// sameNarinfo compares two narinfo records, either of them possibly nil.
func sameNarinfo(a, b *meta.Narinfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Bucket == b.Bucket && a.Hash == b.Hash && a.StorePath == b.StorePath && a.URL == b.URL &&
		a.Compression == b.Compression && a.FileHash == b.FileHash && a.FileSize == b.FileSize &&
		a.NarHash == b.NarHash && a.NarSize == b.NarSize && slices.Equal(a.References, b.References) &&
		a.Deriver == b.Deriver && slices.Equal(a.Sigs, b.Sigs) && a.CA == b.CA &&
		sameTime(a.Created, b.Created) && sameTime(a.LastAccess, b.LastAccess)
}

func samePart(a, b meta.Part) bool {
	return a.Number == b.Number && a.Size == b.Size && a.ETag == b.ETag && sameTime(a.Modified, b.Modified) &&
		a.Checksum == b.Checksum && sameSegment(a.Segment, b.Segment)
}

func sameUpload(a, b meta.Upload) bool {
	return a.Bucket == b.Bucket && a.Key == b.Key && a.ID == b.ID && sameTime(a.Initiated, b.Initiated) &&
		sameHeaders(a.Headers, b.Headers) && a.ChecksumAlgorithm == b.ChecksumAlgorithm &&
		a.ChecksumType == b.ChecksumType && slices.Equal(a.Tags, b.Tags)
}
