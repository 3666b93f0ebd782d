package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
)

var errBoom = errors.New("boom: the client's source failed")

// failingBody yields n good bytes, then errBoom.
func failingBody(n int) io.Reader {
	return io.MultiReader(bytes.NewReader(data(111, n)), iotest.ErrReader(errBoom))
}

// countFiles counts the regular files under dir, leaving out the blob
// store's spare files (empty, mode 0200: not yet blobs).
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, ierr := d.Info(); ierr == nil && fi.Mode().Perm() == 0o200 {
				return nil
			}
			n++
		}
		return err
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	return n
}

// handled waits until the server has answered a request to path made
// after mark, and returns what it answered.
func (e *env) handled(mark int, method, path string) exchange {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, x := range e.rec.since(mark) {
			if x.Method == method && x.Path == path {
				return x
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("the server never finished %s %s", method, path)
	return exchange{}
}

// TestFailedUploadsLeaveNothing breaks uploads midway, after 1 MiB: the
// object they would have replaced stays whole, no part appears, and no
// file is left behind, before and after a restart.
func TestFailedUploadsLeaveNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("crash")
	c := ctx(t)
	old := data(100, 2*mib)
	oldETag := e.put(b, "k", old)
	u := e.createUpload(t, b, "mp")
	part1 := data(101, 5*mib)
	e1 := u.part(1, part1)
	blobs := filepath.Join(e.data, "blobs")
	files := countFiles(t, blobs)

	intact := func(t *testing.T) {
		t.Helper()
		if got := e.get(b, "k"); !bytes.Equal(got, old) {
			t.Errorf("the old object changed: %d bytes", len(got))
		}
		lo, err := e.s3.ListObjectsV2(c, &s3.ListObjectsV2Input{Bucket: &b})
		if err != nil {
			t.Fatal(err)
		}
		if len(lo.Contents) != 1 || aws.ToString(lo.Contents[0].ETag) != oldETag || aws.ToInt64(lo.Contents[0].Size) != int64(len(old)) {
			t.Errorf("listing after a failed upload: %+v", lo.Contents)
		}
		lp, err := e.s3.ListParts(c, &s3.ListPartsInput{Bucket: &b, Key: aws.String("mp"), UploadId: &u.id})
		if err != nil {
			t.Fatal(err)
		}
		if len(lp.Parts) != 1 || aws.ToString(lp.Parts[0].ETag) != e1 {
			t.Errorf("parts after a failed part upload: %+v", lp.Parts)
		}
		if n := countFiles(t, blobs); n != files {
			t.Errorf("%d files under blobs/, %d before the failed uploads", n, files)
		}
	}

	rawFail := func(t *testing.T, target string) {
		t.Helper()
		r := e.request(http.MethodPut, target, nil)
		r.ContentLength = 4 * mib
		e.sign(r, "UNSIGNED-PAYLOAD", time.Now())
		r.Body = io.NopCloser(failingBody(mib))
		if _, err := e.ts.Client().Do(r); err == nil {
			t.Fatalf("the failing upload succeeded")
		}
	}
	for _, tc := range []struct {
		name   string
		path   string
		upload func(t *testing.T)
	}{
		{"PutObject, UNSIGNED-PAYLOAD", "/" + b + "/k", func(t *testing.T) { rawFail(t, e.url(b, "k")) }},
		{"UploadPart over part 1", "/" + b + "/mp", func(t *testing.T) { rawFail(t, e.url(b, "mp")+"?partNumber=1&uploadId="+u.id) }},
		{"UploadPart 2", "/" + b + "/mp", func(t *testing.T) { rawFail(t, e.url(b, "mp")+"?partNumber=2&uploadId="+u.id) }},
		{"minio-go PutObject, chunk signatures", "/" + b + "/k", func(t *testing.T) {
			_, err := e.mc.PutObject(c, b, "k", failingBody(mib), 4*mib, minio.PutObjectOptions{DisableMultipart: true})
			if err == nil {
				t.Fatalf("the failing upload succeeded")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mark := e.rec.mark()
			tc.upload(t)
			x := e.handled(mark, http.MethodPut, tc.path)
			if x.Status >= 500 {
				t.Errorf("the server answered %d to a body cut short; AWS answers 400 IncompleteBody", x.Status)
			}
			intact(t)
		})
	}

	// A restart finds the same state.
	e.restart()
	intact(t)
	if _, err := u.complete(cp(1, e1)); err != nil {
		t.Errorf("completing the upload after a restart: %v", err)
	}
}

// TestFailedStreamingUploadTLS breaks an aws-sdk-go-v2 upload that goes
// as aws-chunked with a trailing checksum (https, unseekable body).
func TestFailedStreamingUploadTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTLS())
	b := e.bucket("crashtls")
	old := data(102, mib)
	e.put(b, "k", old)
	mark := e.rec.mark()
	_, err := e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &b, Key: aws.String("k"), Body: failingBody(mib), ContentLength: aws.Int64(4 * mib)})
	if err == nil {
		t.Fatalf("the failing upload succeeded")
	}
	x := e.handled(mark, http.MethodPut, "/"+b+"/k")
	if x.ContentSHA256 != "STREAMING-UNSIGNED-PAYLOAD-TRAILER" {
		t.Errorf("the SDK sent %q, want STREAMING-UNSIGNED-PAYLOAD-TRAILER", x.ContentSHA256)
	}
	if x.Status >= 500 {
		t.Errorf("the server answered %d to a body cut short", x.Status)
	}
	if got := e.get(b, "k"); !bytes.Equal(got, old) {
		t.Errorf("the old object changed: %d bytes", len(got))
	}
}

