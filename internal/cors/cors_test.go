package cors

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return c
}

func rules(rs ...string) string {
	return `<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` + strings.Join(rs, "") + `</CORSConfiguration>`
}

func rule(methods, origins string, extra ...string) string {
	s := "<CORSRule>"
	for _, m := range strings.Fields(methods) {
		s += "<AllowedMethod>" + m + "</AllowedMethod>"
	}
	for _, o := range strings.Fields(origins) {
		s += "<AllowedOrigin>" + o + "</AllowedOrigin>"
	}
	return s + strings.Join(extra, "") + "</CORSRule>"
}

func TestParseRefuses(t *testing.T) {
	many := ""
	for range MaxRules + 1 {
		many += rule("GET", "*")
	}
	for name, c := range map[string]struct{ doc, code, msg string }{
		"not xml":          {"{}", "MalformedXML", ""},
		"other root":       {"<Foo>" + rule("GET", "*") + "</Foo>", "MalformedXML", ""},
		"no rule":          {rules(), "MalformedXML", ""},
		"no method":        {rules(rule("", "*")), "MalformedXML", ""},
		"no origin":        {rules(rule("GET", "")), "MalformedXML", ""},
		"bad method":       {rules(rule("PATCH", "*")), "InvalidRequest", "Unsupported method is PATCH"},
		"two wildcards":    {rules(rule("GET", "*.a.*")), "InvalidRequest", "can not have more than one wildcard"},
		"header wildcards": {rules(rule("GET", "*", "<AllowedHeader>*-*</AllowedHeader>")), "InvalidRequest", "more than one wildcard"},
		"expose wildcard":  {rules(rule("GET", "*", "<ExposeHeader>*</ExposeHeader>")), "InvalidRequest", "ExposeHeader"},
		"negative max age": {rules(rule("GET", "*", "<MaxAgeSeconds>-1</MaxAgeSeconds>")), "InvalidRequest", "MaxAgeSeconds"},
		"too many rules":   {rules(many), "InvalidRequest", "100 rules"},
		"too big":          {rules(rule("GET", "*", "<ID>"+strings.Repeat("x", MaxSize)+"</ID>")), "MaxMessageLengthExceeded", ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc))
			e, ok := IsError(err)
			if !ok || e.Code != c.code || !strings.Contains(e.Message, c.msg) {
				t.Errorf("Parse: %v, want %s containing %q", err, c.code, c.msg)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	doc := rules(rule("GET HEAD", "https://a.example *.b.example", "<ID>r1</ID>", "<AllowedHeader>x-amz-*</AllowedHeader>",
		"<ExposeHeader>ETag</ExposeHeader>", "<MaxAgeSeconds>3000</MaxAgeSeconds>"), rule("PUT", "*"))
	c := mustParse(t, doc)
	again := mustParse(t, string(c.Marshal()))
	if got, want := string(again.Marshal()), string(c.Marshal()); got != want {
		t.Errorf("round trip:\n%s\nwant\n%s", got, want)
	}
	r := again.Rules[0]
	if r.ID != "r1" || len(r.AllowedMethods) != 2 || r.AllowedOrigins[1] != "*.b.example" || r.AllowedHeaders[0] != "x-amz-*" ||
		r.ExposeHeaders[0] != "ETag" || r.MaxAgeSeconds == nil || *r.MaxAgeSeconds != 3000 || again.Rules[1].MaxAgeSeconds != nil {
		t.Errorf("rule after the round trip: %+v", r)
	}
	if !strings.Contains(string(c.Marshal()), `xmlns="http://s3.amazonaws.com/doc/2006-03-01/"`) {
		t.Errorf("no S3 namespace:\n%s", c.Marshal())
	}
}

// originRules is the configuration of ceph's s3-tests
// test_cors_origin_response.
func originRules(t *testing.T) *Config {
	return mustParse(t, rules(rule("GET", "*suffix"), rule("GET", "start*end"), rule("GET", "prefix*"), rule("PUT", "*.put")))
}

// TestAnnotate follows ceph's s3-tests test_cors_origin_response: a
// request with an Origin gets the headers of the first rule allowing its
// origin and its method (its Access-Control-Request-Method if it sent one).
func TestAnnotate(t *testing.T) {
	c := originRules(t)
	for _, tc := range []struct{ method, origin, acrm, allowOrigin, allowMethods string }{
		{"GET", "foo.suffix", "", "foo.suffix", "GET"},
		{"GET", "foo.bar", "", "", ""},
		{"GET", "foo.suffix.get", "", "", ""},
		{"GET", "start_end", "", "start_end", "GET"},
		{"GET", "start1end", "", "start1end", "GET"},
		{"GET", "start12end", "", "start12end", "GET"},
		{"GET", "0start12end", "", "", ""},
		{"GET", "prefix", "", "prefix", "GET"},
		{"GET", "prefix.suffix", "", "prefix.suffix", "GET"},
		{"GET", "bla.prefix", "", "", ""},
		{"PUT", "foo.suffix", "GET", "foo.suffix", "GET"},
		{"PUT", "foo.suffix", "PUT", "", ""},
		{"PUT", "foo.suffix", "DELETE", "", ""},
		{"PUT", "foo.suffix", "", "", ""},
		{"PUT", "foo.put", "", "foo.put", "PUT"},
	} {
		r := httptest.NewRequest(tc.method, "/b/bar", nil)
		if tc.acrm != "" {
			r.Header.Set("Access-Control-Request-Method", tc.acrm)
		}
		h := http.Header{}
		matched := c.Annotate(h, r, tc.origin)
		if got := h.Get("Access-Control-Allow-Origin"); got != tc.allowOrigin || h.Get("Access-Control-Allow-Methods") != tc.allowMethods || matched != (tc.allowOrigin != "") {
			t.Errorf("%s from %s (ACRM %q): allow origin %q methods %q, want %q %q", tc.method, tc.origin, tc.acrm, got, h.Get("Access-Control-Allow-Methods"), tc.allowOrigin, tc.allowMethods)
		}
		if h.Get("Vary") == "" {
			t.Errorf("%s from %s: no Vary", tc.method, tc.origin)
		}
		if h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s from %s: Allow-Credentials: a page could use a visitor's browser-held login", tc.method, tc.origin)
		}
	}
	star := mustParse(t, rules(rule("GET", "*", "<ExposeHeader>x-amz-meta-a</ExposeHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>30</MaxAgeSeconds>")))
	// A request without an Origin gets Vary alone, even from a rule
	// allowing every origin.
	h := http.Header{}
	if star.Annotate(h, httptest.NewRequest("GET", "/b", nil), "") || h.Get("Access-Control-Allow-Origin") != "" || h.Get("Vary") == "" {
		t.Errorf("without an Origin: %v, want Vary alone", h)
	}
	h = http.Header{}
	star.Annotate(h, httptest.NewRequest("GET", "/b", nil), "https://anything.example")
	if h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Credentials") != "" || h.Get("Access-Control-Expose-Headers") != "x-amz-meta-a, ETag" ||
		h.Get("Access-Control-Max-Age") != "30" {
		t.Errorf("wildcard rule: %v", h)
	}
	// An empty AllowedOrigin, which S3 takes, matches no origin.
	empty := mustParse(t, rules(rule("GET", "", "<AllowedOrigin></AllowedOrigin>")))
	if empty.Annotate(http.Header{}, httptest.NewRequest("GET", "/b", nil), "https://anything.example") {
		t.Error("an empty AllowedOrigin matched")
	}
}

