package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/nix/nixbase32"
)

// TestClusterReadAfterWrite is the cross-node read-after-write hammer.
// Writers on node A put, overwrite and delete small objects and narinfos;
// right after each acknowledged write, B (signed S3 GETs and HEADs) and C
// (anonymous ones, as Nix reads a public cache) read the key and must see
// exactly that write: the body and ETag of the put, or a 404 after a
// delete. Before each write B and C read the key too, so that whatever
// they keep in memory about it (a remembered object, a remembered
// absence, a bucket's filter of absent keys) is warm; a quarter of the
// writes go to keys never seen before, which B and C have just read as
// absent. After a third of the writes B and C also list the key, which
// must show as the write left it. Any stale answer fails the test.
func TestClusterReadAfterWrite(t *testing.T) {
	const (
		writers  = 4
		runFor   = 4 * time.Second
		bucket   = "hammer"
		narCount = 8
	)
	c := startCluster(t, 3)
	a, b, cn := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	root := newRawS3(a.AccessKey, a.SecretKey)
	anon := newRawS3("", "")
	defer root.close()
	defer anon.close()

	root.must(t, http.StatusOK, http.MethodPut, a.Endpoint, "/"+bucket, nil)
	// Anyone may read, and list, so that a missing key is a 404 for C too
	// (without s3:ListBucket it would be a 403, as on AWS).
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",
		"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::%[1]s","arn:aws:s3:::%[1]s/*"]}]}`, bucket)
	root.must(t, http.StatusNoContent, http.MethodPut, a.Endpoint, "/"+bucket+"?policy", []byte(policy))

	// The NARs the narinfos point at (compression none: the server checks
	// NarHash against the file's own hash).
	nars := make([]hammerNar, narCount)
	for i := range nars {
		body := make([]byte, 1024+i)
		rand.Read(body)
		sum := sha256.Sum256(body)
		h := nixbase32.EncodeToString(sum[:])
		nars[i] = hammerNar{url: "nar/" + h + ".nar", hash: "sha256:" + h, size: len(body)}
		root.must(t, http.StatusOK, http.MethodPut, a.Endpoint, "/"+bucket+"/"+nars[i].url, body, "Content-Type", "application/x-nix-nar")
	}

	h := &hammer{
		bucket: bucket, nars: nars,
		write: func(ctx context.Context, method, path string, body []byte, hdr ...string) (rawResp, error) {
			return root.send(ctx, method, a.Endpoint, path, body, hdr...)
		},
		readers: []hammerReader{
			{name: "B", read: func(ctx context.Context, method, path string) (rawResp, error) {
				return root.send(ctx, method, b.Endpoint, path, nil)
			}},
			{name: "C", read: func(ctx context.Context, method, path string) (rawResp, error) {
				return anon.send(ctx, method, cn.Endpoint, path, nil)
			}},
		},
	}
	ctx, cancel := context.WithTimeout(t.Context(), runFor+30*time.Second)
	defer cancel()
	deadline := time.Now().Add(runFor)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() { h.run(ctx, w, deadline) })
	}
	wg.Wait()

	n := &h.n
	t.Logf("%d puts (%d narinfos, %d to keys just read as absent), %d overwrites, %d deletes through A; %d warm-up reads, %d reads and %d listings right after a write through B and C; %d stale, %d failed",
		n.puts.Load(), n.narinfos.Load(), n.fresh.Load(), n.overwrites.Load(), n.deletes.Load(), n.warm.Load(), n.after.Load(), n.lists.Load(), n.stale.Load(), n.failed.Load())
	h.mu.Lock()
	defer h.mu.Unlock()
	if n.stale.Load() > 0 || n.failed.Load() > 0 {
		t.Errorf("%d stale reads and %d failed requests, want none; the first:\n%s", n.stale.Load(), n.failed.Load(), strings.Join(h.problems, "\n"))
	}
	// The run must have done enough of each kind to mean something.
	for what, got := range map[string]int64{"puts": n.puts.Load(), "narinfo puts": n.narinfos.Load(), "puts of absent keys": n.fresh.Load(),
		"overwrites": n.overwrites.Load(), "deletes": n.deletes.Load()} {
		if got < 50 {
			t.Errorf("only %d %s in %v", got, what, runFor)
		}
	}
}

// hammerNar is a NAR object the narinfos may point at.
type hammerNar struct {
	url, hash string
	size      int
}

// hammerReader reads a key through one node.
type hammerReader struct {
	name string
	read func(ctx context.Context, method, path string) (rawResp, error) // GET or HEAD
}

// hammer is the state of TestClusterReadAfterWrite.
type hammer struct {
	bucket  string
	nars    []hammerNar
	write   func(ctx context.Context, method, path string, body []byte, hdr ...string) (rawResp, error)
	readers []hammerReader

	n struct {
		puts, narinfos, fresh, overwrites, deletes atomic.Int64
		warm, after, lists, stale, failed          atomic.Int64
	}
	mu       sync.Mutex
	problems []string // the first few, for the failure message
}

// hammerKey is one key a writer owns, with what its last acknowledged
// write left there. Only its writer writes it, so that state is exact.
type hammerKey struct {
	key     string
	narinfo string // the store path hash, for a narinfo key
	present bool
	etag    string // of the stored bytes
	body    []byte // a plain object's bytes
	marker  string // a line only this version of a narinfo holds
	version int
}

// problem records a stale read or a failure.
func (h *hammer) problem(stale bool, format string, args ...any) {
	if stale {
		h.n.stale.Add(1)
	} else {
		h.n.failed.Add(1)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.problems) < 20 {
		h.problems = append(h.problems, fmt.Sprintf(format, args...))
	}
}

// run is one writer, until the deadline.
func (h *hammer) run(ctx context.Context, w int, deadline time.Time) {
	rng := mrand.New(mrand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
	var keys []*hammerKey
	for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		var k *hammerKey
		if len(keys) < 4 || rng.IntN(4) == 0 {
			// A key nobody has seen: B and C read it as absent first.
			k = &hammerKey{key: fmt.Sprintf("obj/w%d/k%d", w, i)}
			if rng.IntN(2) == 0 {
				var raw [20]byte
				rand.Read(raw[:])
				k.narinfo = nixbase32.EncodeToString(raw[:])
				k.key = k.narinfo + ".narinfo"
			}
			keys = append(keys, k)
		} else {
			k = keys[rng.IntN(len(keys))]
		}
		path := "/" + h.bucket + "/" + k.key
		h.readAll(ctx, path, k, "before the write", &h.n.warm, rng)
		if !h.writeKey(ctx, path, k, w, rng) {
			return
		}
		h.readAll(ctx, path, k, "right after the write", &h.n.after, rng)
		if rng.IntN(3) == 0 {
			h.listAll(ctx, k)
		}
	}
}

// listAll lists the bucket through every reader, with k's key as the
// prefix, and checks that the listing shows k as its last write left it.
func (h *hammer) listAll(ctx context.Context, k *hammerKey) {
	path := "/" + h.bucket + "?list-type=2&prefix=" + url.QueryEscape(k.key)
	for _, rd := range h.readers {
		r, err := rd.read(ctx, http.MethodGet, path)
		h.n.lists.Add(1)
		if err != nil || r.Status != http.StatusOK {
			h.problem(false, "list %s through %s: %v %v", k.key, rd.name, err, r)
			continue
		}
		var res struct {
			Contents []struct {
				Key, ETag string
				Size      int64
			}
		}
		if err := xml.Unmarshal(r.Body, &res); err != nil {
			h.problem(false, "list %s through %s: %v\n%s", k.key, rd.name, err, r.Body)
			continue
		}
		var got []string
		for _, c := range res.Contents {
			if c.Key == k.key {
				got = append(got, strings.Trim(c.ETag, `"`))
			}
		}
		want := []string(nil)
		if k.present {
			want = []string{k.etag}
		}
		if !slices.Equal(got, want) {
			h.problem(true, "list %s through %s right after the write: ETags %q, want %q", k.key, rd.name, got, want)
		}
	}
}

