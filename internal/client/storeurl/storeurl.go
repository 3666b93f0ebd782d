// Package storeurl parses the binary-cache store URLs that `nix copy --to`
// takes, with Nix's syntax and parameter names, so that a URL that works
// with Nix works with nixbucket push and means the same thing:
//
//	s3://BUCKET?profile=&region=&scheme=&endpoint=&addressing-style=
//	http://HOST/PATH, https://HOST/PATH
//	file:///DIR
//
// followed by the common binary-cache parameters (compression,
// compression-level, parallel-compression, secret-key, secret-keys,
// write-nar-listing, narinfo-compression, ls-compression, …). A parameter
// Nix does not know, or that does not apply to the URL's scheme, is an error
// naming it.
package storeurl

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Schemes.
const (
	SchemeS3    = "s3"
	SchemeHTTP  = "http"
	SchemeHTTPS = "https"
	SchemeFile  = "file"
)

// Compression methods push can write. Nix also knows bzip2, lz4 and lzip;
// they are refused by name.
const (
	CompressionZstd   = "zstd"
	CompressionXz     = "xz"
	CompressionBrotli = "br"
	CompressionGzip   = "gzip"
	CompressionNone   = "none"
)

// Addressing styles of s3:// URLs.
const (
	AddressingAuto    = "auto"
	AddressingPath    = "path"
	AddressingVirtual = "virtual"
)

// Defaults, as Nix has them unless noted.
const (
	DefaultCompression = CompressionZstd // Nix: xz; Lix and nixbucket: zstd
	DefaultRegion      = "us-east-1"
	DefaultS3Scheme    = "https"
	DefaultChunkSize   = 5 << 20   // buffer-size / multipart-chunk-size
	DefaultThreshold   = 100 << 20 // multipart-threshold
	// MinChunkSize is S3's minimum part size (all but the last part).
	MinChunkSize = 5 << 20
)

// Tristate is a boolean parameter that may be left unset, so that the
// program can choose (parallel-compression: push compresses large NARs in
// parallel unless told not to).
type Tristate int8

// Tristate values.
const (
	Unset Tristate = iota
	False
	True
)

// Store is a parsed store URL.
type Store struct {
	Scheme string // SchemeS3, SchemeHTTP, SchemeHTTPS or SchemeFile

	Bucket  string // s3: the bucket
	BaseURL string // http(s): scheme://host[:port][/path], without a trailing slash
	Dir     string // file: the absolute directory

	Compression         string   // a Compression* constant
	CompressionLevel    int      // -1: the method's default
	ParallelCompression Tristate // Unset: push decides by NAR size
	SecretKeyFiles      []string // secret-key and secret-keys, in order
	WriteNARListing     bool     // upload <hash>.ls listings
	NarinfoCompression  string   // "" or gzip, br, zstd, xz: Content-Encoding of narinfos
	LsCompression       string   // the same for listings
	Priority            int      // nix-cache-info Priority when push creates it; -1 unset
	WantMassQuery       Tristate // nix-cache-info WantMassQuery when push creates it

	S3 S3 // s3:// only
}

// S3 holds the parameters of s3:// URLs.
type S3 struct {
	Profile         string // shared config profile; "" for the default chain
	Region          string // DefaultRegion unless set, as in Nix
	Scheme          string // "https" or "http", for Endpoint without a scheme
	Endpoint        string // "" for AWS; else a full URL (scheme added from Scheme)
	AddressingStyle string // AddressingAuto, AddressingPath or AddressingVirtual
	// MultipartUpload enables multipart uploads above MultipartThreshold.
	// Nix defaults it to false; push defaults it to true (it is what makes
	// large NARs fast and resumable), and false forces single PUTs.
	MultipartUpload    bool
	ChunkSize          int64  // part size (buffer-size, multipart-chunk-size)
	MultipartThreshold int64  // files of at least this many bytes go multipart
	StorageClass       string // x-amz-storage-class of uploads; "" for the default
}

// PathStyle reports whether requests should use path-style addressing:
// always for "path", never for "virtual", and for "auto" when a custom
// endpoint is set (what every S3-compatible server expects), as Nix does.
func (s S3) PathStyle() bool {
	switch s.AddressingStyle {
	case AddressingPath:
		return true
	case AddressingVirtual:
		return false
	default:
		return s.Endpoint != ""
	}
}

// looksLikeServer reports whether what an s3:// URL has in the bucket's
// place is a server rather than a bucket (which may hold dots, but never
// a port or be an IP address).
func looksLikeServer(host string) bool {
	return strings.Contains(host, ":") || net.ParseIP(host) != nil || host == "localhost"
}