// TestAnnotateRequestHeaders: a request (not a preflight) that names
// Access-Control-Request-Headers is matched with them, as a preflight
// would be: AWS answers a GET whose named headers no rule allows without
// the CORS headers (localstack's AWS-recorded test_cors_match_headers,
// "get-non-allowed-with-acl"), and the headers it sends itself are not
// matched ("get-non-allowed").
func TestAnnotateRequestHeaders(t *testing.T) {
	c := mustParse(t, rules(rule("GET", "https://app.example", "<AllowedHeader>x-amz-expected-bucket-owner</AllowedHeader>")))
	for _, tc := range []struct {
		acrh, other string
		want        bool
	}{
		{"", "", true},
		{"", "requester", true}, // x-amz-request-payer sent, not named
		{"x-amz-request-payer", "", false},
		{"X-Amz-Expected-Bucket-Owner", "", true},
		{"x-amz-expected-bucket-owner, x-amz-request-payer", "", false},
	} {
		r := httptest.NewRequest("GET", "/b/k", nil)
		if tc.acrh != "" {
			r.Header.Set("Access-Control-Request-Headers", tc.acrh)
		}
		if tc.other != "" {
			r.Header.Set("X-Amz-Request-Payer", tc.other)
		}
		h := http.Header{}
		matched := c.Annotate(h, r, "https://app.example")
		if got := h.Get("Access-Control-Allow-Origin") != ""; matched != tc.want || got != tc.want {
			t.Errorf("GET naming %q: matched %v, Allow-Origin set %v; want %v", tc.acrh, matched, got, tc.want)
		}
	}
}

