// Package lifecycle carries out each bucket's lifecycle rules: it aborts
// multipart uploads abandoned by crashed clients, and expires objects
// under prefixes that hold no Nix paths (tmp/, scratch areas).
//
// A bucket's rules are its S3 lifecycle configuration
// (PutBucketLifecycleConfiguration), stored through meta.Lifecycle. The
// per-bucket setting abort-uploads-days is the same thing seen from the
// command line: the days of the bucket's whole-bucket (empty prefix)
// AbortIncompleteMultipartUpload rule. An upload no enabled rule covers is
// aborted after meta.DefaultAbortUploadsDays, unless the bucket has such a
// whole-bucket rule with Status Disabled, which turns the default off.
//
// Expiration never applies where narinfos or NARs may live: deleting Nix
// paths by age alone would leave narinfos whose references are gone.
// Their retention is Nix-aware (bucket settings keep-days, max-size). A
// narinfo may still name a NAR under any key (its URL): an object a
// narinfo names is kept, whatever the rules, so a served narinfo never
// points at a NAR gone.
//
// The server runs Sweep every --lifecycle-interval as the "lifecycle" job
// of internal/jobs: with several servers on one store, on one of them at
// a time.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/nixbase32"
)

// ErrInvalidRule is returned (wrapped) for rules that cannot be stored;
// its message says why, for the caller to show.
var ErrInvalidRule = errors.New("invalid lifecycle rule")

// Limits from the S3 documentation.
const (
	MaxRules    = 1000
	MaxIDLength = 255
)

// Day is the unit of a rule's days.
const Day = 24 * time.Hour

// Store is what the lifecycle needs of the metadata store.
type Store interface {
	Buckets(ctx context.Context) ([]meta.Bucket, error)
	ScanObjects(ctx context.Context, q meta.ScanQuery) ([]meta.Object, error)
	ScanUploads(ctx context.Context, q meta.ScanQuery) ([]meta.Upload, error)
	// ScanNarinfoEdges pages through the bucket's narinfo index: the
	// sweep keeps the NARs narinfos name (meta.GC).
	ScanNarinfoEdges(ctx context.Context, bucket, after string, limit int) ([]meta.NarinfoEdge, error)
	// RecentNarinfos reads the narinfos pushed while the sweep runs.
	RecentNarinfos(ctx context.Context, bucket string, limit int) ([]meta.Narinfo, error)
	meta.Lifecycle
}

// Objects is what the sweep asks of the object core: the same deletes
// the S3 API does, so blobs are freed the same way.
type Objects interface {
	// AbortUploadFreed aborts an upload and returns the bytes its parts
	// held: meta.ErrNoSuchUpload when it is gone.
	AbortUploadFreed(ctx context.Context, bucket, key, uploadID string) (int64, error)
	// Expire deletes key if it was last written before cutoff, and no
	// narinfo indexed after named names it as its NAR, and says whether
	// it did and how many bytes the object held.
	Expire(ctx context.Context, bucket, key string, cutoff, named time.Time) (deleted bool, freed int64, err error)
}

