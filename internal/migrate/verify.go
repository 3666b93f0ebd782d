package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/storage"
)

// maxShown is how many differences an ErrMismatch lists.
const maxShown = 20

// verifier compares the destination with the source after a copy.
type verifier struct {
	c        *Copier
	mu       sync.Mutex
	problems []string
	count    int

	buckets, objects, uploads, parts, blobs, blobBytes atomic.Int64
}

// differ records a difference.
func (v *verifier) differ(format string, a ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.count++
	if len(v.problems) < maxShown {
		v.problems = append(v.problems, fmt.Sprintf(format, a...))
	}
}

// verify compares everything the copy copied, and returns ErrMismatch
// (wrapped, listing the first differences) when anything differs.
func (c *Copier) verify(ctx context.Context) (Verified, error) {
	v := &verifier{c: c}
	err := v.run(ctx)
	out := Verified{
		Buckets: v.buckets.Load(), Objects: v.objects.Load(), Uploads: v.uploads.Load(), Parts: v.parts.Load(),
		Blobs: v.blobs.Load(), BlobBytes: v.blobBytes.Load(), Hashed: c.Hashes && c.placer != nil,
		Differences: int64(v.count),
	}
	if err != nil {
		return out, fmt.Errorf("migrate: verifying: %w", err)
	}
	if v.count > 0 {
		more := ""
		if v.count > len(v.problems) {
			more = fmt.Sprintf("\n  … and %d more", v.count-len(v.problems))
		}
		if !c.Delete {
			more += "\n  (what the source deleted after an earlier run stays in the destination: run again with --delete to remove it there too)"
		}
		return out, fmt.Errorf("migrate: %d differences between the source and the destination after copying:\n  %s%s\n%w",
			v.count, strings.Join(v.problems, "\n  "), more, ErrMismatch)
	}
	return out, nil
}

func (v *verifier) run(ctx context.Context) error {
	if err := v.identities(ctx); err != nil {
		return err
	}
	if err := v.traffic(ctx); err != nil {
		return err
	}
	from, err := v.c.From.Meta.Buckets(ctx)
	if err != nil {
		return err
	}
	to, err := v.c.To.Meta.Buckets(ctx)
	if err != nil {
		return err
	}
	names := func(bs []meta.Bucket) []string {
		var out []string
		for _, b := range bs {
			out = append(out, b.Name)
		}
		return out
	}
	if !slices.Equal(names(from), names(to)) {
		v.differ("buckets: the source has %q, the destination %q", names(from), names(to))
	}
	for _, b := range from {
		if err := v.bucket(ctx, b.Name); err != nil {
			return fmt.Errorf("bucket %s: %w", b.Name, err)
		}
		v.buckets.Add(1)
	}
	return nil
}

// identities compares settings, users, access keys and tokens.
func (v *verifier) identities(ctx context.Context) error {
	from, to := v.c.From.Meta, v.c.To.Meta
	if l, ok := from.(meta.SettingsLister); ok {
		all, err := v.c.settings(ctx, l)
		if err != nil {
			return err
		}
		for _, name := range sortedKeys(all) {
			if skipSetting(name) {
				continue
			}
			if have, err := to.Setting(ctx, name); err != nil {
				return err
			} else if have != all[name] {
				v.differ("setting %s: %q in the source, %q in the destination", name, all[name], have)
			}
		}
	}
	uf, err := from.Users(ctx)
	if err != nil {
		return err
	}
	ut, err := to.Users(ctx)
	if err != nil {
		return err
	}
	if !slices.EqualFunc(uf, ut, func(a, b meta.User) bool { return a.Name == b.Name && bytes.Equal(a.Policy, b.Policy) }) {
		v.differ("users: %d in the source, %d in the destination, or their policies differ", len(uf), len(ut))
	}
	kf, err := from.AccessKeys(ctx)
	if err != nil {
		return err
	}
	kt, err := to.AccessKeys(ctx)
	if err != nil {
		return err
	}
	if !slices.EqualFunc(kf, kt, func(a, b meta.AccessKey) bool {
		return a.ID == b.ID && a.Secret == b.Secret && a.User == b.User && a.Enabled == b.Enabled
	}) {
		v.differ("access keys: %d in the source, %d in the destination, or they differ", len(kf), len(kt))
	}
	tf, err := from.Tokens(ctx)
	if err != nil {
		return err
	}
	tt, err := to.Tokens(ctx)
	if err != nil {
		return err
	}
	if !slices.EqualFunc(tf, tt, func(a, b meta.Token) bool { return a.ID == b.ID && sameToken(a, b) }) {
		v.differ("tokens: %d in the source, %d in the destination, or they differ", len(tf), len(tt))
	}
	return nil
}

