package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/nixbucket/nixbucket/internal/binarycache"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/codec"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nixgraph"
	"github.com/nixbucket/nixbucket/internal/observe"
)

// MaxListing bounds a decoded .ls listing the console reads, MaxLog the
// part of a build log it shows (the whole log is a link away).
const (
	MaxListing = 16 << 20
	MaxLog     = 256 << 10
)

// ref is a reference or referrer as the page links it.
type ref struct {
	Base string // store path basename
	Hash string
	Link bool // the bucket holds it and the caller may read it
}

// entry is a line of the file tree.
type entry struct {
	Name   string
	Type   string
	Size   int64
	Exec   bool
	Target string
	Dir    string // the entry's path, for a directory's link
}

type pathData struct {
	Bucket     string
	N          meta.Narinfo
	Name       string
	References []ref
	Referrers  []ref
	// ReferrersHidden counts the referrers the caller may not read,
	// left out.
	ReferrersHidden int
	CanList         bool
	Ranked          bool
	Closure         closureInfo
	NarKey          string
	Listing         bool
	ListingErr      string
	Dir             string
	Parents         []entry
	Entries         []entry
	EntriesMore     int // entries past MaxEntries, not listed
	LogKey          string
	Log             string
	LogCut          bool
	Deriver         string
	Sigs            []string
	Compression     string
	// System and Extra are the fields of the narinfo as served that the
	// index does not keep: System (old Nix, Hydra) and any key Nix may
	// add, read from the stored narinfo itself.
	System     string
	Extra      []narinfo.Field
	NarinfoErr string
}

func (h *Handler) storePath(w http.ResponseWriter, r *http.Request, c *caller) (view, error) {
	ctx := r.Context()
	bucket, hash := r.PathValue("bucket"), r.PathValue("hash")
	notFound := fail(http.StatusNotFound, "no store path %s in bucket %q that you may read", hash, bucket)
	if len(hash) != nixgraph.HashLen || !h.allowed(r, *c, "s3:GetObject", objectARN(bucket, hash+".narinfo")) {
		return view{}, notFound
	}
	n, err := h.store.Narinfo(ctx, bucket, hash)
	if errors.Is(err, meta.ErrNoSuchKey) {
		return view{}, notFound
	}
	if err != nil {
		return view{}, err
	}
	d := pathData{Bucket: bucket, N: n, NarKey: n.URL, Sigs: n.Sigs, Compression: n.Compression}
	if d.Compression == "" {
		d.Compression = "bzip2 (none given)"
	}
	d.Name = path.Base(n.StorePath)
	may := h.narinfoReader(r, c, bucket)
	for _, rb := range n.References {
		rh := nixgraph.RefHash(rb)
		d.References = append(d.References, ref{Base: rb, Hash: rh, Link: rh != hash && may(rh)})
	}
	// The referrers need the bucket's graph, which only those who may
	// list the bucket see. The closure is walked through the graph when
	// there is one (a walk through the index finds the same), else
	// through the index: a visitor who may not list the bucket does not
	// make the page load the graph, which in a bucket being pushed to
	// would be a scan of its index per view rather than a closure's
	// lookups.
	d.CanList = h.allowed(r, *c, "s3:ListBucket", bucketARN(bucket))
	var g *graph
	if d.CanList {
		if g, err = h.bucketGraph(ctx, bucket); err != nil {
			return view{}, err
		}
	} else {
		g = h.keptGraph(ctx, bucket)
	}
	if d.Closure, err = h.pathClosure(ctx, bucket, n, g, may); err != nil {
		return view{}, err
	}
	// A reference the bucket does not hold (a path pushed to another
	// bucket, or not pushed at all) is no link: its page would be a 404.
	gone := map[string]bool{}
	for _, m := range d.Closure.Missing {
		gone[m] = true
	}
	for i := range d.References {
		if gone[d.References[i].Base] {
			d.References[i].Link = false
		}
	}
	if d.CanList {
		if g != nil {
			d.Ranked = true
			// Only the referrers the caller may read are named: listing
			// the bucket gives its keys (hashes), not its store paths.
			for _, rn := range g.referrers(hash) {
				if !may(rn.Hash) {
					d.ReferrersHidden++
					continue
				}
				d.Referrers = append(d.Referrers, ref{Base: path.Base(rn.StorePath), Hash: rn.Hash, Link: true})
			}
		}
	}
	if n.Deriver != "" && n.Deriver != "unknown-deriver" {
		d.Deriver = n.Deriver
	}
	if err := h.servedFields(ctx, bucket, hash, &d); err != nil {
		d.NarinfoErr = err.Error()
	}
	if h.allowed(r, *c, "s3:GetObject", objectARN(bucket, hash+".ls")) {
		d.Dir = strings.Trim(r.URL.Query().Get("dir"), "/")
		if err := h.listing(ctx, bucket, hash, &d); err != nil {
			d.ListingErr = err.Error()
		}
	}
	if d.Deriver != "" {
		key := "log/" + d.Deriver
		if h.allowed(r, *c, "s3:GetObject", objectARN(bucket, key)) {
			text, cut, err := h.readLog(ctx, bucket, key)
			switch {
			case err == nil:
				d.LogKey, d.Log, d.LogCut = key, text, cut
			case !errors.Is(err, meta.ErrNoSuchKey):
				return view{}, err
			}
		}
	}
	return view{name: "path", title: d.Name, data: d}, nil
}

