package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/nix/codec"
)

// ErrNotFound means the upstream does not have the key (HTTP 404 or 403
// from a plain cache, NoSuchKey from S3).
var ErrNotFound = errors.New("not found upstream")

// ErrUnavailable is matched (errors.Is) by every failure that is the
// upstream's fault or the network's: refused connections, timeouts, 5xx
// answers, bodies cut short. Callers answer such a miss with a fast 404.
var ErrUnavailable = errors.New("upstream unavailable")

// ErrMismatch is matched by a NAR whose size or hash differs from its
// narinfo's.
var ErrMismatch = errors.New("upstream NAR does not match its narinfo")

// unavailable wraps err so that it matches ErrUnavailable.
func unavailable(src string, err error) error {
	return &unavailableError{src: src, err: err}
}

type unavailableError struct {
	src string
	err error
}

func (e *unavailableError) Error() string        { return "upstream " + e.src + ": " + e.err.Error() }
func (e *unavailableError) Unwrap() error        { return e.err }
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }

// statusError is an upstream's answer with an HTTP error status.
type statusError struct {
	key    string
	code   int
	status string
}

func (e *statusError) Error() string { return "GET " + e.key + ": HTTP " + e.status }

// answered reports whether err is an upstream's prompt error answer (a
// 500 for one file, say) rather than a failure to reach it, a timeout, or
// an answer that asks to be left alone (429, 503) or stands for a timeout
// (504).
func answered(err error) bool {
	var se *statusError
	if !errors.As(err, &se) {
		return false
	}
	switch se.code {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return false
	}
	return true
}

// decoded undoes the Content-Encoding an upstream stored a file with: a
// Nix cache on S3 written with narinfo-compression=xz (or ls-, log-) keeps
// its narinfos, listings and logs so, and S3 answers them so whatever the
// request accepts. NAR files are never decoded: their compression is the
// narinfo's. The decoded size is unknown (-1). An encoding no decoder
// here knows is the upstream's failure.
func decoded(src, key, encoding string, body io.ReadCloser, size int64) (io.ReadCloser, int64, error) {
	enc := codec.Canonical(encoding)
	if enc == "none" || strings.HasPrefix(key, "nar/") {
		return body, size, nil
	}
	dec, err := codec.NewReader(enc, body)
	if err != nil {
		body.Close()
		return nil, 0, unavailable(src, fmt.Errorf("GET %s: Content-Encoding %q: %w", key, encoding, err))
	}
	return decodedBody{dec, body}, -1, nil
}

// decodedBody reads a decoder of a body and closes both.
type decodedBody struct {
	io.ReadCloser // the decoder
	raw           io.Closer
}

func (b decodedBody) Close() error {
	b.ReadCloser.Close()
	return b.raw.Close()
}

// Range asks for Length bytes from Offset; Length < 0 means to the end.
type Range struct {
	Offset, Length int64
}

// Source is one upstream binary cache. Implementations are safe for
// concurrent use.
type Source interface {
	// Name is the source's URL without credentials, for logs and Stats.
	Name() string
	// Open starts reading key (a path relative to the cache root, such as
	// "nix-cache-info" or "nar/….nar.xz"), the whole file when rng is nil.
	// It returns the body, which the caller closes, and the file's total
	// size (-1 when the upstream does not say). With a range, the body
	// holds that range's bytes: an upstream's answer for another range
	// (its Content-Range checked against the asked one) is an error. A
	// missing key gives an error matching ErrNotFound; anything else the
	// upstream or the network did wrong matches ErrUnavailable. The body
	// stops with an error matching ErrUnavailable when it stalls longer
	// than the idle timeout.
	Open(ctx context.Context, key string, rng *Range) (body io.ReadCloser, size int64, err error)
}

// Timeouts bound each phase of an upstream request. Zero fields take the
// defaults.
type Timeouts struct {
	Connect   time.Duration // TCP and TLS handshake; default 5 s
	FirstByte time.Duration // response headers after the request; default 15 s
	Idle      time.Duration // longest stall of a body between reads; default 30 s
}

// Default timeouts.
const (
	DefaultConnectTimeout   = 5 * time.Second
	DefaultFirstByteTimeout = 15 * time.Second
	DefaultIdleTimeout      = 30 * time.Second
)

func (t Timeouts) withDefaults() Timeouts {
	if t.Connect <= 0 {
		t.Connect = DefaultConnectTimeout
	}
	if t.FirstByte <= 0 {
		t.FirstByte = DefaultFirstByteTimeout
	}
	if t.Idle <= 0 {
		t.Idle = DefaultIdleTimeout
	}
	return t
}

// SourceOptions configure NewSource.
type SourceOptions struct {
	Timeouts Timeouts
	// NetrcFile is read for http(s) credentials (Basic), as Nix reads its
	// netrc-file: "" means ~/.netrc; a missing file means none.
	NetrcFile string
	// BearerToken, when set, is sent as "Authorization: Bearer …" to
	// http(s) sources instead of netrc credentials.
	BearerToken string
	// S3 adjusts s3:// sources (tests set static credentials); nil uses
	// the AWS default credential chain.
	S3 *S3Options
}

// NewSource opens the upstream cache at rawURL: http://…, https://… or
// s3://BUCKET[/PREFIX]?region=…&endpoint=…&profile=…&scheme=….
// An http(s) URL may carry netrc-file=PATH or bearer-token-file=PATH,
// which override opts' NetrcFile and BearerToken for that source.
// An s3:// source looks its credentials up now and fails if there are
// none; nothing else is contacted.
func NewSource(ctx context.Context, rawURL string, opts SourceOptions) (Source, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("upstream URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "http", "https":
		return newHTTPSource(u, opts)
	case "s3":
		return newS3Source(ctx, rawURL, opts)
	}
	return nil, fmt.Errorf("upstream URL %q: want http://, https:// or s3://", rawURL)
}

// ParseURLs splits a space-separated list of upstream URLs and checks each
// one's form without contacting anything, for settings validation.
func ParseURLs(list string) ([]string, error) {
	urls := strings.Fields(list)
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("upstream URL %q: %w", raw, err)
		}
		switch u.Scheme {
		case "http", "https":
			if u.Host == "" {
				return nil, fmt.Errorf("upstream URL %q: no host", raw)
			}
			for k := range u.Query() {
				if k != "netrc-file" && k != "bearer-token-file" {
					return nil, fmt.Errorf("upstream URL %q: unknown parameter %q (known: netrc-file, bearer-token-file)", raw, k)
				}
			}
		case "s3":
			if _, err := s3Config(raw); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("upstream URL %q: want http://, https:// or s3://", raw)
		}
	}
	return urls, nil
}

// transport returns an HTTP transport with t's connect and first-byte
// timeouts.
func transport(t Timeouts) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	setTimeouts(tr, t)
	return tr
}

func setTimeouts(tr *http.Transport, t Timeouts) {
	tr.DialContext = (&net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = t.Connect
	tr.ResponseHeaderTimeout = t.FirstByte
	tr.MaxIdleConnsPerHost = 64
	// NARs are compressed already; a transparent gzip would hide the
	// file's real bytes and size.
	tr.DisableCompression = true
}