// writeKey puts a new version of k through A, or deletes it, and records
// the acknowledged result in k.
func (h *hammer) writeKey(ctx context.Context, path string, k *hammerKey, w int, rng *mrand.Rand) bool {
	if k.present && rng.IntN(4) == 0 {
		r, err := h.write(ctx, http.MethodDelete, path, nil)
		if err != nil || r.Status != http.StatusNoContent {
			h.problem(false, "DELETE %s through A: %v %v, want 204", k.key, err, r)
			return false
		}
		h.n.deletes.Add(1)
		k.present, k.etag, k.body, k.marker = false, "", nil, ""
		return true
	}
	k.version++
	var body []byte
	ctype := "application/octet-stream"
	if k.narinfo != "" {
		nar := h.nars[k.version%len(h.nars)]
		k.marker = fmt.Sprintf("Deriver: 00000000000000000000000000000000-hammer-w%d-v%d.drv", w, k.version)
		body = fmt.Appendf(nil, "StorePath: /nix/store/%s-hammer\nURL: %s\nCompression: none\nFileHash: %s\nFileSize: %d\nNarHash: %s\nNarSize: %d\nReferences: \n%s\n",
			k.narinfo, nar.url, nar.hash, nar.size, nar.hash, nar.size, k.marker)
		ctype = "text/x-nix-narinfo"
	} else {
		body = fmt.Appendf(nil, "%s version %d %x", k.key, k.version, rng.Uint64())
		body = append(body, bytes.Repeat([]byte{'.'}, rng.IntN(512))...)
	}
	r, err := h.write(ctx, http.MethodPut, path, body, "Content-Type", ctype)
	if err != nil || r.Status != http.StatusOK || r.etag() == "" {
		h.problem(false, "PUT %s through A: %v %v, want 200 with an ETag", k.key, err, r)
		return false
	}
	if k.narinfo == "" {
		if sum := md5.Sum(body); r.etag() != hex.EncodeToString(sum[:]) {
			h.problem(false, "PUT %s through A: ETag %s, want the MD5 of the body", k.key, r.etag())
		}
	}
	if k.present {
		h.n.overwrites.Add(1)
	} else {
		h.n.fresh.Add(1) // new, or deleted: B and C have just read it as absent
	}
	h.n.puts.Add(1)
	if k.narinfo != "" {
		h.n.narinfos.Add(1)
	}
	k.present, k.etag, k.body = true, r.etag(), body
	return true
}

