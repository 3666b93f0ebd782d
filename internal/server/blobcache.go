package server

import (
	"fmt"
	"path/filepath"

	"github.com/nixbucket/nixbucket/internal/storage/blobcache"
	"github.com/nixbucket/nixbucket/internal/storage/s3store"
	"github.com/nixbucket/nixbucket/internal/units"
)

// openBlobCache puts the blob cache of Options.BlobCacheSize in front of
// an S3 blob store (internal/storage/blobcache), and returns what the
// object layer reads and writes through: the cache, or blobs itself when
// the cache is off or the blobs are local (a local blob is a file
// already). The cache is the server's to close (closeBlobs).
func (s *Server) openBlobCache(blobs BlobStore) (BlobStore, error) {
	b, ok := blobs.(*s3store.Backend)
	if !ok || s.opts.BlobCacheSize <= 0 {
		return blobs, nil
	}
	dir := s.opts.BlobCache
	if dir == "" {
		dir = filepath.Join(s.opts.Data, "blobcache")
	}
	// Copies leave --min-free free, on the data directory's disk or the
	// cache's own.
	c, err := blobcache.Open(b, blobcache.Options{Dir: dir, Size: s.opts.BlobCacheSize, KeepFree: s.space.MinFree(), Log: s.log})
	if err != nil {
		return nil, fmt.Errorf("opening the blob cache: %w", err)
	}
	st := c.Disk().Stats()
	s.log.Info("keeping hot blobs of the blob store on local disk", "blob-cache", dir,
		"blob-cache-size", units.Bytes(s.opts.BlobCacheSize), "kept", units.Bytes(st.Bytes), "files", st.Entries,
		"min-blob", units.Bytes(blobcache.DefaultMinSize))
	s.blobCache = c
	return c, nil
}

// closeBlobs stops the blob cache's fills and closes the blob store.
func (s *Server) closeBlobs() error {
	if s.blobCache != nil {
		return s.blobCache.Close() // closes the store too
	}
	return s.blobs.Close()
}
