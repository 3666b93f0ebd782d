// Package narinfo parses, validates and writes narinfo files, the per-path
// metadata of a Nix binary cache (<hash>.narinfo).
//
// Parse is lenient the way Nix is (unknown keys, a missing Compression, any
// hash encoding) and allocates little: one copy of the input, which the
// fields share, plus the References and Sigs slices. Validate is strict and
// its errors name the offending field, so a server can return them as they
// are. String writes fields in the order Nix does.
package narinfo

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/nix/storepath"
)

// MaxSize bounds the narinfo files Parse accepts. Real narinfos are
// a few hundred bytes; the largest carry thousands of References (a TeX Live
// combined package references ~4,000 paths of ~80 bytes each, ~320 KiB), so
// 1 MiB leaves headroom while bounding what an upload can make us hold.
const MaxSize = 1 << 20

// NarInfo is the content of a narinfo file. Hash fields hold "sha256:<nix32>"
// after Parse whenever the input was a SHA-256 hash in any encoding Nix
// accepts; other values are kept as they were, for Validate to report.
type NarInfo struct {
	StorePath   string   // absolute store path
	URL         string   // NAR file, relative to the cache root
	Compression string   // "bzip2" when the file had no Compression field
	FileHash    string   // hash of the NAR file; "" when absent (newer Nix may omit it)
	FileSize    uint64   // size of the NAR file; 0 when absent
	NarHash     string   // hash of the uncompressed NAR
	NarSize     uint64   // size of the uncompressed NAR
	References  []string // base names (<hash>-<name>), in file order; nil when none
	Deriver     string   // base name of the deriver; "" for none or "unknown-deriver"
	System      string   // written by old Nix only
	Sigs        []string // "keyname:base64" signatures, in file order
	CA          string   // content address, for example "fixed:r:sha256:<nix32>"
	Extra       []Field  // fields Parse did not know, in file order
}

// Field is a key and value that Parse did not recognise. Keeping them lets a
// server re-sign and rewrite a narinfo from a newer Nix without losing them.
type Field struct {
	Key, Value string
}

// Error is a parse or validation error. Its text, "narinfo: FIELD: problem",
// is meant for users (an HTTP 400 body).
type Error struct {
	Field string // "" when the problem is not in one field
	Line  int    // 1-based line of a syntax error; 0 otherwise
	Err   error
}

// maxErrText bounds what an Error repeats of the narinfo: a field may be
// up to MaxSize long, and the error goes back to whoever sent it.
const maxErrText = 200

func (e *Error) Error() string {
	msg := bounded(e.Err.Error(), 2*maxErrText)
	switch {
	case e.Field != "":
		return "narinfo: " + bounded(e.Field, 60) + ": " + msg
	case e.Line > 0:
		return "narinfo: line " + strconv.Itoa(e.Line) + ": " + msg
	default:
		return "narinfo: " + msg
	}
}

// bounded cuts s to at most n bytes, on a rune boundary, marking the cut.
func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

func (e *Error) Unwrap() error { return e.Err }

func fieldErr(field string, format string, args ...any) error {
	return &Error{Field: field, Err: fmt.Errorf(format, args...)}
}

// Field keys, in the order Nix writes them.
const (
	keyStorePath   = "StorePath"
	keyURL         = "URL"
	keyCompression = "Compression"
	keyFileHash    = "FileHash"
	keyFileSize    = "FileSize"
	keyNarHash     = "NarHash"
	keyNarSize     = "NarSize"
	keyReferences  = "References"
	keyDeriver     = "Deriver"
	keySystem      = "System"
	keySig         = "Sig"
	keyCA          = "CA"
)

