package policy

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// globRegexp is the reference meaning of a wildcard pattern.
func globRegexp(p string, fold bool) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^(?s)")
	if fold {
		b.WriteString("(?i)")
	}
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func checkGlob(t *testing.T, pat, s string) {
	t.Helper()
	p, err := compilePattern(pat, compileOptions{wildcards: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.match(s, nil, false), globRegexp(pat, false).MatchString(s); got != want {
		t.Errorf("match(%q, %q) = %v, want %v", pat, s, got, want)
	}
	if isASCII(pat) && isASCII(s) {
		if got, want := p.match(s, nil, true), globRegexp(pat, true).MatchString(s); got != want {
			t.Errorf("fold match(%q, %q) = %v, want %v", pat, s, got, want)
		}
	}
}

func TestGlob(t *testing.T) {
	pats := []string{"", "*", "**", "?", "a", "a*", "*a", "a*b", "a?c", "*a*b*", "?*?", "a**b",
		"arn:aws:s3:::b/*", "arn:aws:s3:::b/*/x?.nar*", "*.narinfo", "s3:Get*", "x*y*z", "é?"}
	strs := []string{"", "a", "b", "ab", "abc", "aXb", "aabb", "xyz", "xyyzz", "ABC", "é", "éé", "éx",
		"arn:aws:s3:::b/", "arn:aws:s3:::b/k/x1.nar.xz", "arn:aws:s3:::b/k/x12.nar", "h.narinfo",
		"s3:GetObject", "S3:getobject", "\xff", "a\xffb"}
	for _, p := range pats {
		for _, s := range strs {
			checkGlob(t, p, s)
		}
	}
}

// FuzzGlob compares the matcher with a regular expression of the same
// meaning.
func FuzzGlob(f *testing.F) {
	f.Add("a*b?c", "aXXbYc")
	f.Add("*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	f.Add("arn:aws:s3:::b/*", "arn:aws:s3:::b/k")
	f.Fuzz(func(t *testing.T, pat, s string) {
		// Policies come from JSON, so always valid UTF-8; the regexp
		// reference reads invalid bytes differently.
		if len(pat) > 64 || len(s) > 256 || !utf8.ValidString(pat) || !utf8.ValidString(s) {
			return
		}
		checkGlob(t, pat, s)
	})
}

func TestPatternShapes(t *testing.T) {
	for raw, want := range map[string]shape{
		"*": shapeAny, "**": shapeAny, "s3:GetObject": shapeExact, "arn:aws:s3:::b/*": shapePrefix,
		"a*b": shapeGlob, "a?": shapeGlob, "": shapeExact,
	} {
		p, err := compilePattern(raw, compileOptions{wildcards: true})
		if err != nil || p.shape != want {
			t.Errorf("compilePattern(%q) shape %v, err %v; want %v", raw, p.shape, err, want)
		}
	}
}

func TestVariables(t *testing.T) {
	r := &Request{Principal: User("000000000000", "o'brien")}
	o := compileOptions{wildcards: true, variables: true}
	cases := []struct {
		pat, s string
		want   bool
	}{
		{"home/${aws:username}/*", "home/o'brien/x", true},
		{"home/${AWS:UserName}/*", "home/o'brien/x", true},
		{"home/${aws:username}/*", "home/other/x", false},
		{"${aws:username}*", "o'brien", true},
		{"*${aws:username}", "xx-o'brien", true},
		{"${*}${?}${$}", "*?$", true},
		{"${*}", "x", false},
		{"${aws:UserAgent, 'none'}", "none", true},
		{"${aws:UserAgent, 'it''s'}", "it's", true},
		{"${aws:username, 'guest'}", "o'brien", true},
		{"${aws:SourceVpce}", "", false}, // never supplied, no default: matches nothing
		{"$x{y}", "$x{y}", true},
	}
	for _, tc := range cases {
		p, err := compilePattern(tc.pat, o)
		if err != nil {
			t.Errorf("%q: %v", tc.pat, err)
			continue
		}
		if got := p.match(tc.s, r, false); got != tc.want {
			t.Errorf("%q against %q = %v, want %v", tc.pat, tc.s, got, tc.want)
		}
	}
	// Without variables (Version 2008-10-17) the text is literal.
	p, _ := compilePattern("a/${aws:username}", compileOptions{wildcards: true})
	if !p.match("a/${aws:username}", r, false) || p.match("a/o'brien", r, false) {
		t.Error("variables expanded without Version 2012-10-17")
	}
	for _, bad := range []string{"${aws:username", "${aws:username, 'x}", "${aws:username, 'a'b'}", "${}"} {
		if _, err := compilePattern(bad, o); err == nil {
			t.Errorf("compilePattern(%q) accepted", bad)
		}
	}
}
