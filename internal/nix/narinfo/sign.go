package narinfo

import (
	"slices"
	"strconv"
	"strings"

	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// Fingerprint returns the string Nix signs for this path:
//
//	1;<store path>;<NarHash>;<NarSize>;<reference paths, sorted, comma-joined>
//
// References are made absolute with the store directory of StorePath and
// sorted and deduplicated as Nix does, whatever their order in the file. The
// result is only meaningful for a narinfo that passes Validate.
func (n *NarInfo) Fingerprint() string {
	dir := n.StorePath[:max(strings.LastIndexByte(n.StorePath, '/'), 0)]
	refs := slices.Clone(n.References)
	slices.Sort(refs)
	refs = slices.Compact(refs)

	size := len(n.StorePath) + len(n.NarHash) + 32
	for _, r := range refs {
		size += len(dir) + len(r) + 2
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString("1;")
	b.WriteString(n.StorePath)
	b.WriteByte(';')
	b.WriteString(n.NarHash)
	b.WriteByte(';')
	b.WriteString(strconv.FormatUint(n.NarSize, 10))
	b.WriteByte(';')
	for i, r := range refs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(dir)
		b.WriteByte('/')
		b.WriteString(r)
	}
	return b.String()
}

// Sign adds k's signature of the fingerprint to Sigs, replacing any signature
// already there under the same key name (the key's owner speaks for its name).
func (n *NarInfo) Sign(k signature.SecretKey) {
	prefix := k.Name() + ":"
	sigs := make([]string, 0, len(n.Sigs)+1) // a new slice: n.Sigs may be shared with a copy
	for _, s := range n.Sigs {
		if !strings.HasPrefix(s, prefix) {
			sigs = append(sigs, s)
		}
	}
	n.Sigs = append(sigs, k.Sign(n.Fingerprint()))
}

// SignBeside adds k's signature of the fingerprint to Sigs and keeps every
// signature already there, even one under the same key name: a
// pull-through bucket signing an upstream's narinfo must not drop the
// upstream's signature when the two name their keys alike (two nixbucket
// servers with a bucket of the same name do). Nix looks a signature's key
// up by its name, so a client that trusts either key finds its signature.
// The same signature is not added twice.
func (n *NarInfo) SignBeside(k signature.SecretKey) {
	sig := k.Sign(n.Fingerprint())
	if slices.Contains(n.Sigs, sig) {
		return
	}
	n.Sigs = append(slices.Clip(n.Sigs), sig) // n.Sigs may be shared with a copy
}

// Verify reports whether one of Sigs is a valid signature by one of keys,
// the test Nix applies with require-sigs.
func (n *NarInfo) Verify(keys ...signature.PublicKey) bool {
	return signature.VerifyAny(keys, n.Fingerprint(), n.Sigs)
}