// Parse parses a store URL.
func Parse(raw string) (*Store, error) {
	base, query, _ := strings.Cut(raw, "?")
	scheme, rest, ok := strings.Cut(base, "://")
	if !ok {
		return nil, fmt.Errorf("store URL %q: want s3://BUCKET, http(s)://HOST/PATH or file:///DIR", raw)
	}
	s := &Store{
		Scheme:           strings.ToLower(scheme),
		Compression:      DefaultCompression,
		CompressionLevel: -1,
		Priority:         -1,
	}
	switch s.Scheme {
	case SchemeS3:
		if host, bucket, ok := strings.Cut(rest, "/"); ok && looksLikeServer(host) && bucket != "" && !strings.ContainsAny(bucket, "/#") {
			// s3://HOST:PORT/BUCKET: the endpoint written where the bucket goes.
			return nil, fmt.Errorf("store URL %q: s3://BUCKET names the bucket alone; the server goes in endpoint=: s3://%s?endpoint=%s", raw, bucket, host)
		}
		if rest == "" || strings.ContainsAny(rest, "/#") {
			return nil, fmt.Errorf("store URL %q: want s3://BUCKET with a bucket name and no path", raw)
		}
		s.Bucket = rest
		s.S3 = S3{
			Region: DefaultRegion, Scheme: DefaultS3Scheme, AddressingStyle: AddressingAuto,
			MultipartUpload: true, ChunkSize: DefaultChunkSize, MultipartThreshold: DefaultThreshold,
		}
	case SchemeHTTP, SchemeHTTPS:
		u, err := url.Parse(base)
		if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
			return nil, fmt.Errorf("store URL %q: want %s://HOST[:PORT]/PATH without credentials (use a netrc file)", raw, s.Scheme)
		}
		u.Scheme = s.Scheme
		s.BaseURL = strings.TrimRight(u.String(), "/")
	case SchemeFile:
		if !strings.HasPrefix(rest, "/") {
			return nil, fmt.Errorf("store URL %q: want file:///ABSOLUTE/DIR", raw)
		}
		dir, err := url.PathUnescape(rest)
		if err != nil {
			return nil, fmt.Errorf("store URL %q: %w", raw, err)
		}
		s.Dir = strings.TrimRight(dir, "/")
		if s.Dir == "" {
			s.Dir = "/"
		}
	default:
		return nil, fmt.Errorf("store URL %q: unsupported scheme %q (want s3, http, https or file)", raw, scheme)
	}
	if query == "" {
		return s, nil
	}
	var chunkFrom string // which of buffer-size / multipart-chunk-size set ChunkSize
	for _, kv := range strings.Split(query, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		key, err := url.PathUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("store URL parameter %q: %w", k, err)
		}
		// PathUnescape, not QueryUnescape: like Nix, '+' stays '+'
		// (secret-key file names may hold one).
		val, err := url.PathUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("store URL parameter %s: %w", key, err)
		}
		if err := s.set(key, val, &chunkFrom); err != nil {
			var pe *paramError
			if errors.As(err, &pe) {
				return nil, pe
			}
			return nil, fmt.Errorf("store URL parameter %s=%q: %w", key, val, err)
		}
	}
	if s.S3.Endpoint != "" {
		ep, err := s.endpoint(s.S3.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("store URL parameter endpoint=%q: %w", s.S3.Endpoint, err)
		}
		s.S3.Endpoint = ep
	}
	return s, nil
}

// set applies one parameter.
func (s *Store) set(key, val string, chunkFrom *string) error {
	var err error
	switch key {
	case "compression":
		s.Compression, err = compression(val, false)
	case "compression-level":
		s.CompressionLevel, err = parseInt(key, val)
		if err == nil && s.CompressionLevel < -1 {
			err = fmt.Errorf("want -1 (the default) or a level ≥ 0")
		}
	case "parallel-compression":
		var b bool
		b, err = parseBool(val)
		s.ParallelCompression = tristate(b)
	case "secret-key":
		if val != "" {
			s.SecretKeyFiles = append(s.SecretKeyFiles, val)
		}
	case "secret-keys":
		for _, f := range strings.Split(val, ",") {
			if f = strings.TrimSpace(f); f != "" {
				s.SecretKeyFiles = append(s.SecretKeyFiles, f)
			}
		}
	case "write-nar-listing":
		s.WriteNARListing, err = parseBool(val)
	case "narinfo-compression":
		s.NarinfoCompression, err = compression(val, true)
	case "ls-compression":
		s.LsCompression, err = compression(val, true)
	case "log-compression":
		_, err = compression(val, true) // push uploads no logs
	case "priority":
		s.Priority, err = parseInt(key, val)
		if err == nil && s.Priority < 0 {
			err = fmt.Errorf("want a non-negative integer")
		}
	case "want-mass-query":
		var b bool
		b, err = parseBool(val)
		s.WantMassQuery = tristate(b)
	case "index-debug-info":
		var on bool
		if on, err = parseBool(val); err == nil && on {
			err = fmt.Errorf("not supported by nixbucket push")
		}
	case "local-nar-cache":
		if val != "" {
			err = fmt.Errorf("not supported by nixbucket push")
		}
	case "trusted":
		_, err = parseBool(val) // a client-side store setting; nothing to do when pushing
	default:
		if !slices.Contains(S3Params, key) {
			return unknownParam(key, s.Scheme)
		}
		if s.Scheme != SchemeS3 {
			return fmt.Errorf("only s3:// store URLs take it")
		}
		return s.setS3(key, val, chunkFrom)
	}
	return err
}

