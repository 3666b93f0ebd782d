// Package binarycache is the Nix binary-cache protocol, which makes every
// bucket a Nix binary cache: it checks, signs and indexes narinfos
// whichever protocol uploads them, and knows what the protocol serves
// (nix-cache-info, content types, encodings).
package binarycache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/codec"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixbase32"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/nix/storepath"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// Keys gives a bucket's signing keys.
type Keys interface {
	SigningKeys(ctx context.Context, bucket string) ([]meta.SigningKey, error)
}

// Hook is the objects.Hook of the binary cache: it accepts a narinfo only
// if it parses, names the store path its key does, and points at a NAR
// object of the stated size and hash; then it signs it with the bucket's
// keys and returns its index record.
type Hook struct {
	Objects *objects.Service
	Keys    Keys
	Log     *slog.Logger // nil means slog.Default()
}

// annotate keeps what was computed about a NAR with it. A failure (a full
// disk, a busy store) costs only a second computation later, so it is
// logged and the narinfo goes on.
func (h *Hook) annotate(ctx context.Context, obj meta.Object, sha256 []byte, notes map[string]string) {
	if err := h.Objects.Annotate(ctx, obj, sha256, notes); err != nil {
		log := h.Log
		if log == nil {
			log = slog.Default()
		}
		log.Warn("recording what was computed about a NAR", "bucket", obj.Bucket, "key", obj.Key, "err", err)
	}
}

var _ objects.Hook = (*Hook)(nil)

// IsNarinfoKey reports whether key is "<store path hash>.narinfo".
func IsNarinfoKey(key string) bool {
	h, ok := strings.CutSuffix(key, ".narinfo")
	return ok && len(h) == storepath.HashLen && nixbase32.ValidateString(h) == nil
}

// Wants reports whether key is a narinfo.
func (h *Hook) Wants(bucket, key string) bool { return IsNarinfoKey(key) }

// Rejection is a refused narinfo; its message says which field is wrong.
type Rejection struct{ Msg string }

func (r *Rejection) Error() string { return r.Msg }
func (r *Rejection) Unwrap() error { return objects.ErrRejected }

func reject(format string, args ...any) error {
	return &Rejection{Msg: fmt.Sprintf(format, args...)}
}

// Put checks, signs and indexes a narinfo.
func (h *Hook) Put(ctx context.Context, in objects.HookInput) (objects.HookOutput, error) {
	enc := strings.TrimSpace(in.Headers.ContentEncoding)
	text, err := decode(enc, in.Body, narinfo.MaxSize)
	if err != nil {
		return objects.HookOutput{}, reject("narinfo: %v", err)
	}
	ni, err := narinfo.Parse(text)
	if err == nil {
		err = ni.Validate()
	}
	if err != nil {
		return objects.HookOutput{}, reject("%v", err)
	}
	sp, err := storepath.Parse(ni.StorePath)
	if err != nil {
		return objects.HookOutput{}, reject("narinfo: StorePath: %v", err)
	}
	if want := strings.TrimSuffix(in.Key, ".narinfo"); sp.Hash() != want {
		return objects.HookOutput{}, reject("narinfo: StorePath: %s does not match the key %s (hash %s)", ni.StorePath, in.Key, want)
	}
	nar, err := h.checkFile(ctx, in, ni)
	if err != nil {
		return objects.HookOutput{}, err
	}
	checked, err := h.checkNar(ctx, in, nar, ni)
	if err != nil {
		return objects.HookOutput{}, err
	}
	keys, err := h.Keys.SigningKeys(ctx, in.Bucket)
	if err != nil {
		return objects.HookOutput{}, err
	}
	if !checked && len(keys) > 0 {
		// Signed means checked: a NAR this server cannot decode is
		// stored with the uploader's signatures only.
		keys = nil
	}
	for _, k := range keys {
		sk, err := signature.ParseSecretKey(k.Secret)
		if err != nil {
			return objects.HookOutput{}, fmt.Errorf("bucket %s signing key %s: %w", in.Bucket, k.Name, err)
		}
		ni.Sign(sk)
	}
	out := objects.HookOutput{Headers: in.Headers, Body: []byte(ni.String())}
	if out.Headers.ContentType == "" {
		out.Headers.ContentType = "text/x-nix-narinfo"
	}
	if servable(enc) {
		if out.Body, err = codec.Encode(enc, out.Body); err != nil {
			return objects.HookOutput{}, err
		}
	} else {
		out.Headers.ContentEncoding = "" // stored decoded: xz and bzip2 are not served
	}
	out.Narinfo = record(in.Bucket, sp.Hash(), ni)
	out.Narinfo.NARChecked = true // checkFile found it: the commit must too (meta.GuardedNAR)
	return out, nil
}

