package server_test

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"
)

// listKeys is the tree the listing tests walk.
var listKeys = []string{
	"a/1", "a/2", "a/3/x", "b", "c/1", "c/2", "d", "e/f/g", "e/h", "f", "g/",
}

func putAll(t *testing.T, e *env, bucket string, keys []string) {
	t.Helper()
	var g errgroup.Group
	g.SetLimit(8)
	for _, k := range keys {
		g.Go(func() error {
			_, err := e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(k), Body: strings.NewReader("")})
			if err != nil {
				return fmt.Errorf("put %q: %w", k, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

func names(objs []types.Object, cps []types.CommonPrefix) (keys, prefixes []string) {
	for _, o := range objs {
		keys = append(keys, aws.ToString(o.Key))
	}
	for _, p := range cps {
		prefixes = append(prefixes, aws.ToString(p.Prefix))
	}
	return keys, prefixes
}

// listV1All pages through ListObjects v1 by NextMarker.
func listV1All(t *testing.T, e *env, in s3.ListObjectsInput) (keys, prefixes []string, pages int) {
	t.Helper()
	for pages = 1; ; pages++ {
		out, err := e.s3.ListObjects(ctx(t), &in)
		if err != nil {
			t.Fatalf("ListObjects marker %q: %v", aws.ToString(in.Marker), err)
		}
		k, p := names(out.Contents, out.CommonPrefixes)
		keys, prefixes = append(keys, k...), append(prefixes, p...)
		if in.MaxKeys != nil && len(k)+len(p) > int(*in.MaxKeys) {
			t.Errorf("page of %d entries with MaxKeys %d", len(k)+len(p), *in.MaxKeys)
		}
		if !aws.ToBool(out.IsTruncated) {
			return keys, prefixes, pages
		}
		if aws.ToString(out.NextMarker) == "" {
			t.Fatalf("truncated ListObjects page without NextMarker (aws-sdk-cpp stops paging)")
		}
		in.Marker = out.NextMarker
		if pages > 100 {
			t.Fatalf("ListObjects does not end")
		}
	}
}

func TestListObjectsV1(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("listv1")
	putAll(t, e, b, listKeys)
	sorted := slices.Sorted(slices.Values(listKeys))

	keys, prefixes, pages := listV1All(t, e, s3.ListObjectsInput{Bucket: &b, MaxKeys: aws.Int32(2)})
	if !slices.Equal(keys, sorted) || len(prefixes) != 0 || pages != 6 {
		t.Errorf("MaxKeys 2 paging: %d pages, keys %q", pages, keys)
	}
	keys, prefixes, _ = listV1All(t, e, s3.ListObjectsInput{Bucket: &b, Delimiter: aws.String("/")})
	if want := []string{"b", "d", "f"}; !slices.Equal(keys, want) {
		t.Errorf("delimiter keys %q, want %q", keys, want)
	}
	wantPrefixes := []string{"a/", "c/", "e/", "g/"}
	if !slices.Equal(prefixes, wantPrefixes) {
		t.Errorf("delimiter prefixes %q, want %q", prefixes, wantPrefixes)
	}
	// Paging one entry at a time through keys and common prefixes alike.
	keys, prefixes, pages = listV1All(t, e, s3.ListObjectsInput{Bucket: &b, Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)})
	if !slices.Equal(keys, []string{"b", "d", "f"}) || !slices.Equal(prefixes, wantPrefixes) || pages != 7 {
		t.Errorf("delimiter, MaxKeys 1: %d pages, keys %q prefixes %q", pages, keys, prefixes)
	}
	keys, prefixes, _ = listV1All(t, e, s3.ListObjectsInput{Bucket: &b, Prefix: aws.String("e/"), Delimiter: aws.String("/")})
	if !slices.Equal(keys, []string{"e/h"}) || !slices.Equal(prefixes, []string{"e/f/"}) {
		t.Errorf("prefix e/: keys %q prefixes %q", keys, prefixes)
	}
	keys, _, _ = listV1All(t, e, s3.ListObjectsInput{Bucket: &b, Marker: aws.String("c/1")})
	if !slices.Equal(keys, sorted[5:]) {
		t.Errorf("Marker c/1: %q", keys)
	}

	// The XML shape.
	r := e.request(http.MethodGet, e.url(b, "")+"?max-keys=2&prefix=a%2F", nil)
	e.signBody(r, nil)
	st, _, body := e.do(r)
	if st != http.StatusOK {
		t.Fatalf("GET list: %d %s", st, body)
	}
	var doc struct {
		XMLName     xml.Name
		Name        string
		Prefix      string
		Marker      *string
		NextMarker  string
		MaxKeys     int
		IsTruncated bool
		Contents    []struct {
			Key, LastModified, ETag, StorageClass string
			Size                                  *int64
			Owner                                 *struct{ ID string }
		}
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("ListBucketResult: %v", err)
	}
	if doc.XMLName.Local != "ListBucketResult" || doc.XMLName.Space != "http://s3.amazonaws.com/doc/2006-03-01/" ||
		doc.Name != b || doc.Prefix != "a/" || doc.MaxKeys != 2 || !doc.IsTruncated || doc.NextMarker != "a/2" || len(doc.Contents) != 2 {
		t.Errorf("ListBucketResult: %s", body)
	}
	for _, c := range doc.Contents {
		if c.ETag != `"d41d8cd98f00b204e9800998ecf8427e"` || c.Size == nil || *c.Size != 0 || c.StorageClass == "" || c.LastModified == "" || c.Owner == nil {
			t.Errorf("Contents entry %+v", c)
		}
	}
}

// urlKeys hold characters that XML 1.0 or a naive decoder mangle.
var urlKeys = []string{"dir one/with space", "dir one/plus+sign", "ünï/cödé", "pct%41", "amp&lt"}

func TestListEncodingTypeURL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("listurl")
	putAll(t, e, b, urlKeys)
	decode := func(t *testing.T, s string) string {
		t.Helper()
		d, err := url.QueryUnescape(s)
		if err != nil {
			t.Errorf("%q is not URL-encoded: %v", s, err)
		}
		return d
	}
	for _, v2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v2=%v", v2), func(t *testing.T) {
			var keys, prefixes []string
			if v2 {
				out, err := e.s3.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: &b, EncodingType: types.EncodingTypeUrl, Delimiter: aws.String("/"), Prefix: aws.String("dir one/")})
				if err != nil {
					t.Fatal(err)
				}
				keys, prefixes = names(out.Contents, out.CommonPrefixes)
				if aws.ToString(out.Prefix) != "dir%20one%2F" && aws.ToString(out.Prefix) != "dir%20one/" {
					t.Errorf("Prefix %q is not URL-encoded", aws.ToString(out.Prefix))
				}
			} else {
				out, err := e.s3.ListObjects(ctx(t), &s3.ListObjectsInput{Bucket: &b, EncodingType: types.EncodingTypeUrl, Delimiter: aws.String("/"), Prefix: aws.String("dir one/")})
				if err != nil {
					t.Fatal(err)
				}
				keys, prefixes = names(out.Contents, out.CommonPrefixes)
			}
			for i, k := range keys {
				if strings.ContainsAny(k, " +") {
					t.Errorf("key %q was not encoded (spaces must be %%20)", k)
				}
				keys[i] = decode(t, k)
			}
			if want := []string{"dir one/plus+sign", "dir one/with space"}; !slices.Equal(keys, want) || len(prefixes) != 0 {
				t.Errorf("decoded keys %q prefixes %q, want %q", keys, prefixes, want)
			}
		})
	}
	// Without a prefix, every key round-trips.
	out, err := e.s3.ListObjects(ctx(t), &s3.ListObjectsInput{Bucket: &b, EncodingType: types.EncodingTypeUrl})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range out.Contents {
		got = append(got, decode(t, aws.ToString(o.Key)))
	}
	if want := slices.Sorted(slices.Values(urlKeys)); !slices.Equal(got, want) {
		t.Errorf("round trip %q, want %q", got, want)
	}
	if out.EncodingType != types.EncodingTypeUrl {
		t.Errorf("EncodingType %q", out.EncodingType)
	}
	_, err = e.s3.ListObjects(ctx(t), &s3.ListObjectsInput{Bucket: &b, EncodingType: "base64"})
	wantCode(t, err, "InvalidArgument", http.StatusBadRequest)
}

