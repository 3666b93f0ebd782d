package s3api

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

func TestPlanRead(t *testing.T) {
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	simple := meta.Object{Size: 100, ETag: "abc", Modified: mod}
	multi := meta.Object{Size: 30, ETag: "def-2", Modified: mod, PartsCount: 2,
		Segments: []meta.Segment{{Size: 10}, {Size: 20}}}
	empty := meta.Object{ETag: "e", Modified: mod}
	tests := []struct {
		name    string
		obj     meta.Object
		headers map[string]string
		part    string
		want    readPlan
		code    string // S3 error code, or ""
	}{
		{"whole", simple, nil, "", readPlan{}, ""},
		{"one range", simple, map[string]string{"Range": "bytes=0-9"}, "", readPlan{byteRange: "bytes=0-9", partRange: "bytes 0-9/100", partLength: 10}, ""},
		{"open range", simple, map[string]string{"Range": "bytes=90-"}, "", readPlan{byteRange: "bytes=90-99", partRange: "bytes 90-99/100", partLength: 10}, ""},
		{"suffix range", simple, map[string]string{"Range": "bytes=-5"}, "", readPlan{byteRange: "bytes=95-99", partRange: "bytes 95-99/100", partLength: 5}, ""},
		{"suffix longer than the object", simple, map[string]string{"Range": "bytes=-500"}, "", readPlan{byteRange: "bytes=0-99", partRange: "bytes 0-99/100", partLength: 100}, ""},
		{"range past the end clipped", simple, map[string]string{"Range": "bytes=50-500"}, "", readPlan{byteRange: "bytes=50-99", partRange: "bytes 50-99/100", partLength: 50}, ""},
		{"several ranges: whole object", simple, map[string]string{"Range": "bytes=0-9,20-29"}, "", readPlan{}, ""},
		{"range beyond the end", simple, map[string]string{"Range": "bytes=100-"}, "", readPlan{unsatisfiable: true}, ""},
		{"zero suffix", simple, map[string]string{"Range": "bytes=-0"}, "", readPlan{unsatisfiable: true}, ""},
		// S3 ignores what it cannot parse and sends the whole object.
		{"other unit ignored", simple, map[string]string{"Range": "lines=1-2"}, "", readPlan{}, ""},
		{"space ignored", simple, map[string]string{"Range": "bytes= -1"}, "", readPlan{}, ""},
		{"double dash ignored", simple, map[string]string{"Range": "bytes=--1"}, "", readPlan{}, ""},
		{"reversed ignored", simple, map[string]string{"Range": "bytes=5-3"}, "", readPlan{}, ""},
		{"bare dash ignored", simple, map[string]string{"Range": "bytes=-"}, "", readPlan{}, ""},
		// An empty object has no first byte: a range starting anywhere is
		// unsatisfiable, as AWS answers (ceph s3-tests'
		// test_ranged_request_empty_object, versitygw's
		// GetObject_zero_len_with_range); a suffix is the empty whole.
		{"range on an empty object", empty, map[string]string{"Range": "bytes=0-9"}, "", readPlan{unsatisfiable: true}, ""},
		{"open range on an empty object", empty, map[string]string{"Range": "bytes=0-"}, "", readPlan{unsatisfiable: true}, ""},
		{"range past an empty object", empty, map[string]string{"Range": "bytes=40-50"}, "", readPlan{unsatisfiable: true}, ""},
		{"zero suffix on an empty object", empty, map[string]string{"Range": "bytes=-0"}, "", readPlan{unsatisfiable: true}, ""},
		{"suffix on an empty object: whole", empty, map[string]string{"Range": "bytes=-1"}, "", readPlan{}, ""},
		{"unparsable range on an empty object: whole", empty, map[string]string{"Range": "bytes=a-z"}, "", readPlan{}, ""},
		{"if-none-match hit", simple, map[string]string{"If-None-Match": `"abc"`, "Range": "bytes=0-1"}, "", readPlan{notModified: true}, ""},
		{"if-modified-since not modified", simple, map[string]string{"If-Modified-Since": mod.Format(http.TimeFormat)}, "", readPlan{notModified: true}, ""},
		{"if-modified-since in the future ignored", simple, map[string]string{"If-Modified-Since": time.Now().Add(time.Hour).Format(http.TimeFormat)}, "", readPlan{}, ""},
		{"if-match miss", simple, map[string]string{"If-Match": `"zzz"`}, "", readPlan{}, "PreconditionFailed"},
		{"if-match before if-none-match", simple, map[string]string{"If-Match": `"zzz"`, "If-None-Match": `"abc"`}, "", readPlan{}, "PreconditionFailed"},
		{"if-range etag holds", simple, map[string]string{"Range": "bytes=0-9", "If-Range": `"abc"`}, "", readPlan{byteRange: "bytes=0-9", partRange: "bytes 0-9/100", partLength: 10}, ""},
		{"if-range date holds", simple, map[string]string{"Range": "bytes=0-9", "If-Range": mod.Format(http.TimeFormat)}, "", readPlan{byteRange: "bytes=0-9", partRange: "bytes 0-9/100", partLength: 10}, ""},
		{"if-range etag fails: whole", simple, map[string]string{"Range": "bytes=0-9", "If-Range": `"old"`}, "", readPlan{}, ""},
		{"if-range weak: whole", simple, map[string]string{"Range": "bytes=0-9", "If-Range": `W/"abc"`}, "", readPlan{}, ""},
		{"if-range older date: whole", simple, map[string]string{"Range": "bytes=0-9", "If-Range": mod.Add(-time.Hour).Format(http.TimeFormat)}, "", readPlan{}, ""},
		{"if-range fails on an unsatisfiable range: whole", simple, map[string]string{"Range": "bytes=100-", "If-Range": `"old"`}, "", readPlan{}, ""},
		{"part 2 of 2", multi, nil, "2", readPlan{partsCount: 2, part: true, partRange: "bytes 10-29/30", partLength: 20, byteRange: "bytes=10-29"}, ""},
		{"part with a range", multi, map[string]string{"Range": "bytes=0-0"}, "1", readPlan{}, "InvalidRequest"},
		{"part 1 of a simple object: whole, no count", simple, nil, "1", readPlan{part: true, partRange: "bytes 0-99/100", partLength: 100, byteRange: "bytes=0-99"}, ""},
		{"part 1 of an empty object", empty, nil, "1", readPlan{}, ""},
		{"part 2 of a simple object", simple, nil, "2", readPlan{}, "InvalidPartNumber"},
		{"part beyond the count", multi, nil, "3", readPlan{}, "InvalidPartNumber"},
		{"part 0", multi, nil, "0", readPlan{}, "InvalidArgument"},
		{"part not a number", multi, nil, "x", readPlan{}, "InvalidArgument"},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.headers {
			h.Set(k, v)
		}
		got, err := planRead(h, tt.part, tt.obj)
		if tt.code != "" {
			var e *Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Errorf("%s: error %v, want %s", tt.name, err, tt.code)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: planRead = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}

// TestSteerServeContent checks that ServeContent is left only the plan's
// range: conditionals and If-Range, already applied, are gone, and a
// part's range replaces the client's.
func TestSteerServeContent(t *testing.T) {
	h := http.Header{}
	for _, k := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range"} {
		h.Set(k, "x")
	}
	h.Set("Range", "bytes=0-0")
	steerServeContent(h, readPlan{part: true, partRange: "bytes 5-9/10", byteRange: "bytes=5-9"})
	if len(h) != 1 || h.Get("Range") != "bytes=5-9" {
		t.Errorf("part: headers left %v", h)
	}
	h = http.Header{"If-Range": {`"abc"`}, "Range": {"bytes=0-1,4-5"}}
	steerServeContent(h, readPlan{})
	if len(h) != 0 {
		t.Errorf("several ranges: headers left %v, want none", h)
	}
}