// checkFile checks that the NAR file the narinfo names exists with the
// stated size and hash, and returns its record. Missing FileSize or
// FileHash (newer Nix may leave them out) are filled in from the file,
// which helps older readers. A writer who may not read the file learns
// nothing of it: it must state both, and a refusal names neither the
// file's size nor its hash, nor whether it exists.
func (h *Hook) checkFile(ctx context.Context, in objects.HookInput, ni *narinfo.NarInfo) (meta.Object, error) {
	if ni.URL == "" || strings.HasPrefix(ni.URL, "/") || strings.Contains(ni.URL, "://") || strings.Contains(ni.URL, "..") {
		return meta.Object{}, reject("narinfo: URL: %.200q is not a key in this cache", ni.URL)
	}
	mayRead := in.MayRead != nil && in.MayRead(ni.URL)
	hidden := func() error {
		return reject("narinfo: URL: %.300s is not a NAR file of the stated FileSize and FileHash that you may read; upload the NAR first", ni.URL)
	}
	if !mayRead && (ni.FileSize == 0 || ni.FileHash == "") {
		return meta.Object{}, hidden()
	}
	obj, err := h.Objects.Head(ctx, in.Bucket, ni.URL)
	if errors.Is(err, meta.ErrNoSuchKey) {
		if !mayRead {
			return meta.Object{}, hidden()
		}
		return meta.Object{}, reject("narinfo: URL: %.300s does not exist in the cache; upload the NAR first", ni.URL)
	}
	if err != nil {
		return meta.Object{}, err
	}
	if ni.FileSize == 0 {
		ni.FileSize = uint64(obj.Size)
	} else if ni.FileSize != uint64(obj.Size) {
		if !mayRead {
			return meta.Object{}, hidden()
		}
		return meta.Object{}, reject("narinfo: FileSize: %d, but %s has %d bytes", ni.FileSize, ni.URL, obj.Size)
	}
	sum := obj.SHA256
	if sum == nil {
		// A multipart upload has no whole-file hash: compute it once,
		// and keep it in the object's record.
		var read meta.Object
		if read, sum, err = h.hashObject(ctx, obj); err != nil {
			return meta.Object{}, err
		}
		if read.ETag != obj.ETag {
			return meta.Object{}, reject("narinfo: URL: %s was replaced while it was checked; upload the narinfo again", ni.URL)
		}
		h.annotate(ctx, obj, sum, nil)
		obj.SHA256 = sum
	}
	var got nixhash.SHA256
	copy(got[:], sum)
	if ni.FileHash == "" {
		ni.FileHash = got.String()
		return obj, nil
	}
	want, err := nixhash.ParseSHA256(ni.FileHash)
	if err != nil {
		return meta.Object{}, reject("narinfo: FileHash: %v", err)
	}
	if want != got {
		if !mayRead {
			return meta.Object{}, hidden()
		}
		return meta.Object{}, reject("narinfo: FileHash: %s, but %s hashes to %s", ni.FileHash, ni.URL, got.String())
	}
	return obj, nil
}

// hashObject reads the current version of obj and returns its record and
// its SHA-256.
func (h *Hook) hashObject(ctx context.Context, obj meta.Object) (meta.Object, []byte, error) {
	read, r, err := h.Objects.Get(ctx, obj.Bucket, obj.Key)
	if err != nil {
		return meta.Object{}, nil, err
	}
	defer r.Close()
	s := sha256.New()
	if _, err := io.Copy(s, r); err != nil {
		return meta.Object{}, nil, fmt.Errorf("hashing %s: %w", obj.Key, err)
	}
	return read, s.Sum(nil), nil
}

func record(bucket, hash string, ni *narinfo.NarInfo) *meta.Narinfo {
	return &meta.Narinfo{
		Bucket: bucket, Hash: hash, StorePath: ni.StorePath, URL: ni.URL, Compression: ni.Compression,
		FileHash: ni.FileHash, FileSize: int64(ni.FileSize), NarHash: ni.NarHash, NarSize: int64(ni.NarSize),
		References: ni.References, Deriver: ni.Deriver, Sigs: ni.Sigs, CA: ni.CA, Created: time.Now().UTC(),
	}
}

// Info is the nix-cache-info a bucket serves unless it holds an uploaded one.
func Info(s meta.CacheSettings) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "StoreDir: %s\n", storepath.DefaultDir)
	mq := 0
	if s.WantMassQuery {
		mq = 1
	}
	fmt.Fprintf(&b, "WantMassQuery: %d\nPriority: %d\n", mq, s.Priority)
	return b.Bytes()
}
