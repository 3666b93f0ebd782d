// Package cacheaux reads the objects Nix writes into a binary cache beside
// narinfos, NARs, listings and logs that point at one of them: the
// debug-info index (index-debug-info=true writes debuginfo/<build id>.debug,
// {"archive": "../nar/….nar.xz", "member": "lib/debug/.build-id/…"}, one
// per ELF debug file of a path, naming the NAR that holds it) and CA
// realisations (realisations/<drv hash>!<output>.doi, and
// build-trace-v2/<drv>/<output>.doi for Nix ≥ 2.35, whose "outPath" names
// the store path an output was built as).
//
// Deleting a path (gc, path delete, verify --repair) must take these along,
// or the cache serves a pointer to a NAR or a path it no longer has; verify
// reports those that do. Their targets are in their bodies, not their keys,
// so each is read: they are small JSON documents.
package cacheaux

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/codec"
	"github.com/nixbucket/nixbucket/internal/nixgraph"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// Kind is a kind of pointing object.
type Kind int

// The kinds.
const (
	DebugInfo   Kind = iota + 1 // points at a NAR
	Realisation                 // points at a store path
)

func (k Kind) String() string {
	switch k {
	case DebugInfo:
		return "debuginfo"
	case Realisation:
		return "realisation"
	}
	return "unknown"
}

// Prefixes lists the key prefixes pointing objects live under, with their
// kinds, in key order.
var Prefixes = []struct {
	Prefix string
	Kind   Kind
}{
	{"build-trace-v2/", Realisation},
	{"debuginfo/", DebugInfo},
	{"realisations/", Realisation},
}

// KindOf returns the kind of key, 0 when it is no pointing object.
func KindOf(key string) Kind {
	for _, p := range Prefixes {
		if strings.HasPrefix(key, p.Prefix) {
			return p.Kind
		}
	}
	return 0
}

// Object is one pointing object and what it points at.
type Object struct {
	Key      string
	Kind     Kind
	Size     int64
	Modified time.Time
	// Target is the key of the NAR a debuginfo entry names, or the hash
	// of the store path a realisation names; "" when the body does not
	// say (Err tells why): such an object is left alone.
	Target string
	Err    error
}

// maxBody bounds what is read of one object: Nix's are a few hundred bytes.
const maxBody = 64 << 10

// Parse returns what a body of kind k points at: a NAR key ("nar/…") or a
// store path hash.
func Parse(k Kind, body []byte) (string, error) {
	switch k {
	case DebugInfo:
		var d struct {
			Archive string `json:"archive"`
		}
		if err := json.Unmarshal(body, &d); err != nil {
			return "", fmt.Errorf("debuginfo: %w", err)
		}
		// The archive is relative to debuginfo/: "../nar/x.nar.xz".
		nar := path.Join("debuginfo", d.Archive)
		if d.Archive == "" || !strings.HasPrefix(nar, "nar/") {
			return "", fmt.Errorf("debuginfo: archive %q is not a NAR of the cache", d.Archive)
		}
		return nar, nil
	case Realisation:
		var r struct {
			OutPath string `json:"outPath"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return "", fmt.Errorf("realisation: %w", err)
		}
		h := nixgraph.RefHash(r.OutPath)
		if len(h) != nixgraph.HashLen {
			return "", fmt.Errorf("realisation: outPath %q is not a store path", r.OutPath)
		}
		return h, nil
	}
	return "", fmt.Errorf("unknown kind %d", k)
}

// Lister pages through a bucket's objects (meta.Store).
type Lister interface {
	ScanObjects(ctx context.Context, q meta.ScanQuery) ([]meta.Object, error)
}

// Getter reads an object (objects.Service).
type Getter interface {
	Get(ctx context.Context, bucket, key string) (meta.Object, *objects.Reader, error)
}

// page is how many objects one scan reads.
const page = 1000

// Scan calls fn with each pointing object of bucket, in key order, its
// body read and parsed. An object deleted while the scan runs is skipped;
// one whose body does not parse comes with Err set.
func Scan(ctx context.Context, l Lister, g Getter, bucket string, fn func(Object) error) error {
	for _, p := range Prefixes {
		// Segments: their bodies are inline (a few hundred bytes), so the
		// scan brings them, and none is looked up on its own.
		q := meta.ScanQuery{Bucket: bucket, Prefix: p.Prefix, Limit: page, Segments: true}
		for {
			objs, err := l.ScanObjects(ctx, q)
			if err != nil {
				return fmt.Errorf("listing %s/%s: %w", bucket, p.Prefix, err)
			}
			for _, o := range objs {
				ob, err := read(ctx, g, bucket, o, p.Kind)
				if errors.Is(err, meta.ErrNoSuchKey) {
					continue
				}
				if err != nil {
					return err
				}
				if err := fn(ob); err != nil {
					return err
				}
			}
			if len(objs) < page {
				break
			}
			q.After = objs[len(objs)-1].Key
		}
	}
	return nil
}

// Read reads and parses o, a pointing object of bucket as a scan of the
// bucket's objects lists it: meta.ErrNoSuchKey when it is gone.
func Read(ctx context.Context, g Getter, bucket string, o meta.Object) (Object, error) {
	k := KindOf(o.Key)
	if k == 0 {
		return Object{}, fmt.Errorf("%s is no debuginfo entry or realisation", o.Key)
	}
	return read(ctx, g, bucket, o, k)
}

func read(ctx context.Context, g Getter, bucket string, o meta.Object, k Kind) (Object, error) {
	ob := Object{Key: o.Key, Kind: k, Size: o.Size, Modified: o.Modified}
	if o.Size > maxBody {
		ob.Err = fmt.Errorf("%s: %d bytes, more than a %s entry holds", o.Key, o.Size, k)
		return ob, nil
	}
	body, ok := inlineBody(o)
	if !ok {
		var rd *objects.Reader
		var err error
		if o, rd, err = g.Get(ctx, bucket, o.Key); err != nil {
			return ob, err
		}
		defer rd.Close()
		if body, err = io.ReadAll(io.LimitReader(rd, maxBody)); err != nil {
			return ob, fmt.Errorf("reading %s/%s: %w", bucket, o.Key, err)
		}
	}
	ob.Size, ob.Modified = o.Size, o.Modified
	// A client may have uploaded it compressed, as it may a listing.
	var err error
	if body, err = codec.Bytes(o.Headers.ContentEncoding, body, maxBody); err != nil {
		ob.Err = fmt.Errorf("%s: Content-Encoding %q: %w", o.Key, o.Headers.ContentEncoding, err)
		return ob, nil
	}
	if ob.Target, err = Parse(k, body); err != nil {
		ob.Err = fmt.Errorf("%s: %w", o.Key, err)
	}
	return ob, nil
}

// inlineBody returns o's body when a scan with segments (ScanQuery.Segments)
// brought it whole, stored inline in the metadata; ok is false when it
// must be read.
func inlineBody(o meta.Object) (body []byte, ok bool) {
	if len(o.Segments) == 0 && o.Size > 0 {
		return nil, false
	}
	for _, seg := range o.Segments {
		if !seg.Inline() || int64(len(seg.Data)) != seg.Size {
			return nil, false
		}
		body = append(body, seg.Data...)
	}
	return body, int64(len(body)) == o.Size
}
