package target

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/client/storeurl"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// keysTimeout bounds ServerKeys: it only decides whether to warn.
const keysTimeout = 5 * time.Second

// ServerKeys asks the server of a store URL for the public keys it signs
// the bucket's narinfos with, through nixbucket's unauthenticated
// "GET /-/keys/BUCKET" (one key per line; 404 when the bucket has none or
// does not exist). It returns ErrNotFound when the server has no keys for
// the bucket, or cannot say: it is not nixbucket (a 404, another answer, or
// a body that is not keys), it is AWS (s3:// without endpoint=), or the
// cache is a directory.
func ServerKeys(ctx context.Context, s *storeurl.Store) ([]signature.PublicKey, error) {
	u, bucket := keysURL(s)
	if u == "" {
		return nil, ErrNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, keysTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/-/keys/"+url.PathEscape(bucket), nil)
	if err != nil {
		return nil, ErrNotFound
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking %s for its signing keys: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, ErrNotFound
	}
	var keys []signature.PublicKey
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 64<<10))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		k, err := signature.ParsePublicKey(line)
		if err != nil {
			return nil, ErrNotFound // not a list of keys: not nixbucket's endpoint
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, ErrNotFound
	}
	return keys, nil
}

// keysURL returns the origin (scheme://host[:port]) of the server that
// holds a store URL's bucket, and the bucket's name, or "" when there is
// no server to ask. An http(s) cache is taken to be path-style, as
// nixbucket's own URLs are: its first path segment is the bucket.
func keysURL(s *storeurl.Store) (origin, bucket string) {
	switch s.Scheme {
	case storeurl.SchemeS3:
		if s.S3.Endpoint == "" {
			return "", ""
		}
		u, err := url.Parse(s.S3.Endpoint)
		if err != nil {
			return "", ""
		}
		return u.Scheme + "://" + u.Host, s.Bucket
	case storeurl.SchemeHTTP, storeurl.SchemeHTTPS:
		u, err := url.Parse(s.BaseURL)
		if err != nil {
			return "", ""
		}
		b, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
		if b == "" {
			return "", ""
		}
		return u.Scheme + "://" + u.Host, b
	}
	return "", ""
}