// TestPreflight follows the OPTIONS rows of ceph's s3-tests
// test_cors_origin_response and test_cors_header_option.
func TestPreflight(t *testing.T) {
	c := originRules(t)
	for _, tc := range []struct {
		origin, acrm, acrh string
		want               error
		allowOrigin        string
	}{
		{"", "", "", ErrNoOrigin, ""},
		{"foo.suffix", "", "", ErrNoMethod, ""},
		{"foo.bla", "", "", ErrNoMethod, ""},
		{"foo.suffix", "GET", "", nil, "foo.suffix"},
		{"foo.bar", "GET", "", ErrForbidden, ""},
		{"foo.suffix.get", "GET", "", ErrForbidden, ""},
		{"start_end", "GET", "", nil, "start_end"},
		{"0start12end", "GET", "", ErrForbidden, ""},
		{"prefix.suffix", "GET", "", nil, "prefix.suffix"},
		{"bla.prefix", "GET", "", ErrForbidden, ""},
		{"foo.put", "GET", "", ErrForbidden, ""},
		{"foo.put", "PUT", "", nil, "foo.put"},
		{"foo.put", "PUT", "x-amz-meta-a", ErrForbidden, ""}, // no AllowedHeader
	} {
		r := httptest.NewRequest("OPTIONS", "/b/bar", nil)
		for k, v := range map[string]string{"Origin": tc.origin, "Access-Control-Request-Method": tc.acrm, "Access-Control-Request-Headers": tc.acrh} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		h := http.Header{}
		err := Preflight(c, h, r)
		if err != tc.want || h.Get("Access-Control-Allow-Origin") != tc.allowOrigin {
			t.Errorf("OPTIONS from %q ACRM %q ACRH %q: %v, allow origin %q; want %v, %q", tc.origin, tc.acrm, tc.acrh, err, h.Get("Access-Control-Allow-Origin"), tc.want, tc.allowOrigin)
		}
	}
	r := httptest.NewRequest("OPTIONS", "/b", nil)
	r.Header.Set("Origin", "https://a.example")
	r.Header.Set("Access-Control-Request-Method", "GET")
	if err := Preflight(nil, http.Header{}, r); err != ErrDisabled {
		t.Errorf("without a configuration: %v, want ErrDisabled", err)
	}

	headers := mustParse(t, rules(rule("GET PUT", "https://a.example", "<AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>Content-Type</AllowedHeader>",
		"<ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds>")))
	r.Header.Set("Access-Control-Request-Method", "PUT")
	r.Header.Set("Access-Control-Request-Headers", "X-Amz-Date, content-type,x-amz-content-sha256")
	h := http.Header{}
	if err := Preflight(headers, h, r); err != nil {
		t.Fatalf("preflight with allowed headers: %v", err)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":      "https://a.example",
		"Access-Control-Allow-Methods":     "GET, PUT",
		"Access-Control-Allow-Headers":     "x-amz-date, content-type, x-amz-content-sha256", // lower case, as S3 echoes them
		"Access-Control-Allow-Credentials": "",
		"Access-Control-Expose-Headers":    "ETag",
		"Access-Control-Max-Age":           "600",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	r.Header.Set("Access-Control-Request-Headers", "X-Amz-Date, Authorization")
	if err := Preflight(headers, http.Header{}, r); err != ErrForbidden {
		t.Errorf("a header no rule allows: %v, want ErrForbidden", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(rules(rule("GET", "*"))))
	f.Add([]byte(rules(rule("GET PUT", "https://*.example", "<AllowedHeader>*</AllowedHeader><MaxAgeSeconds>5</MaxAgeSeconds>"))))
	f.Add([]byte(`{"CORSRules": [{"ID": "x", "AllowedMethods": ["GET"], "AllowedOrigins": ["*"], "MaxAgeSeconds": 5}]}`))
	f.Add(Public().JSON())
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := ParseAny(doc) // S3's XML or the aws CLI's JSON
		if err == nil {
			if again, err := ParseAny(c.JSON()); err != nil || string(again.Marshal()) != string(c.Marshal()) {
				t.Fatalf("the JSON of a configuration does not read back the same: %v\n%s", err, c.JSON())
			}
		}
		if err != nil {
			if _, ok := IsError(err); !ok {
				t.Fatalf("Parse gave a %T, not an *Error: %v", err, err)
			}
			return
		}
		again, err := Parse(c.Marshal())
		if err != nil {
			t.Fatalf("the marshalled configuration does not parse: %v\n%s", err, c.Marshal())
		}
		if string(again.Marshal()) != string(c.Marshal()) {
			t.Fatalf("round trip changed the configuration")
		}
		r := httptest.NewRequest("OPTIONS", "/b", nil)
		r.Header.Set("Origin", "https://a.example")
		r.Header.Set("Access-Control-Request-Method", "GET")
		Preflight(c, http.Header{}, r)
	})
}
