package objects

import "testing"

func TestETagIn(t *testing.T) {
	const etag = "0cc175b9c0f1b6a831c399e269772661"
	for _, c := range []struct {
		header       string
		strong, weak bool
	}{
		{`"` + etag + `"`, true, true},
		{etag, true, true},
		{`*`, true, true},
		{`"other", "` + etag + `"`, true, true},
		{` "other" ,` + etag + ` `, true, true},
		{`W/"` + etag + `"`, false, true}, // If-Match compares strongly
		{`W/"other", W/"` + etag + `"`, false, true},
		{`W/"other", "` + etag + `"`, true, true},
		{`"other"`, false, false},
		{`W/"other"`, false, false},
		{``, false, false},
		{`"` + etag + `-2"`, false, false},
	} {
		if got := ETagIn(c.header, etag, true); got != c.strong {
			t.Errorf("ETagIn(%q, strong) = %v, want %v", c.header, got, c.strong)
		}
		if got := ETagIn(c.header, etag, false); got != c.weak {
			t.Errorf("ETagIn(%q, weak) = %v, want %v", c.header, got, c.weak)
		}
	}
}
