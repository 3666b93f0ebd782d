package metaenc

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
)

func TestSegmentsRoundTrip(t *testing.T) {
	for _, segs := range [][]meta.Segment{
		nil,
		{{Blob: "a", Size: 0}},
		{{Blob: "b", Size: -1}, {Blob: strings.Repeat("x", 300), Size: 5 << 30}},
		{{Size: 3, Data: []byte("abc")}, {Blob: "c", Size: 7}, {Size: 0, Data: []byte{}}},
	} {
		got, err := DecodeSegments(string(EncodeSegments(segs)))
		if err != nil {
			t.Fatalf("decode(encode(%v)): %v", segs, err)
		}
		if !reflect.DeepEqual(got, segs) && !(len(got) == 0 && len(segs) == 0) {
			t.Errorf("decode(encode(%v)) = %v", segs, got)
		}
	}
	for _, bad := range []string{"", "\x02\x00", "\x01", "\x01\x01", "\x01\x01\x05ab\x00",
		"\x01\x00\x00", "\x01\xff\xff\xff\xff\x0f", "\x01\x01\x01a", "\x01\x01\x01a\x80",
		"\x01\x01\x00\x06\x02ab", "\x01\x01\x00\x02"} {
		if _, err := DecodeSegments(bad); err == nil {
			t.Errorf("decode(%q) succeeded", bad)
		}
	}
}

func TestAttrsRoundTrip(t *testing.T) {
	for _, o := range []meta.Object{
		{},
		{PartsCount: 10000, SHA256: []byte{0, 1, 2}, ChecksumAlgorithm: "CRC64NVME", Checksum: "x==",
			Headers: meta.Headers{ContentType: "text/plain", ContentEncoding: "zstd", ContentDisposition: "inline",
				ContentLanguage: "de", CacheControl: "no-store", Expires: "0",
				UserMeta: map[string]string{"b": "2", "a": "", "é": strings.Repeat("v", 200)}}},
	} {
		var got meta.Object
		if err := DecodeAttrs(string(EncodeAttrs(&o)), &got); err != nil {
			t.Fatalf("decode(encode(%+v)): %v", o, err)
		}
		if !reflect.DeepEqual(got, o) {
			t.Errorf("decode(encode(%+v)) = %+v", o, got)
		}
	}
	good := string(EncodeAttrs(&meta.Object{Headers: meta.Headers{UserMeta: map[string]string{"k": "v"}}}))
	for _, bad := range []string{"", "\x02", "\x01", good[:len(good)-1], good + "\x00"} {
		if err := DecodeAttrs(bad, &meta.Object{}); err == nil {
			t.Errorf("decode(%q) succeeded", bad)
		}
	}
}

// FuzzSegments and FuzzAttrs check that whatever decodes re-encodes to the
// same value; the decoders must not panic on any input.
func FuzzSegments(f *testing.F) {
	f.Add(EncodeSegments([]meta.Segment{{Blob: "abc", Size: 7}, {Blob: "d", Size: 1}}))
	f.Add([]byte("\x01\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		segs, err := DecodeSegments(string(b))
		if err != nil {
			return
		}
		again, err := DecodeSegments(string(EncodeSegments(segs)))
		if err != nil || !reflect.DeepEqual(again, segs) {
			t.Fatalf("round trip of %v: %v, %v", segs, again, err)
		}
	})
}

func FuzzAttrs(f *testing.F) {
	f.Add(EncodeAttrs(&meta.Object{Checksum: "c", Headers: meta.Headers{UserMeta: map[string]string{"k": "v"}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var o meta.Object
		if DecodeAttrs(string(b), &o) != nil {
			return
		}
		var again meta.Object
		if err := DecodeAttrs(string(EncodeAttrs(&o)), &again); err != nil || !reflect.DeepEqual(again, o) {
			t.Fatalf("round trip of %+v: %+v, %v", o, again, err)
		}
	})
}

// FuzzTags: whatever decodes as tags re-encodes to the same tags.
func FuzzTags(f *testing.F) {
	f.Add(EncodeTags([]meta.Tag{{Key: "k", Value: "v"}, {Key: "", Value: "é"}}))
	f.Add(EncodeStrings([]string{"odd"}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		tags, err := DecodeTags(string(b))
		if err != nil {
			return
		}
		again, err := DecodeTags(string(EncodeTags(tags)))
		if err != nil || !reflect.DeepEqual(again, tags) {
			t.Fatalf("round trip of %q: %q, %v", tags, again, err)
		}
	})
}