// bucket compares one bucket: settings, keys, objects, index, uploads,
// pins.
func (v *verifier) bucket(ctx context.Context, bucket string) error {
	from, to := v.c.From.Meta, v.c.To.Meta
	if err := v.bucketSettings(ctx, bucket); err != nil {
		return err
	}
	if err := v.objectsOf(ctx, bucket); err != nil {
		return err
	}
	sf, err := from.CacheStats(ctx, bucket)
	if err != nil {
		return err
	}
	if st, err := to.CacheStats(ctx, bucket); err != nil {
		return err
	} else if st != sf {
		v.differ("bucket %s: narinfo index of %d paths (%d NAR bytes) in the source, %d paths (%d NAR bytes) in the destination",
			bucket, sf.Paths, sf.NarBytes, st.Paths, st.NarBytes)
	}
	if err := v.uploadsOf(ctx, bucket); err != nil {
		return err
	}
	pf, err := from.Pins(ctx, bucket)
	if err != nil {
		return err
	}
	pt, err := to.Pins(ctx, bucket)
	if err != nil {
		return err
	}
	if !slices.EqualFunc(pf, pt, func(a, b meta.Pin) bool { return a.Name == b.Name && samePin(a, b) }) {
		v.differ("bucket %s: %d pins in the source, %d in the destination, or they differ", bucket, len(pf), len(pt))
	}
	return nil
}

// bucketSettings compares a bucket's policy, settings and signing keys.
func (v *verifier) bucketSettings(ctx context.Context, bucket string) error {
	from, to := v.c.From.Meta, v.c.To.Meta
	pf, err := bucketPolicy(ctx, from, bucket)
	if err != nil {
		return err
	}
	pt, err := bucketPolicy(ctx, to, bucket)
	if err != nil {
		return err
	}
	if !bytes.Equal(pf, pt) {
		v.differ("bucket %s: the policies differ", bucket)
	}
	cf, err := from.CacheSettings(ctx, bucket)
	if err != nil {
		return err
	}
	ct, err := to.CacheSettings(ctx, bucket)
	if err != nil {
		return err
	}
	rf, err := from.Retention(ctx, bucket)
	if err != nil {
		return err
	}
	rt, err := to.Retention(ctx, bucket)
	if err != nil {
		return err
	}
	lf, err := from.LifecycleRules(ctx, bucket)
	if err != nil {
		return err
	}
	lt, err := to.LifecycleRules(ctx, bucket)
	if err != nil {
		return err
	}
	if cf != ct || rf != rt || !slices.Equal(lf, lt) {
		v.differ("bucket %s: nix-cache-info settings, retention or lifecycle rules differ", bucket)
	}
	kf, err := from.SigningKeys(ctx, bucket)
	if err != nil {
		return err
	}
	kt, err := to.SigningKeys(ctx, bucket)
	if err != nil {
		return err
	}
	if !slices.EqualFunc(kf, kt, func(a, b meta.SigningKey) bool { return a.Name == b.Name && a.Secret == b.Secret }) {
		v.differ("bucket %s: %d signing keys in the source, %d in the destination, or they differ", bucket, len(kf), len(kt))
	}
	return nil
}

// objectsOf compares every object of the bucket and its blobs, and the
// numbers of objects on both sides.
func (v *verifier) objectsOf(ctx context.Context, bucket string) error {
	total, err := countObjects(ctx, v.c.From.Meta, bucket)
	if err != nil {
		return err
	}
	v.c.prog.linef("verifying bucket %s: %d objects", bucket, total)
	var done, missing atomic.Int64
	v.c.prog.setStatus(func() string {
		return fmt.Sprintf("verifying bucket %s: %d of %d objects, %d blobs (%s) checked",
			bucket, done.Load(), total, v.blobs.Load(), humanBytes(v.blobBytes.Load()))
	})
	defer v.c.prog.setStatus(nil)
	err = v.c.forEachKey(ctx, bucket, func(ctx context.Context, key string) error {
		src, err := sourceObject(ctx, v.c.From.Meta, bucket, key)
		if err != nil || src == nil {
			return err
		}
		dst, err := sourceObject(ctx, v.c.To.Meta, bucket, key)
		switch {
		case err != nil:
			return err
		case dst == nil:
			missing.Add(1)
			v.differ("bucket %s: object %q is missing from the destination", bucket, key)
		case !sameObject(*src, *dst):
			v.differ("bucket %s: object %q differs in the destination", bucket, key)
		default:
			for _, seg := range dst.Segments {
				if err := v.blob(ctx, seg, fmt.Sprintf("object %s/%s", bucket, key)); err != nil {
					return err
				}
			}
		}
		v.objects.Add(1)
		done.Add(1)
		v.c.prog.tick()
		return nil
	})
	if err != nil {
		return err
	}
	have, err := countObjects(ctx, v.c.To.Meta, bucket)
	if err != nil {
		return err
	}
	if n := done.Load(); have != n {
		v.differ("bucket %s: %d objects in the source, %d in the destination", bucket, n, have)
		if extra := have - (n - missing.Load()); extra > 0 {
			v.differ("bucket %s: the destination has %d objects the source does not (written there after an earlier migrate?)", bucket, extra)
		}
	}
	return nil
}

