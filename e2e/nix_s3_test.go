package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/nixbucket/nixbucket/internal/nix/nar"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
)

// TestNixS3Uploads reproduces how Nix ≥2.33 uploads to an s3:// store
// (libcurl's --aws-sigv4): a NAR and its narinfo with single PUTs carrying
// Content-MD5, and a NAR in a multipart upload whose empty create POST
// carries the whole object's Content-MD5. The server must accept, sign and
// index the narinfos, and Nix 2.8 must then substitute the closure over
// plain HTTP with signatures required.
func TestNixS3Uploads(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	base := s.Endpoint + "/" + nixCacheBucket
	// 2 MiB of random bytes beside a copy of perl: NARs of about 5.9 MB,
	// over S3's 5 MiB minimum part size, so the multipart upload has two
	// parts.
	c := nixBuildClosure(t, 2, 2048, "s3")
	dir := nixFileCache(t, "compression=none", c.Top)

	if r := curlS3(t, s, http.MethodGet, base+"/nix-cache-info"); r.Status != http.StatusOK || !strings.Contains(r.Body, "StoreDir: /nix/store") {
		t.Errorf("GET nix-cache-info over S3: %d\n%s", r.Status, r.Body)
	}
	putMD5 := func(key, file, contentType string) curlResponse {
		t.Helper()
		r := curlS3(t, s, http.MethodPut, base+"/"+key, "-T", file,
			"-H", "Content-MD5: "+contentMD5(t, file), "-H", "Content-Type: "+contentType)
		if r.Status != http.StatusOK {
			t.Fatalf("PUT %s: %d\n%s", key, r.Status, r.Body)
		}
		return r
	}
	serverKey := nixServerKey(t, s, nixCacheBucket)

	// A narinfo whose NAR is not there yet is refused in S3's own terms.
	r := curlS3(t, s, http.MethodPut, base+"/"+nixHashPart(c.Paths[0])+".narinfo",
		"-T", filepath.Join(dir, nixHashPart(c.Paths[0])+".narinfo"), "-H", "Content-Type: text/x-nix-narinfo")
	if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "<Error>") || !strings.Contains(r.Body, "URL") {
		t.Errorf("PUT a narinfo before its NAR over S3: %d\n%s\nwant 400, an S3 error naming URL", r.Status, r.Body)
	}
	t.Logf("PUT a narinfo before its NAR over S3: %d %s", r.Status, strings.Join(strings.Fields(r.Body), " "))

	for i, p := range c.Paths { // references first
		file := filepath.Join(dir, nixHashPart(p)+".narinfo")
		ni := nixReadNarinfo(t, file)
		if i == 0 {
			r := putMD5(ni.URL, filepath.Join(dir, ni.URL), "application/x-nix-nar")
			if want := `"` + fileMD5(t, filepath.Join(dir, ni.URL)) + `"`; r.Header.Get("ETag") != want {
				t.Errorf("PUT %s: ETag %s, want %s", ni.URL, r.Header.Get("ETag"), want)
			}
		} else {
			nixMultipartNAR(t, s, base, ni.URL, filepath.Join(dir, ni.URL))
		}
		// The server stores the narinfo signed, so its ETag is the MD5 of
		// what it serves, not of what was sent.
		put := putMD5(nixHashPart(p)+".narinfo", file, "text/x-nix-narinfo")
		got := filepath.Join(t.TempDir(), "narinfo")
		r := curlS3(t, s, http.MethodGet, base+"/"+nixHashPart(p)+".narinfo", "-o", got)
		if want := `"` + fileMD5(t, got) + `"`; r.Status != http.StatusOK || r.Header.Get("ETag") != want || put.Header.Get("ETag") != want {
			t.Errorf("narinfo of %s: GET %d ETag %s, PUT ETag %s, want both %s", p, r.Status, r.Header.Get("ETag"), put.Header.Get("ETag"), want)
		}
		if stored := nixReadNarinfo(t, got); !stored.Verify(nixPublicKey(t, serverKey)) {
			t.Errorf("narinfo of %s: no valid signature by %s: %q", p, serverKey, stored.Sigs)
		}
	}
	if n := nixCachePaths(t, s, nixCacheBucket); n != len(c.Paths) {
		t.Errorf("bucket info: %d store paths, want %d", n, len(c.Paths))
	}
	c.delete(t)
	nixMustSubstitute(t, nixCacheURL(s, nixCacheBucket), serverKey, nixNetrc(s), c.Top)
	c.checkDumps(t)
}