// TestShortBody sends less than Content-Length and half-closes the
// connection, so the answer can still be read: AWS says IncompleteBody.
func TestShortBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("short")
	for _, mode := range []string{"UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"} {
		t.Run(mode, func(t *testing.T) {
			r := e.request(http.MethodPut, e.url(b, "k"), nil)
			r.ContentLength = 2 * mib
			if strings.HasPrefix(mode, "STREAMING") {
				r.Header.Set("Content-Encoding", "aws-chunked")
				r.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(2*mib-100))
			}
			e.sign(r, mode, time.Now())
			conn, err := net.Dial("tcp", e.host())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			w := bufio.NewWriter(conn)
			fmt.Fprintf(w, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", r.URL.RequestURI(), r.Host, r.ContentLength)
			r.Header.Write(w)
			w.WriteString("\r\n")
			body := data(7, mib)
			if strings.HasPrefix(mode, "STREAMING") {
				body = append([]byte(fmt.Sprintf("%x\r\n", 2*mib-100)), body...)
			}
			w.Write(body)
			w.Flush()
			conn.(*net.TCPConn).CloseWrite()
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), r)
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantError(t, resp.StatusCode, out, http.StatusBadRequest, "IncompleteBody")
			e.absent(b, "k")
		})
	}
}

// TestExpectContinue sends bodies behind Expect: 100-continue, as Nix and
// curl do. An accepted request gets "100 Continue" before the client sends
// its body; a refused one is answered without the body ever being sent.
// The client would wait an hour for the 100 before sending the body
// anyway, so a server that waits for the body instead of answering fails
// the request's one-minute liveness bound; no step is timed otherwise.
func TestExpectContinue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("expect")
	tr := e.ts.Client().Transport.(*http.Transport).Clone()
	tr.ExpectContinueTimeout = time.Hour
	hc := &http.Client{Transport: tr}
	body := data(8, 300_000)
	// send returns the answer, whether the server said 100 Continue, and
	// how many body bytes the client read to send.
	send := func(r *http.Request) (status int, out []byte, continued bool, sent int64) {
		t.Helper()
		cr := &countReader{r: bytes.NewReader(body)}
		r.Body = io.NopCloser(cr)
		r.ContentLength = int64(len(body))
		r.Header.Set("Expect", "100-continue")
		c, cancel := context.WithTimeout(r.Context(), time.Minute)
		defer cancel()
		c = httptrace.WithClientTrace(c, &httptrace.ClientTrace{Got100Continue: func() { continued = true }})
		resp, err := hc.Do(r.WithContext(c))
		if err != nil {
			t.Fatalf("PUT with Expect: %v", err)
		}
		defer resp.Body.Close()
		out, _ = io.ReadAll(resp.Body)
		return resp.StatusCode, out, continued, cr.n.Load()
	}
	signed := func(key, secret string) *http.Request {
		r := e.request(http.MethodPut, e.url(b, key), nil)
		r.Header.Set("Content-Type", "application/x-nix-nar")
		signAs(t, r, e.id, secret, "UNSIGNED-PAYLOAD", time.Now())
		return r
	}
	if st, out, continued, sent := send(signed("ok", e.secret)); st != http.StatusOK || !continued || sent != int64(len(body)) {
		t.Fatalf("PUT with Expect: 100-continue: %d, 100 Continue %v, %d bytes sent: %s", st, continued, sent, out)
	}
	if got := e.get(b, "ok"); !bytes.Equal(got, body) {
		t.Errorf("stored body differs")
	}
	st, out, continued, sent := send(signed("refused", "wrong"))
	wantError(t, st, out, http.StatusForbidden, "SignatureDoesNotMatch")
	if continued || sent != 0 {
		t.Errorf("refused PUT: 100 Continue %v, %d body bytes sent; want neither", continued, sent)
	}
	e.absent(b, "refused")
	// A refused conditional write: If-None-Match on an existing key.
	r := e.request(http.MethodPut, e.url(b, "ok"), nil)
	r.Header.Set("If-None-Match", "*")
	e.sign(r, "UNSIGNED-PAYLOAD", time.Now())
	st, out, continued, sent = send(r)
	wantError(t, st, out, http.StatusPreconditionFailed, "PreconditionFailed")
	if continued || sent != 0 {
		t.Errorf("412: 100 Continue %v, %d body bytes sent; want neither", continued, sent)
	}
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestRestartKeepsState restarts a server: credentials, buckets, objects
// and uploads in progress survive.
func TestRestartKeepsState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if !e.srv.FirstStart {
		t.Errorf("a fresh data directory is not a first start")
	}
	id, secret := e.id, e.secret
	b := e.bucket("restart")
	e.put(b, "k", []byte("kept"), func(in *s3.PutObjectInput) { in.Metadata = map[string]string{"m": "1"} })
	u := e.createUpload(t, b, "mp")
	p := data(9, 1000)
	etag := u.part(1, p)
	cred, err := os.ReadFile(filepath.Join(e.data, "credentials"))
	if err != nil {
		t.Fatalf("reading <data>/credentials: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(e.data, "credentials")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	for _, want := range []string{"[nixbucket]", "aws_access_key_id = " + id, "aws_secret_access_key = " + secret} {
		if !strings.Contains(string(cred), want) {
			t.Errorf("credentials file lacks %q:\n%s", want, cred)
		}
	}

	e.restart()
	if e.srv.FirstStart || e.id != id || e.secret != secret {
		t.Fatalf("restart made new credentials (first start %v)", e.srv.FirstStart)
	}
	h, err := e.s3.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: &b, Key: aws.String("k")})
	if err != nil || h.Metadata["m"] != "1" || string(e.get(b, "k")) != "kept" {
		t.Errorf("object after restart: %+v, %v", h, err)
	}
	u.e = e
	if _, err := u.complete(types.CompletedPart{PartNumber: aws.Int32(1), ETag: aws.String(etag)}); err != nil {
		t.Fatalf("completing after restart: %v", err)
	}
	if got := e.get(b, "mp"); !bytes.Equal(got, p) {
		t.Errorf("completed object differs")
	}
}