// uploadsOf compares the bucket's uploads and their parts.
func (v *verifier) uploadsOf(ctx context.Context, bucket string) error {
	var nf, nt int64
	err := scanUploads(ctx, v.c.From.Meta, bucket, func(u meta.Upload) error {
		nf++
		v.uploads.Add(1)
		have, err := v.c.To.Meta.Upload(ctx, bucket, u.Key, u.ID)
		if err != nil {
			v.differ("bucket %s: upload %s of %q: %v", bucket, u.ID, u.Key, err)
			return nil
		}
		// ScanUploads leaves the tags out; Upload has them.
		full, err := v.c.From.Meta.Upload(ctx, bucket, u.Key, u.ID)
		if err != nil {
			return err
		}
		if !sameUpload(full, have) {
			v.differ("bucket %s: upload %s of %q differs", bucket, u.ID, u.Key)
		}
		pf, err := v.c.From.Meta.Parts(ctx, bucket, u.Key, u.ID, 0, 0)
		if err != nil {
			return err
		}
		pt, err := v.c.To.Meta.Parts(ctx, bucket, u.Key, u.ID, 0, 0)
		if err != nil {
			return err
		}
		if !slices.EqualFunc(pf, pt, samePart) {
			v.differ("bucket %s: upload %s of %q: %d parts in the source, %d in the destination, or they differ", bucket, u.ID, u.Key, len(pf), len(pt))
			return nil
		}
		for _, p := range pt {
			v.parts.Add(1)
			if err := v.blob(ctx, p.Segment, fmt.Sprintf("part %d of upload %s", p.Number, u.ID)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := scanUploads(ctx, v.c.To.Meta, bucket, func(meta.Upload) error { nt++; return nil }); err != nil {
		return err
	}
	if nf != nt {
		v.differ("bucket %s: %d uploads in the source, %d in the destination", bucket, nf, nt)
	}
	return nil
}

// blob checks a segment's blob in the destination: there, with its size,
// and with Hashes the same SHA-256 as the source's. Errors of the stores
// are returned; differences are recorded.
func (v *verifier) blob(ctx context.Context, seg meta.Segment, of string) error {
	if seg.Inline() {
		return nil
	}
	v.blobs.Add(1)
	v.blobBytes.Add(seg.Size)
	dst := v.c.From.Blobs
	if v.c.placer != nil {
		dst = v.c.placer
	}
	if !v.c.Hashes || v.c.placer == nil {
		b, err := dst.Open(ctx, seg.Blob)
		if storage.IsNotExist(err) {
			v.differ("blob %s of %s is missing from the destination's blob store", seg.Blob, of)
			return nil
		}
		if err != nil {
			return err
		}
		size := b.Size()
		b.Close()
		if size != seg.Size {
			v.differ("blob %s of %s: %d bytes in the destination's blob store, %d in its record", seg.Blob, of, size, seg.Size)
		}
		return nil
	}
	var src digest
	var wg sync.WaitGroup
	wg.Go(func() { src = hashBlob(ctx, v.c.From.Blobs, seg.Blob, nil) })
	got := hashBlob(ctx, dst, seg.Blob, v.c.prog.tick)
	wg.Wait()
	switch {
	case src.err != nil:
		return fmt.Errorf("reading blob %s of %s in the source: %w", seg.Blob, of, src.err)
	case storage.IsNotExist(got.err):
		v.differ("blob %s of %s is missing from the destination's blob store", seg.Blob, of)
	case got.err != nil:
		return fmt.Errorf("reading blob %s of %s in the destination: %w", seg.Blob, of, got.err)
	case got.size != seg.Size || src.size != seg.Size:
		v.differ("blob %s of %s: %d bytes in the source, %d in the destination, %d in its record", seg.Blob, of, src.size, got.size, seg.Size)
	case got.sum != src.sum:
		v.differ("blob %s of %s: SHA-256 %x in the source, %x in the destination", seg.Blob, of, src.sum, got.sum)
	}
	return nil
}

// digest is a blob's SHA-256 and length, or why they are not known.
type digest struct {
	sum  [sha256.Size]byte
	size int64
	err  error
}

// hashBlob streams a blob through SHA-256, calling tick (if not nil) as
// the bytes go by.
func hashBlob(ctx context.Context, b storage.Backend, id string, tick func()) digest {
	r, err := openStream(ctx, b, id)
	if err != nil {
		return digest{err: err}
	}
	defer r.Close()
	h := sha256.New()
	var in io.Reader = r
	if tick != nil {
		in = &counting{r: r, n: func(int) { tick() }}
	}
	n, err := io.Copy(h, in)
	if err != nil {
		return digest{err: err}
	}
	var d digest
	h.Sum(d.sum[:0])
	d.size = n
	return d
}