func TestListObjectsV2(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("listv2")
	putAll(t, e, b, listKeys)
	sorted := slices.Sorted(slices.Values(listKeys))

	all := func(in s3.ListObjectsV2Input) (keys, prefixes []string, pages int) {
		t.Helper()
		for pages = 1; ; pages++ {
			out, err := e.s3.ListObjectsV2(ctx(t), &in)
			if err != nil {
				t.Fatalf("ListObjectsV2: %v", err)
			}
			k, p := names(out.Contents, out.CommonPrefixes)
			if int(aws.ToInt32(out.KeyCount)) != len(k)+len(p) {
				t.Errorf("KeyCount %d for %d entries", aws.ToInt32(out.KeyCount), len(k)+len(p))
			}
			if aws.ToString(out.ContinuationToken) != aws.ToString(in.ContinuationToken) {
				t.Errorf("ContinuationToken not echoed")
			}
			keys, prefixes = append(keys, k...), append(prefixes, p...)
			if !aws.ToBool(out.IsTruncated) {
				if out.NextContinuationToken != nil {
					t.Errorf("last page has a NextContinuationToken")
				}
				return keys, prefixes, pages
			}
			in.ContinuationToken = out.NextContinuationToken
			if pages > 100 {
				t.Fatalf("ListObjectsV2 does not end")
			}
		}
	}
	keys, _, pages := all(s3.ListObjectsV2Input{Bucket: &b, MaxKeys: aws.Int32(3)})
	if !slices.Equal(keys, sorted) || pages != 4 {
		t.Errorf("MaxKeys 3: %d pages, %q", pages, keys)
	}
	keys, prefixes, pages := all(s3.ListObjectsV2Input{Bucket: &b, Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
	if !slices.Equal(keys, []string{"b", "d", "f"}) || !slices.Equal(prefixes, []string{"a/", "c/", "e/", "g/"}) || pages != 4 {
		t.Errorf("delimiter, MaxKeys 2: %d pages, keys %q prefixes %q", pages, keys, prefixes)
	}
	keys, prefixes, _ = all(s3.ListObjectsV2Input{Bucket: &b, Prefix: aws.String("a/"), Delimiter: aws.String("/")})
	if !slices.Equal(keys, []string{"a/1", "a/2"}) || !slices.Equal(prefixes, []string{"a/3/"}) {
		t.Errorf("prefix a/: keys %q prefixes %q", keys, prefixes)
	}
	keys, _, _ = all(s3.ListObjectsV2Input{Bucket: &b, StartAfter: aws.String("c/2")})
	if !slices.Equal(keys, sorted[6:]) {
		t.Errorf("StartAfter c/2: %q", keys)
	}
	keys, _, _ = all(s3.ListObjectsV2Input{Bucket: &b, StartAfter: aws.String("zzz")})
	if len(keys) != 0 {
		t.Errorf("StartAfter zzz: %q", keys)
	}
	keys, _, _ = all(s3.ListObjectsV2Input{Bucket: &b, Prefix: aws.String("nothing")})
	if len(keys) != 0 {
		t.Errorf("prefix nothing: %q", keys)
	}
	out, err := e.s3.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: &b, MaxKeys: aws.Int32(0)})
	if err != nil || len(out.Contents) != 0 || aws.ToInt32(out.KeyCount) != 0 {
		t.Errorf("MaxKeys 0: %v, %v", out, err)
	}
	_, err = e.s3.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: &b, ContinuationToken: aws.String("!!not a token!!")})
	wantCode(t, err, "InvalidArgument", http.StatusBadRequest)
	_, err = e.s3.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: &b, MaxKeys: aws.Int32(-1)})
	wantCode(t, err, "InvalidArgument", http.StatusBadRequest)

	// The XML shape.
	r := e.request(http.MethodGet, e.url(b, "")+"?list-type=2&max-keys=1&start-after=a%2F1", nil)
	e.signBody(r, nil)
	st, _, body := e.do(r)
	var doc struct {
		XMLName               xml.Name
		Name, StartAfter      string
		KeyCount, MaxKeys     int
		IsTruncated           bool
		NextContinuationToken string
		Contents              []struct{ Key string }
	}
	if err := xml.Unmarshal(body, &doc); st != http.StatusOK || err != nil {
		t.Fatalf("list-type=2: %d %v %s", st, err, body)
	}
	if doc.XMLName.Local != "ListBucketResult" || doc.Name != b || doc.StartAfter != "a/1" || doc.KeyCount != 1 || doc.MaxKeys != 1 ||
		!doc.IsTruncated || doc.NextContinuationToken == "" || len(doc.Contents) != 1 || doc.Contents[0].Key != "a/2" {
		t.Errorf("ListBucketResult v2: %s", body)
	}
}

