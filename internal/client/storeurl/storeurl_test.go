package storeurl

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	s3 := func(bucket string, f func(s *Store)) *Store {
		s := &Store{Scheme: SchemeS3, Bucket: bucket, Compression: CompressionZstd, CompressionLevel: -1, Priority: -1,
			S3: S3{Region: "us-east-1", Scheme: "https", AddressingStyle: AddressingAuto, MultipartUpload: true,
				ChunkSize: 5 << 20, MultipartThreshold: 100 << 20}}
		if f != nil {
			f(s)
		}
		return s
	}
	plain := func(scheme string, f func(s *Store)) *Store {
		s := &Store{Scheme: scheme, Compression: CompressionZstd, CompressionLevel: -1, Priority: -1}
		f(s)
		return s
	}
	tests := []struct {
		url  string
		want *Store
	}{
		{"s3://example-nix-cache", s3("example-nix-cache", nil)},
		// The seed's two URLs.
		{"s3://example-nix-cache?profile=cache-upload&region=eu-west-2", s3("example-nix-cache", func(s *Store) {
			s.S3.Profile, s.S3.Region = "cache-upload", "eu-west-2"
		})},
		{"s3://example-nix-cache?profile=cache-upload&scheme=https&endpoint=minio.example.com", s3("example-nix-cache", func(s *Store) {
			s.S3.Profile, s.S3.Endpoint = "cache-upload", "https://minio.example.com"
		})},
		// The scheme may follow the endpoint (the README's order).
		{"s3://nix-cache?endpoint=127.0.0.1:9000&scheme=http", s3("nix-cache", func(s *Store) {
			s.S3.Scheme, s.S3.Endpoint = "http", "http://127.0.0.1:9000"
		})},
		{"s3://b?endpoint=http://127.0.0.1:9000/&addressing-style=virtual&storage-class=STANDARD_IA", s3("b", func(s *Store) {
			s.S3.Endpoint, s.S3.AddressingStyle, s.S3.StorageClass = "http://127.0.0.1:9000", AddressingVirtual, "STANDARD_IA"
		})},
		{"s3://b?multipart-upload=false&buffer-size=8388608&multipart-threshold=64M", s3("b", func(s *Store) {
			s.S3.MultipartUpload, s.S3.ChunkSize, s.S3.MultipartThreshold = false, 8<<20, 64<<20
		})},
		{"s3://b?multipart-chunk-size=16M&multipart-upload=1", s3("b", func(s *Store) { s.S3.ChunkSize = 16 << 20 })},
		{"s3://b?compression=xz&compression-level=9&parallel-compression=true", s3("b", func(s *Store) {
			s.Compression, s.CompressionLevel, s.ParallelCompression = CompressionXz, 9, True
		})},
		{"http://127.0.0.1:9000/nix-cache?compression=zstd&secret-key=/k/a+b%20c.sec&secret-keys=/k/1,/k/2", plain(SchemeHTTP, func(s *Store) {
			s.BaseURL, s.SecretKeyFiles = "http://127.0.0.1:9000/nix-cache", []string{"/k/a+b c.sec", "/k/1", "/k/2"}
		})},
		{"https://cache.example.org/?write-nar-listing=1&narinfo-compression=br&ls-compression=none&parallel-compression=false", plain(SchemeHTTPS, func(s *Store) {
			s.BaseURL, s.WriteNARListing, s.NarinfoCompression, s.ParallelCompression = "https://cache.example.org", true, CompressionBrotli, False
		})},
		{"HTTP://h:1/a/b/?compression=none&priority=30&want-mass-query=yes&log-compression=br&trusted=1&index-debug-info=false", plain(SchemeHTTP, func(s *Store) {
			s.BaseURL, s.Compression, s.Priority, s.WantMassQuery = "http://h:1/a/b", CompressionNone, 30, True
		})},
		{"file:///tmp/cache?compression=br&compression-level=5", plain(SchemeFile, func(s *Store) {
			s.Dir, s.Compression, s.CompressionLevel = "/tmp/cache", CompressionBrotli, 5
		})},
		{"file:///tmp/with%20space/", plain(SchemeFile, func(s *Store) { s.Dir = "/tmp/with space" })},
		{"file:///", plain(SchemeFile, func(s *Store) { s.Dir = "/" })},
	}
	for _, tt := range tests {
		got, err := Parse(tt.url)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.url, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) =\n%+v\nwant\n%+v", tt.url, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		url  string
		want string // in the error
	}{
		{"example-nix-cache", "want s3://BUCKET"},
		{"ssh://host", `unsupported scheme "ssh"`},
		{"s3://", "bucket name"},
		{"s3://bucket/prefix", "no path"},
		{"s3://127.0.0.1:9000/nix-cache?scheme=http", "the server goes in endpoint=: s3://nix-cache?endpoint=127.0.0.1:9000"},
		{"s3://localhost/nix-cache", "the server goes in endpoint=: s3://nix-cache?endpoint=localhost"},
		{"s3://my.bucket/prefix", "no path"},
		{"s3://b?profil=x", "profil"},
		{"s3://b?profil=x", "unknown parameter"},
		{"http://h/c?bogus", "bogus"},
		{"http://h/c?profile=x", "profile"},
		{"http://h/c?profile=x", "only s3://"},
		{"file:///d?multipart-threshold=1G", "only s3://"},
		{"http://user:pw@h/c", "netrc"},
		{"http:///c", "HOST"},
		{"file://relative/dir", "ABSOLUTE"},
		{"s3://b?compression=bzip2", "bzip2 is not supported"},
		{"s3://b?compression=lzma", "unknown compression"},
		{"s3://b?compression=", "unknown compression"},
		{"s3://b?narinfo-compression=lz4", "not supported"},
		{"s3://b?compression-level=x", "compression-level"},
		{"s3://b?compression-level=-2", "compression-level"},
		{"s3://b?parallel-compression=maybe", "not a Boolean"},
		{"s3://b?write-nar-listing=2", "write-nar-listing"},
		{"s3://b?scheme=ftp", "want http or https"},
		{"s3://b?endpoint=", "empty endpoint"},
		{"s3://b?endpoint=ftp://h", "endpoint"},
		{"s3://b?addressing-style=dns", "want auto, path or virtual"},
		{"s3://b?buffer-size=1M", "minimum part size"},
		{"s3://b?multipart-threshold=0", "positive byte count"},
		{"s3://b?buffer-size=8M&multipart-chunk-size=16M", "same setting"},
		{"s3://b?region=", "empty region"},
		{"s3://b?index-debug-info=true", "not supported"},
		{"s3://b?local-nar-cache=/tmp/x", "not supported"},
		{"s3://b?priority=-3", "priority"},
		{"s3://b?profile=%zz", "profile"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.url)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q): error %v, want one containing %q", tt.url, err, tt.want)
		}
	}
}

