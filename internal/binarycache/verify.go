package binarycache

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/nixbucket/nixbucket/internal/ctxio"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/codec"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// Signed means checked: before a narinfo is stored (and signed), the NAR
// its URL names is decoded and its NarHash and NarSize compared with what
// it decodes to. What a NAR file decodes to never changes, so the result
// is kept in the file's record (noteNar) and a narinfo uploaded again for
// the same file costs no second decoding.

// noteNar is the note (see objects.Annotate) holding what a NAR file
// decodes to: "<compression> sha256:<nix32> <size>".
const noteNar = objects.NotePrefix + "nar"

// decoding bounds the NAR files decoded at once, each holding a window of
// at most codec.MaxWindow.
var (
	decodingOnce sync.Once
	decoding     chan struct{}
)

func decodeSlot(ctx context.Context) (func(), error) {
	decodingOnce.Do(func() { decoding = make(chan struct{}, max(2, runtime.GOMAXPROCS(0))) })
	select {
	case decoding <- struct{}{}:
		return func() { <-decoding }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// narCompression is the compression of the NAR a narinfo names, as
// codec spells it; a missing Compression means bzip2.
func narCompression(ni *narinfo.NarInfo) string {
	if strings.TrimSpace(ni.Compression) == "" {
		return "bzip2"
	}
	return codec.Canonical(ni.Compression)
}

// decodedNar is what a NAR file decodes to.
type decodedNar struct {
	hash nixhash.SHA256
	size uint64
}

func (d decodedNar) note(compression string) string {
	return compression + " " + d.hash.String() + " " + strconv.FormatUint(d.size, 10)
}

func parseNote(v, compression string) (decodedNar, bool) {
	f := strings.Fields(v)
	if len(f) != 3 || f[0] != compression {
		return decodedNar{}, false
	}
	h, err := nixhash.ParseSHA256(f[1])
	n, err2 := strconv.ParseUint(f[2], 10, 64)
	if err != nil || err2 != nil {
		return decodedNar{}, false
	}
	return decodedNar{h, n}, true
}

// checkNar checks NarHash and NarSize against the NAR file nar (checked
// by checkFile). It reports false, with no error, when the file's
// compression is one this server cannot decode (lz4, lzip): such a
// narinfo is stored unsigned by the server.
func (h *Hook) checkNar(ctx context.Context, in objects.HookInput, nar meta.Object, ni *narinfo.NarInfo) (bool, error) {
	want, err := nixhash.ParseSHA256(ni.NarHash)
	if err != nil {
		return false, reject("narinfo: NarHash: %v", err)
	}
	comp := narCompression(ni)
	if !codec.Supported(comp) {
		return false, nil
	}
	mayRead := in.MayRead != nil && in.MayRead(ni.URL)
	mismatch := func(format string, args ...any) error {
		if !mayRead {
			return reject("narinfo: NarHash and NarSize do not match the NAR that %s decodes to", ni.URL)
		}
		return reject(format, args...)
	}
	var got decodedNar
	if comp == "none" {
		copy(got.hash[:], nar.SHA256) // checkFile made sure it is known
		got.size = uint64(nar.Size)
	} else if d, ok := parseNote(nar.Headers.UserMeta[noteNar], comp); ok {
		got = d
	} else {
		d, complete, err := h.decodeNar(ctx, nar, comp, ni.NarSize)
		if err != nil {
			if errors.Is(err, objects.ErrRejected) && !mayRead {
				return false, reject("narinfo: URL: %s does not decode to the NAR the narinfo describes", ni.URL)
			}
			return false, err
		}
		if !complete {
			return false, mismatch("narinfo: NarSize: %d, but %s decodes to more bytes than that", ni.NarSize, ni.URL)
		}
		got = d
		h.annotate(ctx, nar, nil, map[string]string{noteNar: d.note(comp)})
	}
	if got.size != ni.NarSize {
		return false, mismatch("narinfo: NarSize: %d, but %s decodes to %d bytes (NarHash %s)", ni.NarSize, ni.URL, got.size, got.hash)
	}
	if got.hash != want {
		return false, mismatch("narinfo: NarHash: %s, but %s decodes to %s", want, ni.URL, got.hash)
	}
	return true, nil
}

// decodeNar decodes nar with compression, reading at most limit+1 decoded
// bytes. complete is false when there were more than limit.
func (h *Hook) decodeNar(ctx context.Context, nar meta.Object, compression string, limit uint64) (d decodedNar, complete bool, err error) {
	release, err := decodeSlot(ctx)
	if err != nil {
		return decodedNar{}, false, err
	}
	defer release()
	read, r, err := h.Objects.Get(ctx, nar.Bucket, nar.Key)
	if err != nil {
		return decodedNar{}, false, err
	}
	defer r.Close()
	if read.ETag != nar.ETag {
		return decodedNar{}, false, reject("narinfo: URL: %s was replaced while it was checked; upload the narinfo again", nar.Key)
	}
	dec, err := codec.NewReader(compression, ctxio.Reader(ctx, r))
	if err != nil {
		return decodedNar{}, false, reject("narinfo: URL: %s does not decode as %s: %v", nar.Key, compression, err)
	}
	defer dec.Close()
	s := sha256.New()
	n, err := io.CopyBuffer(s, io.LimitReader(dec, int64(min(limit, 1<<62))+1), make([]byte, 256<<10))
	if err != nil {
		if ctx.Err() != nil {
			return decodedNar{}, false, ctx.Err()
		}
		return decodedNar{}, false, reject("narinfo: URL: %s does not decode as %s: %v", nar.Key, compression, err)
	}
	if uint64(n) > limit {
		return decodedNar{}, false, nil
	}
	copy(d.hash[:], s.Sum(nil))
	d.size = uint64(n)
	return d, true, nil
}
