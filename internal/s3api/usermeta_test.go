package s3api

import "testing"

func TestUserMetaRFC2047(t *testing.T) {
	for _, c := range []struct{ sent, stored, served string }{
		{"plain", "plain", "plain"},
		{"tab\there", "tab\there", "tab\there"},
		{"héllo", "héllo", "=?UTF-8?B?aMOpbGxv?="},
		{"=?ISO-8859-1?Q?h=E9llo?=", "héllo", "=?UTF-8?B?aMOpbGxv?="},
		{"=?UTF-8?Q?a_b?=", "a b", "a b"},
		{"=?UTF-8?B?AQ==?=", "\x01", "=?UTF-8?B?AQ==?="},
		{"=?KOI8-R?B?78s=?=", "=?KOI8-R?B?78s=?=", "=?KOI8-R?B?78s=?="}, // a charset Go lacks: kept as sent
		{"=?broken", "=?broken", "=?broken"},
	} {
		stored := decodeUserMeta(c.sent)
		if stored != c.stored {
			t.Errorf("decodeUserMeta(%q) = %q, want %q", c.sent, stored, c.stored)
		}
		if served := encodeUserMeta(stored); served != c.served {
			t.Errorf("encodeUserMeta(%q) = %q, want %q", stored, served, c.served)
		}
	}
}