// readAll reads k through every reader and checks the answer against
// the last acknowledged write.
func (h *hammer) readAll(ctx context.Context, path string, k *hammerKey, when string, count *atomic.Int64, rng *mrand.Rand) {
	for _, rd := range h.readers {
		head := rng.IntN(3) == 0
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		r, err := rd.read(ctx, method, path)
		count.Add(1)
		if err != nil {
			h.problem(false, "%s %s through %s %s: %v", method, k.key, rd.name, when, err)
			continue
		}
		if why := k.check(r, head); why != "" {
			state := "deleted or never written"
			if k.present {
				state = "version " + strconv.Itoa(k.version) + " ETag " + k.etag
			}
			h.problem(r.Status < 500, "%s %s through %s %s (A acknowledged %s): %s", method, k.key, rd.name, when, state, why)
		}
	}
}

// check returns why an answer is not what k's last write left, or "".
func (k *hammerKey) check(r rawResp, head bool) string {
	if !k.present {
		if r.Status != http.StatusNotFound {
			return fmt.Sprintf("%v, want 404", r)
		}
		return ""
	}
	if r.Status != http.StatusOK || r.etag() != k.etag {
		return fmt.Sprintf("%v, want 200 with ETag %s", r, k.etag)
	}
	if head {
		if cl := r.Header.Get("Content-Length"); k.narinfo == "" && cl != strconv.Itoa(len(k.body)) {
			return fmt.Sprintf("Content-Length %q, want %d", cl, len(k.body))
		}
		return ""
	}
	if sum := md5.Sum(r.Body); hex.EncodeToString(sum[:]) != k.etag {
		return fmt.Sprintf("a body whose MD5 is not its ETag %s: %.200q", k.etag, r.Body)
	}
	if k.narinfo != "" && !bytes.Contains(r.Body, []byte(k.marker+"\n")) {
		return fmt.Sprintf("a narinfo without %q: %.300q", k.marker, r.Body)
	}
	if k.narinfo == "" && !bytes.Equal(r.Body, k.body) {
		return fmt.Sprintf("%.200q, want %.200q", r.Body, k.body)
	}
	return ""
}