// nixMultipartNAR uploads file to key the way Nix ≥2.33 uploads a large
// NAR (S3BinaryCacheStore::uploadMultipart): CreateMultipartUpload with the
// Content-MD5 of the whole object on its empty body (and createArgs, such
// as x-amz-storage-class), 5 MiB parts of type application/octet-stream
// each with its Content-MD5, then Complete with a text/xml body naming the
// parts' ETags as they came, quotes and all.
func nixMultipartNAR(t testing.TB, s *Server, base, key, file string, createArgs ...string) {
	t.Helper()
	parts := splitFile(t, file, 5<<20)
	if len(parts) < 2 {
		t.Fatalf("%s has %d part(s), want at least 2 for a real multipart upload", file, len(parts))
	}
	uploads := "?uploads"
	if !curlBareQueryKeys(t) {
		uploads = "?uploads="
	}
	r := curlS3(t, s, http.MethodPost, base+"/"+key+uploads, append([]string{"--data-binary", "",
		"-H", "Content-MD5: " + contentMD5(t, file), "-H", "Content-Type: application/x-nix-nar"}, createArgs...)...)
	var created struct{ UploadId string }
	if err := xml.Unmarshal([]byte(r.Body), &created); r.Status != http.StatusOK || err != nil || created.UploadId == "" {
		t.Fatalf("CreateMultipartUpload %s with the whole object's Content-MD5: %d %v\n%s", key, r.Status, err, r.Body)
	}
	var complete strings.Builder
	complete.WriteString("<CompleteMultipartUpload>")
	for i, p := range parts {
		url := fmt.Sprintf("%s/%s?partNumber=%d&uploadId=%s", base, key, i+1, created.UploadId)
		r := curlS3(t, s, http.MethodPut, url, "-T", p, "-H", "Content-MD5: "+contentMD5(t, p),
			"-H", "Content-Type: application/octet-stream")
		if r.Status != http.StatusOK {
			t.Fatalf("UploadPart %d of %s: %d\n%s", i+1, key, r.Status, r.Body)
		}
		fmt.Fprintf(&complete, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i+1, r.Header.Get("ETag"))
	}
	complete.WriteString("</CompleteMultipartUpload>")
	r = curlS3(t, s, http.MethodPost, base+"/"+key+"?uploadId="+created.UploadId,
		"--data-binary", complete.String(), "-H", "Content-Type: text/xml")
	if want := multipartETag(t, file, 5<<20); r.Status != http.StatusOK || !strings.Contains(r.Body, want) {
		t.Fatalf("CompleteMultipartUpload %s: %d\n%s\nwant 200 with ETag %s", key, r.Status, r.Body, want)
	}
}