// Service reads, checks and stores lifecycle rules, and sweeps by them.
// Its fields are set once before use.
type Service struct {
	Store   Store
	Objects Objects
	Log     *slog.Logger
	// Now is the sweep's clock; nil means time.Now. Tests move it.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Rules returns the bucket's rules, none until set: meta.ErrNoSuchBucket.
func (s *Service) Rules(ctx context.Context, bucket string) ([]meta.LifecycleRule, error) {
	return s.Store.LifecycleRules(ctx, bucket)
}

// SetRules checks rules (Validate) and replaces the bucket's rules with
// them; none removes them. ErrInvalidRule, meta.ErrNoSuchBucket.
func (s *Service) SetRules(ctx context.Context, bucket string, rules []meta.LifecycleRule) error {
	if err := Validate(rules); err != nil {
		return err
	}
	return s.Store.SetLifecycleRules(ctx, bucket, rules)
}

// AbortUploadsDays returns the bucket's abort-uploads-days setting: the
// days of its whole-bucket abort rule, 0 when that rule is disabled, and
// meta.DefaultAbortUploadsDays without one.
func (s *Service) AbortUploadsDays(ctx context.Context, bucket string) (int, error) {
	rules, err := s.Store.LifecycleRules(ctx, bucket)
	if err != nil {
		return 0, err
	}
	if i := wholeBucketAbort(rules); i >= 0 {
		if !rules[i].Enabled {
			return 0, nil
		}
		return rules[i].AbortUploadsDays, nil
	}
	return meta.DefaultAbortUploadsDays, nil
}

// SetAbortUploadsDays sets the bucket's abort-uploads-days: days > 0 sets
// the days of its whole-bucket abort rule (adding one, ID
// "abort-uploads-days", if it has none); 0 disables that rule, so
// uploads no other rule covers are never aborted.
func (s *Service) SetAbortUploadsDays(ctx context.Context, bucket string, days int) error {
	if days < 0 {
		return fmt.Errorf("%w: abort-uploads-days must be 0 (off) or a positive number of days, not %d", ErrInvalidRule, days)
	}
	rules, err := s.Store.LifecycleRules(ctx, bucket)
	if err != nil {
		return err
	}
	if i := wholeBucketAbort(rules); i >= 0 {
		rules[i].Enabled = days > 0
		if days > 0 {
			rules[i].AbortUploadsDays = days
		}
	} else {
		r := meta.LifecycleRule{ID: "abort-uploads-days", Enabled: days > 0, AbortUploadsDays: days}
		if days == 0 {
			// Disabled turns the default off; the days only mark the
			// rule as an abort rule.
			r.AbortUploadsDays = meta.DefaultAbortUploadsDays
		}
		rules = append(rules, r)
	}
	return s.SetRules(ctx, bucket, rules)
}

// wholeBucketAbort returns the index of the first rule that aborts
// uploads of the whole bucket, or -1.
func wholeBucketAbort(rules []meta.LifecycleRule) int {
	for i, r := range rules {
		if r.Prefix == "" && r.AbortUploadsDays > 0 {
			return i
		}
	}
	return -1
}

// AbortDays returns after how many days an upload of key is aborted
// under rules: the fewest of the enabled rules covering key; else none
// (0) when a whole-bucket abort rule is disabled; else the default.
func AbortDays(rules []meta.LifecycleRule, key string) int {
	days := 0
	for _, r := range rules {
		if r.Enabled && r.AbortUploadsDays > 0 && strings.HasPrefix(key, r.Prefix) {
			if days == 0 || r.AbortUploadsDays < days {
				days = r.AbortUploadsDays
			}
		}
	}
	if days > 0 {
		return days
	}
	if wholeBucketAbort(rules) >= 0 {
		return 0 // present, so disabled
	}
	return meta.DefaultAbortUploadsDays
}

// Validate checks rules as S3 does (unique IDs of at most 255 bytes, at
// most 1,000 rules, each with an action and positive days), and refuses
// an Expiration whose prefix may hold narinfos or NARs (HoldsNix).
func Validate(rules []meta.LifecycleRule) error {
	if len(rules) > MaxRules {
		return fmt.Errorf("%w: %d rules, at most %d are allowed", ErrInvalidRule, len(rules), MaxRules)
	}
	ids := map[string]bool{}
	for _, r := range rules {
		if len(r.ID) > MaxIDLength {
			return fmt.Errorf("%w: ID length should not exceed allowed limit of %d", ErrInvalidRule, MaxIDLength)
		}
		if r.ID != "" {
			if ids[r.ID] {
				return fmt.Errorf("%w: rule ID %q is used twice; IDs must be unique", ErrInvalidRule, r.ID)
			}
			ids[r.ID] = true
		}
		if r.AbortUploadsDays < 0 || r.ExpirationDays < 0 {
			return fmt.Errorf("%w: rule %q: days must be a positive integer", ErrInvalidRule, r.ID)
		}
		if r.AbortUploadsDays == 0 && r.ExpirationDays == 0 {
			return fmt.Errorf("%w: rule %q has no action: give it AbortIncompleteMultipartUpload or Expiration", ErrInvalidRule, r.ID)
		}
		if r.ExpirationDays > 0 && HoldsNix(r.Prefix) {
			return fmt.Errorf("%w: rule %q: Expiration on prefix %q would delete narinfos or NARs by age alone and break closures; "+
				"use the Nix-aware retention instead (nixbucket bucket set BUCKET keep-days=N), and keep Expiration for prefixes such as tmp/",
				ErrInvalidRule, r.ID, r.Prefix)
		}
	}
	return nil
}

// HoldsNix reports whether keys with prefix may be narinfos or NARs: the
// prefix is a prefix of "nar/" (the empty one included) or lies under it,
// or is a prefix of some "<hash>.narinfo" key (a 32-character Nix
// base-32 store path hash).
func HoldsNix(prefix string) bool {
	const nar = "nar/"
	if strings.HasPrefix(nar, prefix) || strings.HasPrefix(prefix, nar) {
		return true
	}
	hash, rest := prefix, ""
	if len(prefix) > 32 {
		hash, rest = prefix[:32], prefix[32:]
	}
	if !strings.HasPrefix(".narinfo", rest) {
		return false
	}
	for i := 0; i < len(hash); i++ {
		if strings.IndexByte(nixbase32.Alphabet, hash[i]) < 0 {
			return false
		}
	}
	return true
}