// setS3 applies one s3:// parameter.
func (s *Store) setS3(key, val string, chunkFrom *string) error {
	var err error
	switch key {
	case "profile":
		s.S3.Profile = val
	case "region":
		if val == "" {
			return fmt.Errorf("empty region")
		}
		s.S3.Region = val
	case "scheme":
		if val != "http" && val != "https" {
			return fmt.Errorf("want http or https")
		}
		s.S3.Scheme = val
	case "endpoint":
		if val == "" {
			return fmt.Errorf("empty endpoint")
		}
		s.S3.Endpoint = val // made a URL once the scheme parameter is known
	case "addressing-style":
		switch val {
		case AddressingAuto, AddressingPath, AddressingVirtual:
			s.S3.AddressingStyle = val
		default:
			err = fmt.Errorf("want auto, path or virtual")
		}
	case "multipart-upload":
		s.S3.MultipartUpload, err = parseBool(val)
	case "buffer-size", "multipart-chunk-size":
		if *chunkFrom != "" && *chunkFrom != key {
			return fmt.Errorf("conflicts with %s (they are the same setting)", *chunkFrom)
		}
		*chunkFrom = key
		s.S3.ChunkSize, err = parseSize(val)
		if err == nil && s.S3.ChunkSize < MinChunkSize {
			err = fmt.Errorf("below S3's minimum part size of 5 MiB")
		}
	case "multipart-threshold":
		s.S3.MultipartThreshold, err = parseSize(val)
		if err == nil && s.S3.MultipartThreshold < MinChunkSize {
			err = fmt.Errorf("below S3's minimum part size of 5 MiB")
		}
	case "storage-class":
		s.S3.StorageClass = val
	}
	return err
}

// endpoint turns the endpoint parameter into a URL: a bare HOST[:PORT] gets
// the scheme parameter's scheme (wherever it is in the URL), a full URL is
// kept as it is.
func (s *Store) endpoint(val string) (string, error) {
	full := val
	if !strings.Contains(val, "://") {
		full = s.S3.Scheme + "://" + val
	}
	u, err := url.Parse(full)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.RawQuery != "" {
		return "", fmt.Errorf("want HOST[:PORT] or http(s)://HOST[:PORT]")
	}
	return strings.TrimRight(full, "/"), nil
}

// compression checks a compression parameter. For narinfo-, ls- and
// log-compression, "" means none; for compression, "none" does.
func compression(v string, encoding bool) (string, error) {
	switch v {
	case CompressionZstd, CompressionXz, CompressionBrotli, CompressionGzip:
		return v, nil
	case CompressionNone:
		if encoding {
			return "", nil
		}
		return v, nil
	case "":
		if encoding {
			return "", nil
		}
	case "bzip2", "lz4", "lzip":
		return "", fmt.Errorf("%s is not supported by nixbucket push (use zstd, xz, br, gzip or none)", v)
	}
	return "", fmt.Errorf("unknown compression method (want zstd, xz, br, gzip or none)")
}

// parseBool parses a Boolean the way Nix's settings do.
func parseBool(v string) (bool, error) {
	switch v {
	case "true", "yes", "1":
		return true, nil
	case "false", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("not a Boolean (want true or false)")
}

func tristate(b bool) Tristate {
	if b {
		return True
	}
	return False
}

// parseSize parses a byte count: an integer with an optional K, M, G or T
// suffix (powers of 1024), as Nix's integer settings accept.
func parseSize(v string) (int64, error) {
	mult := int64(1)
	if n := len(v); n > 0 {
		switch v[n-1] {
		case 'K', 'k':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		case 'T', 't':
			mult = 1 << 40
		}
		if mult != 1 {
			v = v[:n-1]
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a positive byte count (optionally with K, M or G)")
	}
	return n * mult, nil
}

// String returns the URL without parameters, for messages.
func (s *Store) String() string {
	switch s.Scheme {
	case SchemeS3:
		if s.S3.Endpoint != "" {
			return "s3://" + s.Bucket + " at " + s.S3.Endpoint
		}
		return "s3://" + s.Bucket
	case SchemeFile:
		return "file://" + s.Dir
	default:
		return s.BaseURL
	}
}