// open returns a stored object's bytes with its Content-Encoding removed
// by the server's bounded decoders (codec.NewReader).
func (h *Handler) open(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	obj, rd, err := h.objects.Get(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	enc := obj.Headers.ContentEncoding
	if enc == "" {
		return rd, nil
	}
	dec, err := codec.NewReader(codec.Canonical(enc), rd)
	if err != nil {
		rd.Close()
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{dec, closers{dec, rd}}, nil
}

type closers []io.Closer

func (cs closers) Close() error {
	for _, c := range cs {
		c.Close()
	}
	return nil
}

// servedFields reads the narinfo as the cache serves it (the caller may
// read it: s3:GetObject was checked) for the fields the index leaves out.
// None is missing for a narinfo the index holds but whose object is gone
// (a pull-through bucket's path not fetched yet): the index's fields are
// the page's.
func (h *Handler) servedFields(ctx context.Context, bucket, hash string, d *pathData) error {
	rc, err := h.open(ctx, bucket, hash+".narinfo")
	if errors.Is(err, meta.ErrNoSuchKey) {
		return nil
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, narinfo.MaxSize+1))
	if err != nil {
		return err
	}
	if len(b) > narinfo.MaxSize {
		return fmt.Errorf("the narinfo is larger than %d bytes", narinfo.MaxSize)
	}
	ni, err := narinfo.Parse(b)
	if err != nil {
		return err
	}
	d.System, d.Extra = ni.System, ni.Extra
	return nil
}

// readLog returns the first MaxLog bytes of a build log.
func (h *Handler) readLog(ctx context.Context, bucket, key string) (string, bool, error) {
	rc, err := h.open(ctx, bucket, key)
	if err != nil {
		return "", false, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, MaxLog+1))
	if err != nil {
		return "", false, err
	}
	cut := len(b) > MaxLog
	return strings.ToValidUTF8(string(b[:min(len(b), MaxLog)]), "\uFFFD"), cut, nil
}

// file serves a stored object of a bucket (a NAR, a listing, a log) to a
// caller allowed s3:GetObject on it, as the binary-cache protocol would,
// so that a signed-in user downloads from a private bucket without
// netrc. Encodings a browser cannot decode (xz, bzip2) are decoded.
func (h *Handler) file(w http.ResponseWriter, r *http.Request) {
	c := h.who(w, r)
	bucket, key := r.PathValue("bucket"), r.PathValue("key")
	if !h.allowed(r, c, "s3:GetObject", objectARN(bucket, key)) {
		h.renderError(w, r, c, fail(http.StatusNotFound, "no object %s in bucket %q that you may read", key, bucket))
		return
	}
	obj, rd, err := h.objects.Get(r.Context(), bucket, key)
	if err != nil {
		h.renderError(w, r, c, err)
		return
	}
	defer rd.Close()
	// Its bytes are the bucket's traffic (metrics, access log, the
	// traffic page), as over the APIs; named only now that the object
	// was found, so a stranger's guesses take no bucket label.
	if n := observe.NoteOf(w); n != nil {
		n.Bucket, n.Key = bucket, key
	}
	hd := w.Header()
	// An object is whatever its uploader made it, an HTML page too, and
	// here it is served from the console's origin: sandboxed, it runs in an
	// origin of its own, with no script, form or access to the console.
	hd.Set("Content-Security-Policy", "sandbox; default-src 'none'; frame-ancestors 'none'")
	ct := obj.Headers.ContentType
	if ct == "" || strings.HasPrefix(key, "log/") {
		ct = "text/plain; charset=utf-8"
	}
	hd.Set("Content-Type", ct)
	if strings.HasPrefix(key, "nar/") {
		hd.Set("Content-Disposition", `attachment; filename="`+path.Base(key)+`"`)
	}
	dec, err := binarycache.Decoder(obj.Headers.ContentEncoding, rd)
	if err != nil {
		h.renderError(w, r, c, err)
		return
	}
	if dec != nil {
		defer dec.Close()
		io.Copy(w, dec)
		return
	}
	if obj.Headers.ContentEncoding != "" {
		hd.Set("Content-Encoding", obj.Headers.ContentEncoding)
	}
	http.ServeContent(w, r, "", obj.Modified, rd.Content())
}
