package meta

import "context"

// DefaultAbortUploadsDays is how many days after its initiation a
// multipart upload no lifecycle rule covers is aborted.
const DefaultAbortUploadsDays = 7

// LifecycleRule is one rule of a bucket's lifecycle configuration (S3's
// PutBucketLifecycleConfiguration), reduced to the actions nixbucket
// carries out. A rule with neither action is never stored.
type LifecycleRule struct {
	ID      string
	Enabled bool
	// Prefix selects the keys the rule applies to; empty means all.
	Prefix string
	// AbortUploadsDays, when positive, aborts multipart uploads under
	// Prefix that many days after their initiation.
	AbortUploadsDays int
	// ExpirationDays, when positive, deletes objects under Prefix that
	// many days after they were last written.
	ExpirationDays int
}

// Lifecycle is the lifecycle part of the Store: each bucket's rules, kept
// verbatim. Rules are read by the periodic sweep and the S3 GET only, so
// their writes are not announced (see Announcer). DeleteBucket removes the
// bucket's rules.
type Lifecycle interface {
	// LifecycleRules returns the bucket's rules in the order they were
	// set, none (nil) until set: ErrNoSuchBucket.
	LifecycleRules(ctx context.Context, bucket string) ([]LifecycleRule, error)
	// SetLifecycleRules replaces the bucket's rules with rules, in order;
	// none (nil or empty) removes them: ErrNoSuchBucket.
	SetLifecycleRules(ctx context.Context, bucket string, rules []LifecycleRule) error
}
