package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/nixbucket/nixbucket/internal/stall"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestStalledStore: with the store stalled (a proxy holding every byte),
// each call made for a request with a bound (stall.Bound) fails, rather
// than waiting for the store, with an error Unreachable takes for the
// store's and that says it made no progress; a call without a bound (a
// background job's) is not cut by it; and once the store answers again
// the same backend works, without a restart.
func TestStalledStore(t *testing.T) {
	st := testenv.S3Store(t)
	bucket := st.NewBucket(t)
	proxy := testenv.NewProxy(t, strings.TrimPrefix(st.Endpoint, "http://"))
	b, err := Open(t.Context(), Config{
		Bucket: bucket, Endpoint: "http://" + proxy.Addr(), Region: st.Region, PathStyle: true, PartSize: testPartSize,
	}, Options{Credentials: credentials.NewStaticCredentialsProvider(st.AccessKey, st.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("stalled store "), 100<<10)
	put := func(ctx context.Context, sized bool) (string, error) {
		w, err := b.Create(ctx)
		if sized {
			w, err = b.CreateSized(ctx, int64(len(body)))
		}
		if err != nil {
			return "", err
		}
		if _, err := w.Write(body); err != nil {
			w.Abort()
			return "", err
		}
		return w.Commit(ctx)
	}
	before, err := put(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	other, err := put(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}

	proxy.Stall(true)
	ctx := stall.WithBound(t.Context(), 200*time.Millisecond)
	want := func(what string, err error) {
		t.Helper()
		if err == nil || !b.Unreachable(err) || !errors.Is(err, stall.ErrNoProgress) {
			t.Errorf("%s on a stalled store: %v, want an unreachable store that made no progress", what, err)
		}
	}
	_, err = put(ctx, false)
	want("a put", err)
	_, err = put(ctx, true)
	want("a sized put", err)
	_, err = b.Open(ctx, before)
	want("Open", err)
	_, err = b.OpenStream(ctx, before)
	want("OpenStream", err)
	// (The proxy passes the held DELETE on once unstalled.)
	want("Delete", b.Delete(ctx, other))
	// Unbounded: still waiting when the store comes back, then done.
	done := make(chan error, 1)
	go func() {
		_, err := put(t.Context(), false)
		done <- err
	}()
	select {
	case err := <-done:
		t.Errorf("a put without a bound ended while the store stalled: %v", err)
	case <-time.After(time.Second):
	}
	proxy.Stall(false)
	if err := <-done; err != nil {
		t.Errorf("a put without a bound, once the store answers again: %v", err)
	}

	// Bounded again, but by more than a loaded machine ever takes to answer.
	ctx = stall.WithBound(t.Context(), 10*time.Second)
	bl, err := b.Open(ctx, before)
	if err != nil {
		t.Fatalf("Open once the store answers again: %v", err)
	}
	got, err := io.ReadAll(io.NewSectionReader(bl, 0, bl.Size()))
	bl.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("reading back once the store answers again: %d bytes, %v", len(got), err)
	}
	if _, err := put(ctx, true); err != nil {
		t.Errorf("a put once the store answers again: %v", err)
	}
}

// slowReader gives its bytes one at a time, each after a pause.
type slowReader struct {
	n     int
	pause time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.pause)
	r.n--
	p[0] = 'x'
	return 1, nil
}

// TestStallClientBoundsNoProgressOnly: the bound is on the store's lack
// of progress, not on a request's length: an answer whose bytes come
// slowly but steadily streams to its end, however long that takes, and
// so does a request whose body's source (the uploading client) pauses
// longer than the bound; a store that sends nothing is cut.
func TestStallClientBoundsNoProgressOnly(t *testing.T) {
	const bound = 300 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			for range 8 {
				w.Write([]byte("y"))
				w.(http.Flusher).Flush()
				time.Sleep(bound / 2)
			}
		case "/upload":
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, n)
		case "/silent":
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	c := stallClient{next: srv.Client()}
	ctx := stall.WithBound(t.Context(), bound)
	do := func(method, path string, body io.Reader) (string, error) {
		req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if got, err := do(http.MethodGet, "/slow", nil); err != nil || got != "yyyyyyyy" {
		t.Errorf("a slow but live answer: %q, %v", got, err)
	}
	if got, err := do(http.MethodPut, "/upload", io.NopCloser(&slowReader{n: 3, pause: 3 * bound})); err != nil || got != "3" {
		t.Errorf("a body from a source slower than the bound: %q, %v", got, err)
	}
	if _, err := do(http.MethodGet, "/silent", nil); !errors.Is(err, stall.ErrNoProgress) || !errors.Is(err, errNoAnswer) {
		t.Errorf("a store that sends nothing: %v, want it cut for no progress", err)
	}
}

// TestSlowCompletionNotStalled: a store that takes longer than a request's
// bound to answer CompleteMultipartUpload (it assembles the parts first)
// is working, not stalled: blobs sent in parts, and a blob sent as the
// one part of an upload, still commit.
func TestSlowCompletionNotStalled(t *testing.T) {
	st := testenv.S3Store(t)
	bucket := st.NewBucket(t)
	// The bound is long enough that the store's other answers (an
	// UploadPart of a few MiB on a loaded CI machine) always come within
	// it; only the completion, held three bounds, outlasts it.
	const bound = 750 * time.Millisecond
	target, err := url.Parse(st.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var completions atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Query().Has("uploadId") {
			completions.Add(1)
			time.Sleep(3 * bound) // the store assembling the parts
		}
		rp.ServeHTTP(w, r)
	}))
	defer front.Close()
	b, err := Open(t.Context(), Config{
		Bucket: bucket, Endpoint: front.URL, Region: st.Region, PathStyle: true, PartSize: testPartSize,
	}, Options{Credentials: credentials.NewStaticCredentialsProvider(st.AccessKey, st.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := stall.WithBound(t.Context(), bound)
	body := bytes.Repeat([]byte("slow completion "), (testPartSize+testPartSize/2)/16)
	for _, sized := range []bool{false, true} {
		w, err := b.Create(ctx)
		if sized {
			// Over maxPut, so sent as the one part of an upload.
			body = bytes.Repeat([]byte("x"), maxPut+1)
			w, err = b.CreateSized(ctx, int64(len(body)))
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(body); err != nil {
			t.Fatalf("sized=%v: write: %v", sized, err)
		}
		id, err := w.Commit(ctx)
		if err != nil {
			t.Fatalf("sized=%v: a completion slower than the bound failed the commit: %v", sized, err)
		}
		rc, err := b.Open(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("sized=%v: read back %d bytes (%v), want %d", sized, len(got), err, len(body))
		}
	}
	if completions.Load() != 2 {
		t.Fatalf("%d completions went through the proxy, want 2", completions.Load())
	}
}
