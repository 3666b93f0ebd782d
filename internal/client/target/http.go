package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/nixbucket/nixbucket/internal/client/spool"
	"github.com/nixbucket/nixbucket/internal/client/storeurl"
)

// httpTarget is a binary cache over plain HTTP(S): GET, HEAD and PUT of
// BASE/KEY, as `nix copy --to http://…` does.
type httpTarget struct {
	base   string
	client *http.Client
	auth   string // Authorization header value, or ""
	how    string // where the credentials came from, for messages
	netrc  string // the --netrc-file, or "" for the default
	// netrcAuth: auth came from netrc, which has lines for other hosts.
	netrcAuth bool
}

func openHTTP(s *storeurl.Store, o Options) (*httpTarget, error) {
	u, err := url.Parse(s.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("binary cache %s: %w", s.BaseURL, err)
	}
	t := &httpTarget{base: s.BaseURL, netrc: o.NetrcFile}
	if t.auth, t.how, err = httpAuth(u, o); err != nil {
		return nil, err
	}
	t.netrcAuth = o.BearerToken == ""
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = o.Concurrency
	tr.ExpectContinueTimeout = time.Second
	tr.ResponseHeaderTimeout = 5 * time.Minute // a server may hash a large body before answering
	wrapConns(tr, o.StallTimeout)
	t.client = &http.Client{Transport: tr, CheckRedirect: t.redirect}
	return t, nil
}

// redirect is the cache client's redirect policy: net/http's (at most 10
// redirects), except that an upload redirected with 301 or 302 stays a
// PUT with its body, as curl, and so Nix, keeps it; net/http would send a
// GET there, whose answer would then pass for the upload's. A 303 See
// Other is not where the upload goes, so it is an error. (net/http keeps
// the method and body through 307 and 308 itself, given GetBody.) And
// with netrc credentials another host gets its own netrc line, as curl
// gives it: net/http drops the Authorization header on the way there.
func (t *httpTarget) redirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	first := via[0]
	if t.netrcAuth && req.Header.Get("Authorization") == "" {
		if login, password, found, err := netrcLookup(t.netrc, req.URL.Hostname()); err == nil && found {
			req.SetBasicAuth(login, password)
		}
	}
	if first.Method != http.MethodPut || req.Method == first.Method {
		return nil
	}
	if req.Response != nil && req.Response.StatusCode == http.StatusSeeOther {
		return fmt.Errorf("the upload was answered with 303 See Other to %s, not stored", req.URL.Redacted())
	}
	body, err := first.GetBody()
	if err != nil {
		return err
	}
	req.Method, req.Body, req.GetBody, req.ContentLength = first.Method, body, first.GetBody, first.ContentLength
	for _, h := range []string{"Content-Type", "Content-Encoding", "Expect"} {
		if v := first.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	return nil
}

// httpAuth returns the Authorization header an http(s) cache gets, from
// the bearer token or else the netrc line of its host, and how to name
// those credentials in messages; "" when there are none.
func httpAuth(u *url.URL, o Options) (auth, how string, err error) {
	if o.BearerToken != "" {
		return "Bearer " + o.BearerToken, "the bearer token", nil
	}
	login, password, found, err := netrcLookup(o.NetrcFile, u.Hostname())
	if err != nil || !found {
		return "", "", err
	}
	req := &http.Request{Header: http.Header{}}
	req.SetBasicAuth(login, password)
	return req.Header.Get("Authorization"), fmt.Sprintf("the netrc login %q for %s", login, u.Hostname()), nil
}

func (t *httpTarget) String() string { return t.base }

func (t *httpTarget) Close() error {
	t.client.CloseIdleConnections()
	return nil
}

func (t *httpTarget) url(key string) string { return t.base + "/" + key }