func TestPathStyle(t *testing.T) {
	tests := []struct {
		url  string
		want bool
	}{
		{"s3://b", false},
		{"s3://b?endpoint=127.0.0.1:9000", true},
		{"s3://b?endpoint=h&addressing-style=virtual", false},
		{"s3://b?addressing-style=path", true},
	}
	for _, tt := range tests {
		s, err := Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.S3.PathStyle(); got != tt.want {
			t.Errorf("%s: PathStyle() = %v, want %v", tt.url, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"s3://b?region=x&endpoint=h:1&scheme=http", "http://h/p?compression=xz", "file:///d?secret-key=%2Fk"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := Parse(raw)
		if err != nil {
			return
		}
		switch s.Scheme {
		case SchemeS3:
			if s.Bucket == "" {
				t.Errorf("%q: s3 store without a bucket", raw)
			}
		case SchemeHTTP, SchemeHTTPS:
			if !strings.HasPrefix(s.BaseURL, s.Scheme+"://") {
				t.Errorf("%q: base URL %q", raw, s.BaseURL)
			}
		case SchemeFile:
			if !strings.HasPrefix(s.Dir, "/") {
				t.Errorf("%q: dir %q", raw, s.Dir)
			}
		default:
			t.Errorf("%q: scheme %q", raw, s.Scheme)
		}
		_ = s.String()
	})
}
