// Package pins keeps a bucket's pins: named store paths that garbage
// collection keeps, with their closures, whatever the retention settings
// say. Moving a pin (adding a name in use) puts the new path first and
// keeps the pin's last Keep revisions, as cachix pins do. The admin CLI
// and the HTTP API (internal/pinapi) both go through Service, so they
// accept and refuse the same things.
package pins

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/storepath"
)

// ErrInvalid is returned (wrapped) for a malformed pin name, store path or
// keep count.
var ErrInvalid = errors.New("invalid pin")

// ErrNotPushed is returned (wrapped) by Add for a store path the bucket
// has no narinfo for.
var ErrNotPushed = errors.New("store path not in the cache")

// MaxKeep bounds a pin's revisions: a pin is a handful of releases, not a
// history.
const MaxKeep = 1000

// MaxNameLen bounds a pin's name.
const MaxNameLen = 128

// Service adds, lists and removes pins.
type Service struct {
	Store meta.Pins
	// Now is the clock of Updated; time.Now when nil.
	Now func() time.Time
}

// CheckName returns ErrInvalid (wrapped) unless name is 1 to MaxNameLen
// ASCII letters, digits and ".", "_", "+", "-", not starting with "." or
// "-": safe in a URL path segment, a shell word and a file name.
func CheckName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w: name %q: must be 1 to %d characters", ErrInvalid, name, MaxNameLen)
	}
	if name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("%w: name %q: must not start with %q", ErrInvalid, name, name[0])
	}
	for _, c := range []byte(name) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '+' || c == '-'
		if !ok {
			return fmt.Errorf("%w: name %q: only letters, digits, '.', '_', '+' and '-' are allowed", ErrInvalid, name)
		}
	}
	return nil
}

// Add pins storePath under name in bucket, moving the pin when it exists.
// keep zero leaves the pin's count of kept revisions (1 for a new pin);
// otherwise it becomes the pin's. It returns the pin as it now is. The
// store path must have a narinfo in the bucket: else ErrNotPushed, naming
// it. meta.ErrNoSuchBucket; ErrInvalid.
func (s *Service) Add(ctx context.Context, bucket, name, storePath string, keep int) (meta.Pin, error) {
	if err := CheckName(name); err != nil {
		return meta.Pin{}, err
	}
	sp, err := storepath.Parse(storePath)
	if err != nil {
		return meta.Pin{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if keep < 0 || keep > MaxKeep {
		return meta.Pin{}, fmt.Errorf("%w: keep %d: must be 1 to %d", ErrInvalid, keep, MaxKeep)
	}
	p := meta.Pin{Bucket: bucket, Name: name, Paths: []string{sp.String()}, Keep: keep, Updated: s.now()}
	err = s.Store.PutPin(ctx, p)
	if errors.Is(err, meta.ErrNoSuchKey) {
		return meta.Pin{}, fmt.Errorf("%w: %s has no narinfo in bucket %q: push its closure first", ErrNotPushed, p.Paths[0], bucket)
	}
	if err != nil {
		return meta.Pin{}, err
	}
	return s.Get(ctx, bucket, name)
}

// List returns the bucket's pins by name: meta.ErrNoSuchBucket.
func (s *Service) List(ctx context.Context, bucket string) ([]meta.Pin, error) {
	return s.Store.Pins(ctx, bucket)
}

// Get returns one pin: meta.ErrNoSuchBucket, meta.ErrNoSuchPin.
func (s *Service) Get(ctx context.Context, bucket, name string) (meta.Pin, error) {
	ps, err := s.Store.Pins(ctx, bucket)
	if err != nil {
		return meta.Pin{}, err
	}
	for _, p := range ps {
		if p.Name == name {
			return p, nil
		}
	}
	return meta.Pin{}, fmt.Errorf("pin %q of %q: %w", name, bucket, meta.ErrNoSuchPin)
}

// Remove deletes a pin: meta.ErrNoSuchPin.
func (s *Service) Remove(ctx context.Context, bucket, name string) error {
	return s.Store.RemovePin(ctx, bucket, name)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
