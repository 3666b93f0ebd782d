package proxy

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseRange feeds any Range header, which a client of the proxy
// sends and the proxy passes on to its upstreams. A range taken must be
// the one the header names: from its first byte, to its last (which is
// not before the first) or to the end, and the header the proxy sends on
// for it must read back as the same range.
func FuzzParseRange(f *testing.F) {
	for _, h := range []string{
		"bytes=0-", "bytes=100-199", "bytes=5-5", "bytes=-500", "bytes=0-1,5-6", "bytes= 1-2 ",
		"bytes=9-3", "bytes=0-9223372036854775807", "bytes=9223372036854775807-", "bytes=+1-+2",
		"bytes=1-2-3", "items=0-1", "", "bytes=-", "bytes=00000000000000000000001-2",
	} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		rng, ok := parseRange(h)
		if !ok {
			if rng != nil {
				t.Fatalf("%q refused with a range %+v", h, rng)
			}
			return
		}
		if rng.Offset < 0 {
			t.Fatalf("%q: offset %d", h, rng.Offset)
		}
		spec := strings.TrimSpace(strings.TrimPrefix(h, "bytes="))
		first, last, _ := strings.Cut(spec, "-")
		if n, err := strconv.ParseInt(first, 10, 64); err != nil || n != rng.Offset {
			t.Fatalf("%q: offset %d, not the first byte %q", h, rng.Offset, first)
		}
		if rng.Length >= 0 {
			end, err := strconv.ParseInt(last, 10, 64)
			if err != nil || rng.Length == 0 || rng.Offset+rng.Length-1 != end {
				t.Fatalf("%q: %d bytes from %d, not to the last byte %q", h, rng.Length, rng.Offset, last)
			}
		}
		again, ok := parseRange(rng.String())
		if !ok || again.Offset != rng.Offset || (again.Length < 0) != (rng.Length < 0) || rng.Length >= 0 && again.Length != rng.Length {
			t.Fatalf("%q: sent on as %q, which reads back as %+v (%v), not %+v", h, rng.String(), again, ok, *rng)
		}
	})
}
