package target

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/client/storeurl"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// keysTimeout bounds ServerKeys: it only decides whether to warn.
const keysTimeout = 5 * time.Second

// ErrKeysRefused is returned by ServerKeys when the server would not say
// which keys sign the bucket: it answers GET /-/keys/BUCKET only to a
// caller who may read the bucket's nix-cache-info.
var ErrKeysRefused = errors.New("the server does not tell these credentials which keys sign the bucket")

// ServerKeys asks the server of a store URL for the public keys it signs
// the bucket's narinfos with, through nixbucket's "GET /-/keys/BUCKET"
// (one key per line; 200 with none when the bucket has none), with the
// netrc or bearer credentials o names for an http(s) cache (an s3:// one
// asks anonymously: the endpoint does not take SigV4). It returns
// ErrKeysRefused on a 401 or 403, and ErrNotFound when the server has no
// keys for the bucket or cannot say: it is not nixbucket (a 404, another
// answer, or a body that is not keys), it is AWS (s3:// without
// endpoint=), or the cache is a directory.
func ServerKeys(ctx context.Context, s *storeurl.Store, o Options) ([]signature.PublicKey, error) {
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
	if s.Scheme == storeurl.SchemeHTTP || s.Scheme == storeurl.SchemeHTTPS {
		if pu, err := url.Parse(s.BaseURL); err == nil {
			if auth, _, err := httpAuth(pu, o); err == nil && auth != "" {
				req.Header.Set("Authorization", auth)
			}
		}
	}
	resp, err := keysClient(s).Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking %s for its signing keys: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return nil, ErrKeysRefused
	}
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

// keysClient is the client for ServerKeys: the default one, except that
// for s3:// URLs the certificates in AWS_CA_BUNDLE are trusted too, as the
// AWS SDK trusts them for the bucket's own requests.
func keysClient(s *storeurl.Store) *http.Client {
	bundle := os.Getenv("AWS_CA_BUNDLE")
	if s.Scheme != storeurl.SchemeS3 || bundle == "" {
		return http.DefaultClient
	}
	pem, err := os.ReadFile(bundle)
	if err != nil {
		return http.DefaultClient
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pool.AppendCertsFromPEM(pem)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return &http.Client{Transport: tr}
}
