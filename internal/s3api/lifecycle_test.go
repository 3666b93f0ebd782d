package s3api

import (
	"encoding/xml"
	"reflect"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
)

func TestLifecycleRules(t *testing.T) {
	const ns = `<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`
	rule := func(body string) string { return ns + "<Rule>" + body + "</Rule></LifecycleConfiguration>" }
	for _, c := range []struct {
		name string
		xml  string
		want []meta.LifecycleRule
		code string // error code, or "" for success
		says string // what its message must name
	}{
		{"filter prefix", rule(`<ID>t</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>3</Days></Expiration>`),
			[]meta.LifecycleRule{{ID: "t", Enabled: true, Prefix: "tmp/", ExpirationDays: 3}}, "", ""},
		{"legacy prefix", rule(`<ID>a</ID><Prefix></Prefix><Status>Disabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload>`),
			[]meta.LifecycleRule{{ID: "a", AbortUploadsDays: 7}}, "", ""},
		{"and prefix", rule(`<Filter><And><Prefix>x/</Prefix></And></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload><Expiration><Days>2</Days></Expiration>`),
			[]meta.LifecycleRule{{Enabled: true, Prefix: "x/", AbortUploadsDays: 1, ExpirationDays: 2}}, "", ""},
		{"empty filter", rule(`<Filter></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>`),
			[]meta.LifecycleRule{{Enabled: true, AbortUploadsDays: 1}}, "", ""},
		{"transition", rule(`<ID>t</ID><Filter><Prefix>a/</Prefix></Filter><Status>Enabled</Status><Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>`),
			nil, "NotImplemented", "Transition"},
		{"noncurrent", rule(`<Filter><Prefix>a/</Prefix></Filter><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration>`),
			nil, "NotImplemented", "NoncurrentVersionExpiration"},
		{"expiration date", rule(`<Filter><Prefix>a/</Prefix></Filter><Status>Enabled</Status><Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration>`),
			nil, "NotImplemented", "Date"},
		{"delete marker", rule(`<Filter><Prefix>a/</Prefix></Filter><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>`),
			nil, "NotImplemented", "ExpiredObjectDeleteMarker"},
		{"tag filter", rule(`<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>`),
			nil, "NotImplemented", "Tag"},
		{"size in and", rule(`<Filter><And><Prefix>a/</Prefix><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>`),
			nil, "NotImplemented", "ObjectSizeGreaterThan"},
		{"bad status", rule(`<Filter><Prefix>a/</Prefix></Filter><Status>On</Status><Expiration><Days>1</Days></Expiration>`),
			nil, "MalformedXML", "Status"},
		{"filter and prefix", rule(`<Prefix>a/</Prefix><Filter><Prefix>a/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>`),
			nil, "MalformedXML", "not both"},
		{"zero days", rule(`<Filter><Prefix>a/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>0</Days></Expiration>`),
			nil, "InvalidArgument", "positive"},
		{"no action", rule(`<Filter><Prefix>a/</Prefix></Filter><Status>Enabled</Status>`),
			nil, "InvalidArgument", "at least one action"},
		{"no rules", ns + `</LifecycleConfiguration>`, nil, "MalformedXML", "at least one Rule"},
	} {
		var lc lifecycleConfiguration
		if err := xml.Unmarshal([]byte(c.xml), &lc); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, err := lc.rules()
		if c.code == "" {
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s: rules() = %+v, %v; want %+v", c.name, got, err, c.want)
			}
			continue
		}
		e, ok := err.(*Error)
		if !ok || e.Code != c.code || !strings.Contains(e.Message, c.says) {
			t.Errorf("%s: rules() error %v, want %s naming %q", c.name, err, c.code, c.says)
		}
	}
}

// FuzzLifecycleRules checks that any PutBucketLifecycleConfiguration body
// decodes to stored rules or an S3 error, never a panic, and that the
// rules it accepts are well formed.
func FuzzLifecycleRules(f *testing.F) {
	const ns = `<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`
	for _, body := range []string{
		ns + `<Rule><ID>t</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>3</Days></Expiration></Rule></LifecycleConfiguration>`,
		ns + `<Rule><Prefix></Prefix><Status>Disabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>`,
		ns + `<Rule><Filter><And><Prefix>x/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter><Status>Enabled</Status><Transition><Days>1</Days></Transition></Rule></LifecycleConfiguration>`,
		`<LifecycleConfiguration/>`,
	} {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var c lifecycleConfiguration
		if xml.Unmarshal(body, &c) != nil {
			return
		}
		rules, err := c.rules()
		if err != nil {
			if toS3(err) == nil {
				t.Fatalf("rules(%q): %v is no S3 error", body, err)
			}
			return
		}
		for _, r := range rules {
			if r.AbortUploadsDays < 0 || r.ExpirationDays < 0 {
				t.Fatalf("rules(%q) accepted negative days: %+v", body, r)
			}
		}
	})
}