// Parse parses a narinfo file. It accepts "Key: value" lines in any order,
// with or without a final newline, "\r\n" line ends and blank lines; it
// ignores unknown keys (keeping them in Extra when they look like keys), sets
// Compression to "bzip2" when it is missing, maps Deriver "unknown-deriver"
// to "", and converts hashes to "sha256:<nix32>". It rejects lines without a
// colon, repeated fields other than Sig, and sizes that are not numbers.
// Parse does not check that fields are present or well-formed: call Validate
// before trusting the result.
func Parse(data []byte) (*NarInfo, error) {
	if len(data) > MaxSize {
		return nil, &Error{Err: fmt.Errorf("larger than %d bytes", MaxSize)}
	}
	s := string(data)
	n := &NarInfo{}
	var seen uint16
	haveCompression := false
	for lineNo := 1; s != ""; lineNo++ {
		var line string
		line, s, _ = strings.Cut(s, "\n")
		if strings.TrimSpace(line) == "" {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, &Error{Line: lineNo, Err: fmt.Errorf("no colon in %.40q", line)}
		}
		value = strings.TrimSpace(value)
		bit := uint16(0)
		switch key {
		case keyStorePath:
			bit, n.StorePath = 1<<0, value
		case keyURL:
			bit, n.URL = 1<<1, value
		case keyCompression:
			bit, n.Compression, haveCompression = 1<<2, value, true
		case keyFileHash:
			bit, n.FileHash = 1<<3, normalizeHash(value)
		case keyFileSize:
			bit = 1 << 4
			size, err := strconv.ParseUint(value, 10, 64)
			if err != nil {
				return nil, fieldErr(key, "not a number: %.40q", value)
			}
			n.FileSize = size
		case keyNarHash:
			bit, n.NarHash = 1<<5, normalizeHash(value)
		case keyNarSize:
			bit = 1 << 6
			size, err := strconv.ParseUint(value, 10, 64)
			if err != nil {
				return nil, fieldErr(key, "not a number: %.40q", value)
			}
			n.NarSize = size
		case keyReferences:
			bit, n.References = 1<<7, fields(value)
		case keyDeriver:
			bit = 1 << 8
			if value != "unknown-deriver" {
				n.Deriver = value
			}
		case keySystem:
			bit, n.System = 1<<9, value
		case keyCA:
			bit, n.CA = 1<<10, value
		case keySig:
			n.Sigs = append(n.Sigs, value)
		default:
			if isKey(key) {
				n.Extra = append(n.Extra, Field{Key: key, Value: value})
			}
		}
		if seen&bit != 0 {
			return nil, fieldErr(key, "repeated")
		}
		seen |= bit
	}
	if !haveCompression || n.Compression == "" {
		n.Compression = "bzip2"
	}
	return n, nil
}

// normalizeHash returns s as "sha256:<nix32>" if it is a SHA-256 hash in any
// encoding Nix accepts, and s unchanged otherwise.
func normalizeHash(s string) string {
	if nixhash.IsCanonical(s) {
		return s
	}
	h, err := nixhash.ParseSHA256(s)
	if err != nil {
		return s
	}
	return h.String()
}

// fields splits References on spaces without allocating for the common empty
// case; it returns nil when there are no references.
func fields(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}

// isKey reports whether an unknown key is worth keeping: a non-empty run of
// letters, digits, '-' and '_'.
func isKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// String returns the narinfo in Nix's format: fields in the order Nix writes
// them, FileHash and FileSize omitted when absent, References present even
// when empty ("References: " with its trailing space, as Nix writes it), and
// unknown fields last.
func (n *NarInfo) String() string {
	var b strings.Builder
	size := 200 + len(n.StorePath) + len(n.URL) + len(n.Deriver) + len(n.System) + len(n.CA)
	for _, r := range n.References {
		size += len(r) + 1
	}
	for _, s := range n.Sigs {
		size += len(s) + 6
	}
	b.Grow(size)
	line := func(key, value string) {
		b.WriteString(key)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteByte('\n')
	}
	line(keyStorePath, n.StorePath)
	line(keyURL, n.URL)
	line(keyCompression, n.Compression)
	if n.FileHash != "" {
		line(keyFileHash, n.FileHash)
	}
	if n.FileSize != 0 {
		line(keyFileSize, strconv.FormatUint(n.FileSize, 10))
	}
	line(keyNarHash, n.NarHash)
	line(keyNarSize, strconv.FormatUint(n.NarSize, 10))
	b.WriteString("References: ")
	for i, r := range n.References {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(r)
	}
	b.WriteByte('\n')
	if n.Deriver != "" {
		line(keyDeriver, n.Deriver)
	}
	if n.System != "" {
		line(keySystem, n.System)
	}
	for _, s := range n.Sigs {
		line(keySig, s)
	}
	if n.CA != "" {
		line(keyCA, n.CA)
	}
	for _, f := range n.Extra {
		line(f.Key, f.Value)
	}
	return b.String()
}

