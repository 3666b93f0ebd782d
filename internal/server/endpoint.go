package server

import (
	"context"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/binarycache"
	"github.com/nixbucket/nixbucket/internal/meta"
)

// Settings under which a serving server records where it is reached, so
// that `nixbucket info` can print the banner again with the right URLs.
const (
	settingEndpoint = "last-endpoint"
	settingOther    = "last-endpoint-other"
	settingRegion   = "last-region"
	settingCAFile   = "last-ca-file"
	settingCARoot   = "last-ca-root"
)

// ClientCA is the certificate file clients must trust to reach an https
// endpoint whose certificate the system's CAs do not vouch for (a
// self-signed one, or one of a private CA): File is "" when they need
// none. Root says File holds a root (see tlsconf.Trust.HoldsRoot), which
// every client then takes as its CA bundle.
type ClientCA struct {
	File string
	Root bool
}

// RecordEndpoint remembers the URLs the server is reached at (see
// UsableEndpoint), the certificate its clients must trust, and its
// region, for ReadBanner.
func (s *Server) RecordEndpoint(ctx context.Context, endpoint, other string, ca ClientCA) error {
	root := ""
	if ca.Root {
		root = "1"
	}
	for name, v := range map[string]string{settingEndpoint: endpoint, settingOther: other, settingRegion: s.opts.Region,
		settingCAFile: ca.File, settingCARoot: root} {
		if err := s.meta.SetSetting(ctx, name, v); err != nil {
			return fmt.Errorf("recording the endpoint: %w", err)
		}
	}
	return nil
}

// ReadBanner gathers the banner's facts from a metadata store: the admin
// key id, every bucket with its public keys and whether anonymous callers
// may read it, and the endpoint and region the server last served with
// (empty when it never served). data is the absolute data directory.
func ReadBanner(ctx context.Context, store meta.Store, acc *access.Service, data string) (Banner, error) {
	b := Banner{Data: data, Cache: DefaultCache}
	keys, err := store.AccessKeys(ctx)
	if err != nil {
		return b, fmt.Errorf("reading access keys: %w", err)
	}
	for _, k := range keys {
		if k.User == RootUser && k.Enabled {
			b.RootKeyID = k.ID
			break
		}
	}
	var root string
	for name, v := range map[string]*string{settingEndpoint: &b.Endpoint, settingOther: &b.Other, settingRegion: &b.Region,
		settingCAFile: &b.CA.File, settingCARoot: &root} {
		if *v, err = store.Setting(ctx, name); err != nil {
			return b, fmt.Errorf("reading setting %s: %w", name, err)
		}
	}
	b.CA.Root = root != ""
	if b.Region == "" {
		b.Region = "us-east-1"
	}
	buckets, err := store.Buckets(ctx)
	if err != nil {
		return b, fmt.Errorf("listing buckets: %w", err)
	}
	hasDefault := false
	for _, bk := range buckets {
		pub, err := binarycache.PublicKeys(ctx, store, bk.Name)
		if err != nil {
			return b, err
		}
		anon := false
		if acc != nil {
			if anon, err = acc.GrantsAnonymous(ctx, bk.Name); err != nil {
				return b, fmt.Errorf("bucket %s policy: %w", bk.Name, err)
			}
		}
		b.Buckets = append(b.Buckets, BannerBucket{Name: bk.Name, Keys: pub, Public: anon})
		hasDefault = hasDefault || bk.Name == DefaultCache
	}
	if !hasDefault && len(buckets) > 0 {
		b.Cache = buckets[0].Name
	}
	return b, nil
}
