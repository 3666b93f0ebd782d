package narinfo

import (
	"crypto/sha256"
	"slices"
	"strings"

	"github.com/nixbucket/nixbucket/internal/nix/nixbase32"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/storepath"
)

// CAPathMatches reports whether the narinfo's StorePath is the one its CA
// (content address) and References make, as Nix computes it
// (makeFixedOutputPath, makeTextPath). Nix takes such a path as valid
// without any signature (a content-addressed path vouches for itself:
// the client checks the content against the address when it adds the
// path), so an upstream that serves it unsigned is right to. Only sha256
// addresses are known here; any other reports false.
func (n *NarInfo) CAPathMatches() bool {
	sp, err := storepath.Parse(n.StorePath)
	if err != nil || n.CA == "" {
		return false
	}
	dir := n.StorePath[:strings.LastIndexByte(n.StorePath, '/')]
	name := strings.TrimPrefix(n.StorePath, dir+"/"+sp.Hash()+"-")
	var refs []string
	self := false
	for _, r := range n.References {
		if dir+"/"+r == n.StorePath {
			self = true
			continue
		}
		refs = append(refs, dir+"/"+r)
	}
	slices.Sort(refs)
	var want string
	switch {
	case strings.HasPrefix(n.CA, "text:"):
		h, err := nixhash.ParseSHA256(n.CA[len("text:"):])
		if err != nil || self {
			return false
		}
		want = makeStorePath(makeType("text", refs, false), h, dir, name)
	case strings.HasPrefix(n.CA, "fixed:r:"):
		h, err := nixhash.ParseSHA256(n.CA[len("fixed:r:"):])
		if err != nil {
			return false
		}
		want = makeStorePath(makeType("source", refs, self), h, dir, name)
	case strings.HasPrefix(n.CA, "fixed:"):
		h, err := nixhash.ParseSHA256(n.CA[len("fixed:"):])
		if err != nil || len(refs) > 0 || self {
			return false
		}
		inner := nixhash.SHA256(sha256.Sum256([]byte("fixed:out:" + h.Hex() + ":")))
		want = makeStorePath("output:out", inner, dir, name)
	default:
		return false
	}
	return want == n.StorePath
}

// makeType is Nix's makeType: the type of a store path with references.
func makeType(typ string, refs []string, self bool) string {
	for _, r := range refs {
		typ += ":" + r
	}
	if self {
		typ += ":self"
	}
	return typ
}

// makeStorePath is Nix's makeStorePath: the path of name whose content
// of the given type hashes to h.
func makeStorePath(typ string, h nixhash.SHA256, dir, name string) string {
	s := sha256.Sum256([]byte(typ + ":" + h.Hex() + ":" + dir + ":" + name))
	var c [20]byte
	for i, b := range s {
		c[i%len(c)] ^= b
	}
	return dir + "/" + nixbase32.EncodeToString(c[:]) + "-" + name
}