// TestNixListV1Paging lists a cache of 2,500 narinfos the way aws-sdk-cpp
// (Nix ≤2.32, Lix) does in queryAllValidPaths: ListObjects v1 with
// delimiter "/", following NextMarker while it is not empty. Every narinfo
// must be listed exactly once, the NARs folded into the "nar/" prefix, and
// the last page must carry no NextMarker (or aws-sdk-cpp would go round
// again).
func TestNixListV1Paging(t *testing.T) {
	t.Parallel()
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("%s is not a Nix binary cache", target)
	}
	s := startServer(t)
	ctx := context.Background()
	client := s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		Retryer:      aws.NopRetryer{},
	})
	bucket := aws.String(nixCacheBucket)

	// One small NAR that every narinfo points at.
	var narBuf bytes.Buffer
	nw := nar.NewWriter(&narBuf)
	content := "hello from the paging test\n"
	if err := nw.WriteHeader(&nar.Header{Path: "/", Type: nar.TypeRegular, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	if _, err := nw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := nw.Close(); err != nil {
		t.Fatal(err)
	}
	sum := nixhash.SHA256(sha256.Sum256(narBuf.Bytes()))
	narKey := "nar/" + sum.Nix32() + ".nar"
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(narKey),
		Body: bytes.NewReader(narBuf.Bytes()), ContentType: aws.String("application/x-nix-nar")}); err != nil {
		t.Fatalf("PutObject %s: %v", narKey, err)
	}

	const count = 2500
	want := make(map[string]int, count)
	for len(want) < count {
		want[nixRandomHash()+".narinfo"] = 0
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	i := 0
	for key := range want {
		i++
		ni := narinfo.NarInfo{
			StorePath:   fmt.Sprintf("/nix/store/%s-page-%04d", strings.TrimSuffix(key, ".narinfo"), i),
			URL:         narKey,
			Compression: "none",
			FileHash:    sum.String(),
			FileSize:    uint64(narBuf.Len()),
			NarHash:     sum.String(),
			NarSize:     uint64(narBuf.Len()),
		}
		g.Go(func() error {
			_, err := client.PutObject(gctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(key),
				Body: strings.NewReader(ni.String()), ContentType: aws.String("text/x-nix-narinfo")})
			if err != nil {
				return fmt.Errorf("PutObject %s: %w", key, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := nixCachePaths(t, s, nixCacheBucket); n != count {
		t.Errorf("bucket info: %d store paths, want %d", n, count)
	}

	prefixes := map[string]int{}
	var other []string
	marker, pages, last := "", 0, ""
	for {
		pages++
		if pages > count {
			t.Fatalf("still listing after %d pages", pages)
		}
		out, err := client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: bucket, Delimiter: aws.String("/"), Marker: aws.String(marker)})
		if err != nil {
			t.Fatalf("ListObjects page %d (marker %q): %v", pages, marker, err)
		}
		for _, o := range out.Contents {
			key := aws.ToString(o.Key)
			if key <= last {
				t.Errorf("page %d: key %s after %s, want ascending order", pages, key, last)
			}
			last = key
			if _, ok := want[key]; ok {
				want[key]++
			} else {
				other = append(other, key)
			}
		}
		for _, p := range out.CommonPrefixes {
			prefixes[aws.ToString(p.Prefix)]++
		}
		next := aws.ToString(out.NextMarker)
		if !aws.ToBool(out.IsTruncated) {
			if next != "" {
				t.Errorf("page %d: last page (IsTruncated false) with NextMarker %q: aws-sdk-cpp pages on while NextMarker is set", pages, next)
			}
			break
		}
		if next == "" {
			t.Fatalf("page %d: IsTruncated but no NextMarker (aws-sdk-cpp stops here, missing %d narinfos)", pages, count-len(out.Contents))
		}
		if next <= marker {
			t.Fatalf("page %d: NextMarker %q does not advance past %q", pages, next, marker)
		}
		marker = next
	}
	missing, dup := 0, 0
	for key, n := range want {
		switch {
		case n == 0:
			missing++
		case n > 1:
			dup++
			t.Errorf("%s listed %d times", key, n)
		}
	}
	if missing > 0 || dup > 0 {
		t.Errorf("%d of %d narinfos never listed, %d listed more than once", missing, count, dup)
	}
	if len(other) > 0 || len(prefixes) != 1 || prefixes["nar/"] != 1 {
		t.Errorf("other keys %q and common prefixes %v, want none and nar/ once", other, prefixes)
	}
	if pages < 3 {
		t.Errorf("%d pages for %d keys, want at least 3 (1,000 keys a page)", pages, count)
	}
	t.Logf("%d narinfos in %d pages", count, pages)
}

// nixWriteFile writes b to a new file in a temporary directory.
func nixWriteFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