// TestListPaginators walks 2,500 keys with the SDK's paginator and with
// minio-go's listing (v2 and v1): each key must come exactly once.
func TestListPaginators(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("paginate")
	var keys []string
	for i := range 2500 {
		keys = append(keys, fmt.Sprintf("dir%02d/key-%04d", i%25, i))
	}
	start := time.Now()
	putAll(t, e, b, keys)
	t.Logf("put %d keys in %v", len(keys), time.Since(start))
	want := slices.Sorted(slices.Values(keys))

	check := func(name string, got []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			seen := map[string]int{}
			for _, k := range got {
				seen[k]++
			}
			var dup []string
			for k, n := range seen {
				if n > 1 {
					dup = append(dup, k)
				}
			}
			t.Errorf("%s: %d keys (%d distinct, duplicates %.10q), want %d in order", name, len(got), len(seen), dup, len(want))
		}
	}
	for _, max := range []int32{0, 1000, 333} {
		in := &s3.ListObjectsV2Input{Bucket: &b}
		if max > 0 {
			in.MaxKeys = aws.Int32(max)
		}
		p := s3.NewListObjectsV2Paginator(e.s3, in)
		var got []string
		pages := 0
		for p.HasMorePages() {
			out, err := p.NextPage(ctx(t))
			if err != nil {
				t.Fatalf("paginator page %d: %v", pages, err)
			}
			k, _ := names(out.Contents, nil)
			got = append(got, k...)
			pages++
		}
		check(fmt.Sprintf("ListObjectsV2Paginator MaxKeys %d", max), got)
		if max == 0 && pages != 3 {
			t.Errorf("default page size: %d pages, want 3 of at most 1000", pages)
		}
	}
	// With a delimiter, each common prefix comes once across pages.
	p := s3.NewListObjectsV2Paginator(e.s3, &s3.ListObjectsV2Input{Bucket: &b, Delimiter: aws.String("/"), MaxKeys: aws.Int32(7)})
	var cps []string
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		_, c := names(nil, out.CommonPrefixes)
		cps = append(cps, c...)
		if len(out.Contents) != 0 {
			t.Errorf("keys at the top level: %v", out.Contents)
		}
	}
	var wantCPs []string
	for i := range 25 {
		wantCPs = append(wantCPs, fmt.Sprintf("dir%02d/", i))
	}
	if !slices.Equal(cps, wantCPs) {
		t.Errorf("common prefixes %q, want dir00/…dir24/ once each", cps)
	}
	var wg sync.WaitGroup
	for _, v1 := range []bool{false, true} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got []string
			for o := range e.mc.ListObjects(ctx(t), b, minio.ListObjectsOptions{Recursive: true, UseV1: v1}) {
				if o.Err != nil {
					t.Errorf("minio ListObjects v1=%v: %v", v1, o.Err)
					return
				}
				got = append(got, o.Key)
			}
			check(fmt.Sprintf("minio ListObjects v1=%v", v1), got)
		}()
	}
	wg.Wait()
	// ListObjects v1 by NextMarker.
	got, _, _ := listV1All(t, e, s3.ListObjectsInput{Bucket: &b})
	check("ListObjects v1", got)
}
