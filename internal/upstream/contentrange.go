package upstream

import (
	"fmt"
	"strconv"
	"strings"
)

// checkContentRange checks the Content-Range of an upstream's 206 answer
// to rng ("bytes FIRST-LAST/TOTAL", TOTAL "*" when the upstream does not
// know it) and returns the file's total size, -1 when unknown. An answer
// for another range than the one asked for is an error, since its bytes,
// passed on, would answer the client's range with others: another first
// byte; another last byte, unless the file ends before the asked one and
// the known total says so; a last byte past the total, or (for a range to
// the end) not the total's last; or no Content-Range at all (a
// multipart/byteranges answer has none either).
func checkContentRange(cr string, rng Range) (int64, error) {
	bad := func(why string) (int64, error) {
		return 0, fmt.Errorf("answered the range %s with Content-Range %q: %s", rng, cr, why)
	}
	spec, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return bad("not a byte range")
	}
	span, totalText, ok := strings.Cut(spec, "/")
	firstText, lastText, ok2 := strings.Cut(span, "-")
	if !ok || !ok2 {
		return bad("not FIRST-LAST/TOTAL")
	}
	first, ok := decimal(firstText)
	last, ok2 := decimal(lastText)
	if !ok || !ok2 || last < first {
		return bad("not FIRST-LAST/TOTAL")
	}
	total := int64(-1)
	if totalText != "*" {
		if total, ok = decimal(totalText); !ok {
			return bad("not FIRST-LAST/TOTAL")
		}
		if last >= total {
			return bad("its last byte is past the file's end")
		}
	}
	if first != rng.Offset {
		return bad("another first byte")
	}
	switch {
	case rng.Length < 0:
		if total >= 0 && last != total-1 {
			return bad("it stops before the file's end")
		}
	case last > rng.Offset+rng.Length-1:
		return bad("another last byte")
	case last < rng.Offset+rng.Length-1 && (total < 0 || last != total-1):
		return bad("it stops short of the asked last byte, and the file does not end there")
	}
	return total, nil
}

// decimal parses a byte position: digits only (no sign, no spaces).
func decimal(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// String renders r as in a Range header: "bytes=FIRST-[LAST]".
func (r Range) String() string {
	s := "bytes=" + strconv.FormatInt(r.Offset, 10) + "-"
	if r.Length >= 0 {
		s += strconv.FormatInt(r.Offset+r.Length-1, 10)
	}
	return s
}
