package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/nixconf"
)

// httpSource is a plain binary cache over http(s), as Nix's HTTP binary
// cache store reads one.
type httpSource struct {
	base    *url.URL // with a trailing slash, without user info
	name    string
	client  *http.Client
	idle    time.Duration
	auth    string // Authorization header value, "" for none
	user    *url.Userinfo
	netrc   string // netrc file to read at each request, "" for none
	netrcOK bool
}

func newHTTPSource(u *url.URL, opts SourceOptions) (*httpSource, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("upstream URL %q: no host", u.Redacted())
	}
	// Per-upstream credentials ride in the URL's query, as files, so a
	// bucket's settings name no secret.
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "netrc-file":
			opts.NetrcFile = v
		case "bearer-token-file":
			tok, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("upstream %s: bearer token: %w", u.Redacted(), err)
			}
			opts.BearerToken = strings.TrimSpace(string(tok))
		default:
			return nil, fmt.Errorf("upstream URL %q: unknown parameter %q (known: netrc-file, bearer-token-file)", u.Redacted(), k)
		}
	}
	t := opts.Timeouts.withDefaults()
	base := *u
	base.User = nil
	base.RawQuery, base.Fragment = "", ""
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	s := &httpSource{
		base:   &base,
		name:   strings.TrimSuffix(base.String(), "/"),
		client: &http.Client{Transport: transport(t)},
		idle:   t.Idle,
		user:   u.User,
	}
	switch {
	case opts.BearerToken != "":
		s.auth = "Bearer " + opts.BearerToken
	case u.User == nil:
		s.netrc = opts.NetrcFile
		if s.netrc == "" {
			if home, err := os.UserHomeDir(); err == nil {
				s.netrc = filepath.Join(home, ".netrc")
			}
		}
	}
	return s, nil
}

func (s *httpSource) Name() string { return s.name }

// credentials returns the Basic credentials for the request: those in the
// URL, else the netrc file's entry for the host. The netrc file is read at
// each request (it is small), so a rotated password takes effect at once.
func (s *httpSource) setAuth(req *http.Request) {
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
		return
	}
	if s.user != nil {
		pw, _ := s.user.Password()
		req.SetBasicAuth(s.user.Username(), pw)
		return
	}
	if s.netrc == "" {
		return
	}
	data, err := os.ReadFile(s.netrc)
	if err != nil {
		return
	}
	if login, pw, ok := nixconf.NetrcLookup(data, s.base.Hostname()); ok {
		req.SetBasicAuth(login, pw)
	}
}

func (s *httpSource) Open(ctx context.Context, key string, rng *Range) (io.ReadCloser, int64, error) {
	ref, err := url.Parse(key)
	if err != nil || ref.IsAbs() || ref.Host != "" || strings.HasPrefix(key, "/") {
		return nil, 0, fmt.Errorf("upstream %s: key %q is not a relative path", s.name, key)
	}
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base.ResolveReference(ref).String(), nil)
	if err != nil {
		cancel()
		return nil, 0, fmt.Errorf("upstream %s: %w", s.name, err)
	}
	s.setAuth(req)
	if rng != nil {
		req.Header.Set("Range", rng.String())
	}
	resp, err := s.client.Do(req)
	if err != nil {
		cancel()
		return nil, 0, unavailable(s.name, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK && rng == nil,
		resp.StatusCode == http.StatusPartialContent && rng != nil:
	case resp.StatusCode == http.StatusOK && rng != nil:
		// The upstream ignored the Range: skip to the offset ourselves.
		if _, err := io.CopyN(io.Discard, resp.Body, rng.Offset); err != nil {
			resp.Body.Close()
			cancel()
			return nil, 0, unavailable(s.name, fmt.Errorf("skipping to offset %d of %s: %w", rng.Offset, key, err))
		}
	case resp.StatusCode == http.StatusNotFound, resp.StatusCode == http.StatusForbidden, resp.StatusCode == http.StatusGone:
		// cache.nixos.org (an S3 website) answers 403 for a missing key.
		resp.Body.Close()
		cancel()
		return nil, 0, fmt.Errorf("%s/%s: %w", s.name, key, ErrNotFound)
	default:
		resp.Body.Close()
		cancel()
		return nil, 0, unavailable(s.name, &statusError{key: key, code: resp.StatusCode, status: resp.Status})
	}
	size := resp.ContentLength
	if resp.StatusCode == http.StatusPartialContent {
		if size, err = checkContentRange(resp.Header.Get("Content-Range"), *rng); err != nil {
			resp.Body.Close()
			cancel()
			return nil, 0, unavailable(s.name, fmt.Errorf("GET %s: %w", key, err))
		}
	}
	body := io.ReadCloser(newIdleBody(resp.Body, s.name, s.idle, cancel))
	if rng != nil && rng.Length >= 0 && resp.StatusCode == http.StatusOK {
		body = limitedBody{io.LimitReader(body, rng.Length), body}
	}
	if rng == nil {
		return decoded(s.name, key, resp.Header.Get("Content-Encoding"), body, size)
	}
	return body, size, nil
}

// limitedBody is a body cut at a range's end.
type limitedBody struct {
	io.Reader
	io.Closer
}
