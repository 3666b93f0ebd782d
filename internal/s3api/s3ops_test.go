package s3api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
)

func TestCopyRange(t *testing.T) {
	for _, tc := range []struct {
		in          string
		first, last int64
		ok          bool
	}{
		{"bytes=0-9", 0, 9, true},
		{"bytes=8388608-16777215", 8388608, 16777215, true},
		{" bytes=5-5 ", 5, 5, true},
		{"bytes=5-", 0, 0, false}, // both offsets are required
		{"bytes=-5", 0, 0, false},
		{"bytes=a-5", 0, 0, false},
		{"bytes=0-1,3-4", 0, 0, false},
		{"0-9", 0, 0, false},
		{"bytes=-1-5", 0, 0, false},
	} {
		first, last, err := copyRange(tc.in)
		if (err == nil) != tc.ok || tc.ok && (first != tc.first || last != tc.last) {
			t.Errorf("copyRange(%q) = %d, %d, %v; want %d, %d, ok %v", tc.in, first, last, err, tc.first, tc.last, tc.ok)
		}
	}
}

func TestValidTags(t *testing.T) {
	tag := func(k, v string) meta.Tag { return meta.Tag{Key: k, Value: v} }
	var ten []meta.Tag
	for i := range 10 {
		ten = append(ten, tag(string(rune('a'+i)), ""))
	}
	for _, tc := range []struct {
		name string
		tags []meta.Tag
		code string // "" for valid
	}{
		{"none", nil, ""},
		{"ten", ten, ""},
		{"eleven", append(ten[:10:10], tag("k", "v")), "BadRequest"},
		{"limits in characters", []meta.Tag{tag(strings.Repeat("ж", 128), strings.Repeat("ж", 256))}, ""},
		{"key too long", []meta.Tag{tag(strings.Repeat("k", 129), "")}, "InvalidTag"},
		{"value too long", []meta.Tag{tag("k", strings.Repeat("v", 257))}, "InvalidTag"},
		{"empty key", []meta.Tag{tag("", "v")}, "InvalidTag"},
		{"allowed punctuation", []meta.Tag{tag("a+-=._:/@ b", "c+-=._:/@ d")}, ""},
		{"bad key character", []meta.Tag{tag("a*b", "")}, "InvalidTag"},
		{"bad value character", []meta.Tag{tag("a", "<x>")}, "InvalidTag"},
		{"invalid UTF-8", []meta.Tag{tag("a", "\xff")}, "InvalidTag"},
		{"duplicate", []meta.Tag{tag("a", "1"), tag("a", "2")}, "InvalidTag"},
	} {
		err := validTags(tc.tags)
		got := ""
		if err != nil {
			got = toS3(err).Code
		}
		if got != tc.code {
			t.Errorf("%s: validTags = %v, want code %q", tc.name, err, tc.code)
		}
	}
}

func TestHeaderTags(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   string // tags as k=v|k=v, or the error code
	}{
		{"a=1&b=2", "a=1|b=2"},
		{"a=two%20words&b=&c", "a=two words|b=|c="},
		{"k%2Fslash=v%3Dequal", "k/slash=v=equal"},
		{"", ""},
		{"a=1&a=2", "InvalidArgument"},
		{"a=%zz", "InvalidArgument"},
		{"a=" + strings.Repeat("v", 257), "InvalidTag"},
	} {
		q := &request{Request: &http.Request{Header: http.Header{"X-Amz-Tagging": {tc.header}}}}
		tags, ok, err := headerTags(q)
		var got string
		if err != nil {
			got = toS3(err).Code
		} else {
			var s []string
			for _, t := range tags {
				s = append(s, t.Key+"="+t.Value)
			}
			got = strings.Join(s, "|")
		}
		if !ok || got != tc.want {
			t.Errorf("x-amz-tagging %q: %q (present %v), want %q", tc.header, got, ok, tc.want)
		}
	}
	q := &request{Request: &http.Request{Header: http.Header{}}}
	if tags, ok, err := headerTags(q); ok || tags != nil || err != nil {
		t.Errorf("no header: %v, %v, %v", tags, ok, err)
	}
}

func TestRefuseACLHeaders(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		ok     bool
	}{
		{"none", http.Header{}, true},
		{"private", http.Header{"X-Amz-Acl": {"private"}}, true},
		{"bucket-owner-full-control", http.Header{"X-Amz-Acl": {"bucket-owner-full-control"}}, true},
		{"public-read", http.Header{"X-Amz-Acl": {"public-read"}}, false},
		{"authenticated-read", http.Header{"X-Amz-Acl": {"authenticated-read"}}, false},
		{"grant read", http.Header{"X-Amz-Grant-Read": {`uri="http://acs.amazonaws.com/groups/global/AllUsers"`}}, false},
		{"grant full control to the owner", http.Header{"X-Amz-Grant-Full-Control": {`id="` + owner.ID + `"`}}, true},
		{"grant full control to another", http.Header{"X-Amz-Grant-Full-Control": {`id="123"`}}, false},
	} {
		err := refuseACLHeaders(tc.header)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && (toS3(err).Code != "AccessControlListNotSupported" || !strings.Contains(toS3(err).Message, "bucket policy")) {
			t.Errorf("%s: %v, want AccessControlListNotSupported pointing to bucket policies", tc.name, err)
		}
	}
}
