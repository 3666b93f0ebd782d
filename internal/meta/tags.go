package meta

import (
	"context"
	"errors"
)

// Tag is one object tag (S3's object tagging): a key and a value.
type Tag struct {
	Key, Value string
}

// ErrSharedBlob is PutPart's answer to a part that shares an object's blob
// (Part.Shared) when no object refers to that blob any more, or when
// another part of the same upload already uses it.
var ErrSharedBlob = errors.New("shared blob no longer referenced, or already a part of the upload")

// Tagging is the object-tag part of the Store. An object's tags are kept
// with it (Object.Tags, in the order set): PutObject and CompleteUpload
// store obj.Tags, an upload keeps the tags its object will get
// (Upload.Tags), and DeleteObject removes them with the object.
type Tagging interface {
	// SetObjectTags replaces the tags of the object under key, leaving
	// everything else of it (its ETag, its modification time) as it is;
	// none (nil or empty) removes them: ErrNoSuchBucket, ErrNoSuchKey.
	// Like PutObject, it counts as an object change for ObjectWatcher.
	SetObjectTags(ctx context.Context, bucket, key string, tags []Tag) error
}