// do sends one request and classifies the outcome: network errors and the
// statuses of retryStatus are retryable; 404 and 403 are ErrNotFound for reads.
func (t *httpTarget) do(ctx context.Context, method, key string, f *spool.File, m Meta) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, t.url(key), nil)
	if err != nil {
		return nil, err
	}
	if f != nil {
		size := f.Size()
		// GetBody lets a redirect send the body again (see followUploads).
		req.GetBody = func() (io.ReadCloser, error) {
			if size == 0 {
				return http.NoBody, nil
			}
			return f.Reader(), nil // net/http closes it
		}
		req.Body, _ = req.GetBody()
		req.ContentLength = size
		req.Header.Set("Content-Type", m.ContentType)
		if m.ContentEncoding != "" {
			req.Header.Set("Content-Encoding", m.ContentEncoding)
		}
		if size > 1<<20 {
			req.Header.Set("Expect", "100-continue")
		}
	}
	if t.auth != "" {
		req.Header.Set("Authorization", t.auth)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if m := schemeMistake(t.base, "use an http:// URL", err); m != nil {
			return nil, m
		}
		var dns *net.DNSError
		if errors.As(err, &dns) && dns.IsNotFound {
			return nil, fmt.Errorf("cannot reach %s: %w", t.base, err)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, retryable{fmt.Errorf("cannot reach %s: is the server running, and are the URL's host and port right? (%s %s: %w)", t.base, method, key, err)}
		}
		return nil, retryable{fmt.Errorf("%s %s: %w", method, t.url(key), err)}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	e := readServerError(resp)
	resp.Body.Close()
	// A server of HTTPS answers plain HTTP with a 400 that has no S3 code
	// (nixbucket's own 400s, such as a refused narinfo's, have one).
	if resp.StatusCode == http.StatusBadRequest && e.code == "" && speaksTLS(ctx, t.base) {
		return nil, fmt.Errorf("%s speaks HTTPS, not plain HTTP: use an https:// URL (%s %s: %s)", t.base, method, key, e)
	}
	if f := t.httpFailure(method, key, e); f != nil {
		f.Err = fmt.Errorf("%s %s: %s", method, t.url(key), e)
		return nil, f
	}
	err = fmt.Errorf("%s %s: %s", method, t.url(key), e)
	switch code := resp.StatusCode; {
	case (code == http.StatusNotFound || code == http.StatusForbidden) && (method == http.MethodGet || method == http.MethodHead):
		return nil, ErrNotFound
	case code == http.StatusMethodNotAllowed || code == http.StatusNotImplemented:
		return nil, fmt.Errorf("%w: the server does not accept uploads (%s is not a writable binary cache)", err, t.base)
	case retryStatus(code):
		return nil, retryable{err}
	}
	return nil, err
}

func (t *httpTarget) Get(ctx context.Context, key string) ([]byte, error) {
	var out []byte
	err := withRetry(ctx, func() error {
		resp, err := t.do(ctx, http.MethodGet, key, nil, Meta{})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		out, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return retryable{fmt.Errorf("GET %s: %w", t.url(key), err)}
		}
		return nil
	})
	return out, err
}

func (t *httpTarget) Stat(ctx context.Context, key string) (int64, error) {
	var size int64
	err := withRetry(ctx, func() error {
		resp, err := t.do(ctx, http.MethodHead, key, nil, Meta{})
		if err != nil {
			return err
		}
		resp.Body.Close()
		size = resp.ContentLength
		if v := resp.Header.Get("Content-Length"); size < 0 && v != "" {
			size, _ = strconv.ParseInt(v, 10, 64)
		}
		return nil
	})
	return size, err
}

// Put sends the file as it is (net/http uses sendfile(2) for a spilled
// one), and reports progress once it is accepted.
func (t *httpTarget) Put(ctx context.Context, key string, f *spool.File, m Meta) error {
	err := withRetry(ctx, func() error {
		resp, err := t.do(ctx, http.MethodPut, key, f, m)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil
	})
	if err == nil && m.Progress != nil {
		m.Progress(f.Size())
	}
	return err
}
