package postgres

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestTextCeil checks textCeil and prefixEnd against byte order on keys
// around every boundary of UTF-8: for each bound b, a key is at least b
// exactly when it is at least textCeil(b) (NULL: never), and has prefix b
// exactly when it lies in [textCeil(b), prefixEnd(b)) (NULL: no end); and
// what is passed to PostgreSQL is always text it holds.
func TestTextCeil(t *testing.T) {
	var runes []rune
	for _, r := range []rune{1, 'a', 'b', 0x7f, 0x80, 0xbf, 0xff, 0x100, 0x7ff, 0x800, 0xfff, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x3ffff, 0x40000, utf8.MaxRune} {
		runes = append(runes, r)
	}
	keys := []string{"a"}
	for _, r := range runes {
		for _, r2 := range []rune{0, 1, 'a', 0xbf, 0x800, utf8.MaxRune} {
			k := "a" + string(r)
			if r2 != 0 {
				k += string(r2)
			}
			keys = append(keys, k, string(r), string(r)+"a")
		}
	}
	bounds := []string{"", "a", "a\x00", "a\x00\xff", "\x00", "\xff", "a\xff", "a\xff\xff", "\xff\xff", "a/\xff",
		"\xc3", "a\xc3", "a\xc3\xc0", "\xc2\x7f", "a\xc0\x80", "\xe0\x80", "\xe0\xa0", "a\xed\xa0\x80", "\xed\x9f\xc0",
		"\xef\xbf\xbf\xff", "\xf0\x8f", "\xf4\x8f\xbf\xbf\xff", "\xf4\x8f\xbf\xc0", "a\xf4\x90\x80\x80", "\xf5", "a\x80", "\xbf\xbf",
		"a\U0010FFFF", "\U0010FFFF", "\U0010FFFF\xff", "a\ufffd", "a\xef\xbf\xbd\xff"}
	for _, r := range runes {
		e := string(r)
		bounds = append(bounds, e, "a"+e, e[:len(e)-1], "a"+e[:len(e)-1], e+"\xff")
	}
	text := func(what, b string, v any) string {
		t.Helper()
		s, ok := v.(string)
		if ok && (!utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0) {
			t.Fatalf("%s(%q) = %q, not text", what, b, s)
		}
		return s
	}
	for _, b := range bounds {
		ceil, end := textCeil(b), prefixEnd(b)
		c, e := text("textCeil", b, ceil), text("prefixEnd", b, end)
		for _, k := range keys {
			if want, got := k >= b, ceil != nil && k >= c; got != want {
				t.Errorf("key %q >= %q is %v, but >= textCeil %q is %v", k, b, want, c, got)
			}
			want := strings.HasPrefix(k, b)
			got := ceil != nil && k >= c && (end == nil || k < e)
			if got != want {
				t.Errorf("key %q has prefix %q: %v, but in [%q, %q) (nil: %v %v): %v", k, b, want, c, e, ceil == nil, end == nil, got)
			}
		}
	}
}
