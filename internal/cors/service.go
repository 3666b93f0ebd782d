package cors

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/nixbucket/nixbucket/internal/gencache"
	"github.com/nixbucket/nixbucket/internal/meta"
)

// Store is what the Service keeps configurations in: the metadata store's
// settings, announced like every setting (meta.Announcer), so that a
// change made through any server reaches every server's cache by the next
// request.
type Store interface {
	meta.Announcer
	Bucket(ctx context.Context, name string) (meta.Bucket, error)
	Setting(ctx context.Context, name string) (string, error)
	SetSetting(ctx context.Context, name, value string) error
}

// A configuration is the setting "cors/BUCKET", its value the bucket's
// creation time (stamp), a newline and the XML as PutBucketCors stored it.
// A configuration stamped with another creation time belongs to a bucket of
// that name since deleted, and is not the new one's.
const settingPrefix = "cors/"

// stamp is a bucket's creation time as its configuration is stamped with:
// Unix microseconds, the precision both stores keep (SQLite nanoseconds,
// PostgreSQL microseconds; nixbucket migrate copies between them). Seconds
// were too coarse: a bucket deleted and made again within the second (a
// script's delete-bucket, create-bucket) took over its predecessor's
// configuration.
func stamp(b meta.Bucket) string { return strconv.FormatInt(b.Created.UnixMicro(), 10) }

// Service keeps the configurations, and the parsed ones in memory while
// the store's generation stays.
type Service struct {
	Store Store

	cache     gencache.Cache[string, *Config] // nil: none
	cacheOnce sync.Once                       // bounds cache, before its first use
}

// maxCached bounds the configurations kept in memory.
const maxCached = 10000

// Config returns the bucket's configuration, nil when it has none (or
// does not exist).
func (s *Service) Config(ctx context.Context, bucket string) (*Config, error) {
	gen, err := s.Store.Generation(ctx)
	if err != nil {
		return nil, err
	}
	s.cacheOnce.Do(func() { s.cache.MaxCost = maxCached })
	c, t, ok := s.cache.Get(gen, bucket)
	if ok {
		return c, nil
	}
	c, err = s.load(ctx, bucket)
	if err != nil {
		return nil, err
	}
	s.cache.Put(t, bucket, c)
	return c, nil
}

func (s *Service) load(ctx context.Context, bucket string) (*Config, error) {
	b, err := s.Store.Bucket(ctx, bucket)
	if errors.Is(err, meta.ErrNoSuchBucket) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v, err := s.Store.Setting(ctx, settingPrefix+bucket)
	if err != nil || v == "" {
		return nil, err
	}
	st, doc, _ := strings.Cut(v, "\n")
	if st != stamp(b) {
		return nil, nil
	}
	c, err := Parse([]byte(doc))
	if err != nil {
		return nil, fmt.Errorf("bucket %s: the stored CORS configuration does not parse: %w", bucket, err)
	}
	return c, nil
}

// Set stores the bucket's configuration: meta.ErrNoSuchBucket for a
// missing bucket.
func (s *Service) Set(ctx context.Context, bucket string, c *Config) error {
	b, err := s.Store.Bucket(ctx, bucket)
	if err != nil {
		return err
	}
	v := stamp(b) + "\n" + string(c.Marshal())
	return s.Store.SetSetting(ctx, settingPrefix+bucket, v)
}

// Delete removes the bucket's configuration: meta.ErrNoSuchBucket for a
// missing bucket.
func (s *Service) Delete(ctx context.Context, bucket string) error {
	if _, err := s.Store.Bucket(ctx, bucket); err != nil {
		return err
	}
	return s.Store.SetSetting(ctx, settingPrefix+bucket, "")
}