// Validate checks every field strictly: the required ones (StorePath, URL,
// Compression, NarHash, NarSize) are present, store paths and base names are
// valid, hashes are "sha256:<nix32>", signatures are "name:base64" of an
// Ed25519 signature, and no value could break the line format. It returns an
// *Error naming the first bad field, for example
// "narinfo: NarHash: not a sha256 hash".
func (n *NarInfo) Validate() error {
	if n.StorePath == "" {
		return fieldErr(keyStorePath, "missing")
	}
	if _, err := storepath.Parse(n.StorePath); err != nil {
		return &Error{Field: keyStorePath, Err: err}
	}
	if n.URL == "" {
		return fieldErr(keyURL, "missing")
	}
	if i := strings.IndexFunc(n.URL, func(r rune) bool { return r <= ' ' || r == 0x7f }); i >= 0 {
		return fieldErr(keyURL, "contains %q", n.URL[i])
	}
	if n.Compression == "" {
		return fieldErr(keyCompression, "missing")
	}
	for i := 0; i < len(n.Compression); i++ {
		if c := n.Compression[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fieldErr(keyCompression, "%.40q is not a compression method", n.Compression)
		}
	}
	if n.FileHash != "" {
		if err := validateHash(n.FileHash); err != nil {
			return &Error{Field: keyFileHash, Err: err}
		}
	}
	if n.NarHash == "" {
		return fieldErr(keyNarHash, "missing")
	}
	if err := validateHash(n.NarHash); err != nil {
		return &Error{Field: keyNarHash, Err: err}
	}
	if n.NarSize == 0 {
		return fieldErr(keyNarSize, "missing or zero")
	}
	seen := make(map[string]struct{}, len(n.References))
	for _, r := range n.References {
		if _, err := storepath.ParseBase(r); err != nil {
			return &Error{Field: keyReferences, Err: err}
		}
		if _, dup := seen[r]; dup {
			return fieldErr(keyReferences, "%s is listed twice", r)
		}
		seen[r] = struct{}{}
	}
	if n.Deriver != "" {
		if _, err := storepath.ParseBase(n.Deriver); err != nil {
			return &Error{Field: keyDeriver, Err: err}
		}
	}
	if hasControl(n.System) {
		return fieldErr(keySystem, "contains a control character")
	}
	for _, s := range n.Sigs {
		if _, err := signature.ParseSignature(s); err != nil {
			return &Error{Field: keySig, Err: err}
		}
	}
	if n.CA != "" {
		if !strings.HasPrefix(n.CA, "fixed:") && !strings.HasPrefix(n.CA, "text:") {
			return fieldErr(keyCA, "%.60q is not a fixed: or text: content address", n.CA)
		}
		if hasControl(n.CA) || strings.ContainsRune(n.CA, ' ') {
			return fieldErr(keyCA, "contains white space or a control character")
		}
	}
	for _, f := range n.Extra {
		if !isKey(f.Key) {
			return fieldErr(f.Key, "not a valid field name")
		}
		if hasControl(f.Value) {
			return fieldErr(f.Key, "contains a control character")
		}
	}
	return nil
}

func validateHash(s string) error {
	if nixhash.IsCanonical(s) {
		return nil
	}
	if _, err := nixhash.ParseSHA256(s); err != nil {
		return err
	}
	return errors.New("not in sha256:<nix32> form")
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}
