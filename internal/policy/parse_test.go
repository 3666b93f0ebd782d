package policy_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/policy"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestSeedsMatchShared keeps testdata's copies of the seed policies
// byte-identical to shared/fixtures/policies.
func TestSeedsMatchShared(t *testing.T) {
	shared := filepath.Join(testenv.SharedDir(t), "fixtures", "policies")
	names, err := filepath.Glob(filepath.Join(shared, "*.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no policy fixtures in %s: %v", shared, err)
	}
	for _, name := range names {
		want, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("testdata", filepath.Base(name)))
		if err != nil {
			t.Errorf("testdata lacks %s: %v", filepath.Base(name), err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/%s differs from %s", filepath.Base(name), name)
		}
	}
}

func TestParseSeeds(t *testing.T) {
	for name, parse := range map[string]func([]byte) (*policy.Policy, error){
		"seed-anonymous-read.bucket.json":     policy.ParseBucket,
		"seed-authenticated-read.bucket.json": policy.ParseBucket,
		"seed-upload.iam.json":                policy.ParseIdentity,
	} {
		p, err := parse(seed(t, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if p.Version() != "2012-10-17" {
			t.Errorf("%s: Version() = %q", name, p.Version())
		}
		if err := p.CheckBucket(bucket); err != nil {
			t.Errorf("%s: CheckBucket: %v", name, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	const (
		bkt = true
		idt = false
	)
	stmt := func(body string) string { return `{"Version":"2012-10-17","Statement":[` + body + `]}` }
	allowGet := `{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}`
	withCond := func(cond string) string {
		return stmt(`{"Sid":"C","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":` + cond + `}`)
	}
	cases := []struct {
		name   string
		bucket bool
		doc    string
		want   string
	}{
		{"bad effect", bkt, stmt(allowGet + `,{"Sid":"AllowRead","Effect":"allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}`),
			`statement 2 ("AllowRead"): Effect: must be "Allow" or "Deny"`},
		{"missing effect", idt, stmt(`{"Action":"s3:GetObject","Resource":"*"}`), `statement 1: Effect: missing`},
		{"missing action", idt, stmt(`{"Effect":"Allow","Resource":"*"}`), `statement 1: Action: missing (a statement needs Action or NotAction)`},
		{"missing resource", idt, stmt(`{"Effect":"Allow","Action":"s3:*"}`), `statement 1: Resource: missing (a statement needs Resource or NotResource)`},
		{"missing principal", bkt, stmt(`{"Sid":"P","Effect":"Allow","Action":"s3:*","Resource":"*"}`),
			`statement 1 ("P"): Principal: missing (a bucket policy statement needs Principal or NotPrincipal)`},
		{"principal in identity policy", idt, stmt(allowGet), `statement 1: Principal: not allowed in an identity policy`},
		{"NotPrincipal with Allow", bkt, stmt(`{"Effect":"Allow","NotPrincipal":{"AWS":"000000000000"},"Action":"s3:*","Resource":"*"}`),
			`statement 1: NotPrincipal: is only supported with "Effect": "Deny"`},
		{"Action and NotAction", idt, stmt(`{"Effect":"Allow","Action":"s3:*","NotAction":"s3:Get*","Resource":"*"}`),
			`statement 1: NotAction: a statement takes Action or NotAction, not both`},
		{"Resource and NotResource", idt, stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"*","NotResource":"*"}`),
			`statement 1: NotResource: a statement takes Resource or NotResource, not both`},
		{"action without service", idt, stmt(`{"Effect":"Allow","Action":"GetObject","Resource":"*"}`),
			`statement 1: Action: invalid action "GetObject": want "*" or "service:action"`},
		{"non-S3 action in bucket policy", bkt, stmt(`{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","ec2:*"],"Resource":"*"}`),
			`statement 1: Action: action "ec2:*" is not an S3 action`},
		{"empty action list", idt, stmt(`{"Effect":"Allow","Action":[],"Resource":"*"}`), `statement 1: Action: must not be an empty array`},
		{"action not a string", idt, stmt(`{"Effect":"Allow","Action":7,"Resource":"*"}`), `statement 1: Action: must be a string or an array of strings`},
		{"resource not an ARN", idt, stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"example-nix-cache/*"}`),
			`statement 1: Resource: invalid resource "example-nix-cache/*": want "*" or an ARN such as arn:aws:s3:::BUCKET/KEY`},
		{"non-S3 resource in bucket policy", bkt, stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:iam::000000000000:user/x"}`),
			`statement 1: Resource: resource "arn:aws:iam::000000000000:user/x" is not an S3 resource`},
		{"unterminated variable", idt, stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username"}`),
			`statement 1: Resource: unterminated policy variable in "arn:aws:s3:::b/${aws:username"`},
		{"unknown variable", idt, stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:nosuch}/*"}`),
			`statement 1: Resource: policy variable ${aws:nosuch}: unknown condition key "aws:nosuch"`},
		{"unquoted default", idt, stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username, guest}/*"}`),
			`statement 1: Resource: policy variable ${aws:username, guest}: default value must be in single quotes`},
		{"principal string ARN", bkt, stmt(`{"Effect":"Allow","Principal":"arn:aws:iam::000000000000:user/x","Action":"s3:*","Resource":"*"}`),
			`statement 1: Principal: must be "*" or an object such as {"AWS": "arn:aws:iam::000000000000:user/NAME"}`},
		{"principal wildcard ARN", bkt, stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/*"},"Action":"s3:*","Resource":"*"}`),
			`statement 1: Principal: invalid principal "arn:aws:iam::000000000000:user/*": want "*", an account id, or an IAM ARN such as arn:aws:iam::000000000000:user/NAME`},
		{"principal type", bkt, stmt(`{"Effect":"Allow","Principal":{"aws":"*"},"Action":"s3:*","Resource":"*"}`),
			`statement 1: Principal: unknown principal type "aws" (want "AWS")`},
		{"unknown operator", bkt, withCond(`{"StringEqualz":{"aws:username":"a"}}`),
			`statement 1 ("C"): Condition: StringEqualz: unknown condition operator`},
		{"Null has no IfExists", bkt, withCond(`{"NullIfExists":{"aws:username":"true"}}`),
			`statement 1 ("C"): Condition: NullIfExists: unknown condition operator`},
		{"unknown condition key", bkt, withCond(`{"StringEquals":{"aws:nosuch":"a"}}`),
			`statement 1 ("C"): Condition: StringEquals: aws:nosuch: unknown condition key`},
		{"bad CIDR", bkt, withCond(`{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","1.2.3.0/33"]}}`),
			`statement 1 ("C"): Condition: IpAddress: aws:SourceIp: invalid CIDR block "1.2.3.0/33"`},
		{"bad IP", bkt, withCond(`{"NotIpAddress":{"aws:SourceIp":"1.2.3"}}`),
			`statement 1 ("C"): Condition: NotIpAddress: aws:SourceIp: invalid IP address "1.2.3"`},
		{"bad date", bkt, withCond(`{"DateLessThan":{"aws:CurrentTime":"next tuesday"}}`),
			`statement 1 ("C"): Condition: DateLessThan: aws:CurrentTime: invalid date "next tuesday" (want ISO 8601, such as 2026-01-02T15:04:05Z, or epoch seconds)`},
		{"bad number", bkt, withCond(`{"NumericLessThan":{"s3:max-keys":"0x10"}}`),
			`statement 1 ("C"): Condition: NumericLessThan: s3:max-keys: invalid number "0x10"`},
		{"NaN", bkt, withCond(`{"NumericLessThan":{"s3:max-keys":"NaN"}}`),
			`statement 1 ("C"): Condition: NumericLessThan: s3:max-keys: invalid number "NaN"`},
		{"bad bool", bkt, withCond(`{"Bool":{"aws:SecureTransport":"yes"}}`),
			`statement 1 ("C"): Condition: Bool: aws:SecureTransport: invalid boolean "yes" (want "true" or "false")`},
		{"bad ARN pattern", bkt, withCond(`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam:*:user/x"}}`),
			`statement 1 ("C"): Condition: ArnLike: aws:PrincipalArn: invalid ARN "arn:aws:iam:*:user/x": want arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`},
		{"null value", bkt, withCond(`{"StringEquals":{"aws:username":null}}`),
			`statement 1 ("C"): Condition: StringEquals: aws:username: must be a string, number or boolean, or an array of them`},
		{"empty value list", bkt, withCond(`{"StringEquals":{"aws:username":[]}}`),
			`statement 1 ("C"): Condition: StringEquals: aws:username: must not be an empty array`},
		{"no keys under operator", bkt, withCond(`{"StringEquals":{}}`),
			`statement 1 ("C"): Condition: StringEquals: must name at least one condition key`},
		{"condition not an object", bkt, withCond(`["StringEquals"]`), `statement 1 ("C"): Condition: must be a JSON object`},
		{"unknown statement element", idt, stmt(`{"effect":"Allow","Action":"s3:*","Resource":"*"}`),
			`statement 1: effect: unknown element (names are case-sensitive); did you mean "Effect"?`},
		{"misspelt statement element", idt, stmt(`{"Efect":"Allow","Action":"s3:*","Resource":"*"}`),
			`statement 1: Efect: unknown element (names are case-sensitive); did you mean "Effect"?`},
		{"misspelt top-level element", idt, `{"Statment":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`,
			`Statment: unknown element (names are case-sensitive); did you mean "Statement"?`},
		{"duplicate element", idt, stmt(`{"Effect":"Deny","Effect":"Allow","Action":"s3:*","Resource":"*"}`),
			`statement 1: statement has "Effect" twice`},
		{"sid not a string", idt, stmt(`{"Sid":1,"Effect":"Allow","Action":"s3:*","Resource":"*"}`), `statement 1: Sid: must be a string`},
		{"statement not an object", idt, stmt(`"Allow"`), `statement 1: statement must be a JSON object`},
		{"bad version", idt, `{"Version":"2020-01-01","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`,
			`Version: must be "2012-10-17" or "2008-10-17"`},
		{"no statement", idt, `{"Version":"2012-10-17"}`, `Statement: missing`},
		{"empty statement", idt, `{"Statement":[]}`, `Statement: must contain at least one statement`},
		{"unknown top-level element", idt, `{"Statement":[],"Comment":"x"}`, `Comment: unknown element (names are case-sensitive)`},
		{"not an object", idt, `[]`, `policy must be a JSON object`},
		{"invalid JSON", idt, `{"Statement":`, `invalid JSON at line 1, column 13: unexpected end of JSON input`},
		{"missing comma, line and column", idt, "{\n  \"Statement\": {\n    \"Action\": [\n      \"s3:GetObject\"\n      \"s3:ListBucket\"\n",
			`invalid JSON at line 5, column 7: invalid character '"' after array element`},
		{"end of input, line and column", idt, "{\"Statement\": [\n  {\"Effect\": \"Allow\"}\n\n", `invalid JSON at line 2, column 21: unexpected end of JSON input`},
		{"too large", idt, `{"Id":"` + strings.Repeat("x", policy.MaxSize) + `"}`, `policy is larger than 20480 bytes`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parse := policy.ParseIdentity
			if tc.bucket {
				parse = policy.ParseBucket
			}
			p, err := parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tc.want)
			}
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Errorf("error is %T, not *policy.Error", err)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	docs := []string{
		// Statement as an object, no Version, no Sid.
		`{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`,
		// Operator names and condition keys are case-insensitive; set
		// qualifiers combine with IfExists; numbers and booleans as JSON.
		`{"Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{
			"stringequals":{"AWS:USERNAME":"a"},
			"ForAnyValue:StringLikeIfExists":{"aws:useragent":"x*"},
			"NumericLessThan":{"s3:max-keys":[10, 2.5e1]},
			"Bool":{"aws:SecureTransport":true},
			"DateGreaterThan":{"aws:CurrentTime":["2026-01-02","2026-01-02T15:04:05.123+02:00","20260102T150405Z"]},
			"StringEquals":{"aws:PrincipalTag/team":"nix","s3:x-amz-acl":"private"}}}}`,
		// Principal types nixbucket never matches are still valid.
		`{"Statement":{"Effect":"Deny","Principal":{"Service":"cloudfront.amazonaws.com","CanonicalUser":"abc"},"Action":"s3:*","Resource":"*"}}`,
	}
	for i, d := range docs {
		parse := policy.ParseIdentity
		if strings.Contains(d, `"Principal"`) {
			parse = policy.ParseBucket
		}
		if _, err := parse([]byte(d)); err != nil {
			t.Errorf("doc %d: %v", i, err)
		}
	}
}

func TestCheckBucket(t *testing.T) {
	cases := []struct {
		resource string
		ok       bool
	}{
		{"*", true},
		{"arn:aws:s3:::example-nix-cache", true},
		{"arn:aws:s3:::example-nix-cache/*", true},
		{"arn:aws:s3:::example-nix-cache/nar/*.nar", true},
		{"arn:aws:s3:::example-*", true},
		{"arn:aws:s3:::*/*", true},
		{"arn:aws:s3:::example-nix-cach?/x", true},
		{"arn:aws:s3:::${aws:username}/x", true},
		{"arn:aws:s3:::other", false},
		{"arn:aws:s3:::other/*", false},
		{"arn:aws:s3:::example-nix-cache-2/*", false},
		{"arn:aws:s3:::example-nix-cach", false},
	}
	for _, tc := range cases {
		d := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-nix-cache/*"},
			{"Sid":"S","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"` + tc.resource + `"}]}`
		p, err := policy.ParseBucket([]byte(d))
		if err != nil {
			t.Fatalf("%s: %v", tc.resource, err)
		}
		err = p.CheckBucket(bucket)
		if (err == nil) != tc.ok {
			t.Errorf("CheckBucket with %s: %v, want ok=%v", tc.resource, err, tc.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), `statement 2 ("S"): Resource: `) {
			t.Errorf("error does not name the statement: %v", err)
		}
	}
}

func TestDecideNarrowed(t *testing.T) {
	upload, err := policy.ParseIdentity(seed(t, "seed-upload.iam.json"))
	if err != nil {
		t.Fatal(err)
	}
	readOnly, err := policy.ParseIdentity([]byte(`{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
		{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-nix-cache/secret/*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	put := rq(uploader, "s3:PutObject", policy.ObjectARN(bucket, "x"))
	for _, tc := range []struct {
		narrow *policy.Policy
		req    *policy.Request
		want   policy.Decision
	}{
		{nil, put, policy.Allow},
		{readOnly, put, policy.Deny},
		{readOnly, get(uploader, "x"), policy.Allow},
		{readOnly, get(uploader, "secret/x"), policy.ExplicitDeny},
		{readOnly, rq(uploader, "s3:GetObject", policy.ObjectARN("other", "x")), policy.Deny},
	} {
		if got := policy.DecideNarrowed(upload, tc.narrow, nil, tc.req); got != tc.want {
			t.Errorf("DecideNarrowed(%s %s) = %v, want %v", tc.req.Action, tc.req.Resource, got, tc.want)
		}
	}
}

func TestRequestValue(t *testing.T) {
	r := get(alice, "k", ip("::ffff:192.0.2.1"), secure(true), at("2026-01-02T03:04:05Z"), prefix(""))
	for key, want := range map[string]string{
		"aws:SourceIp":         "192.0.2.1",
		"AWS:SECURETRANSPORT":  "true",
		"aws:CurrentTime":      "2026-01-02T03:04:05Z",
		"aws:EpochTime":        "1767323045",
		"aws:username":         "alice",
		"aws:PrincipalArn":     "arn:aws:iam::000000000000:user/alice",
		"aws:PrincipalAccount": "000000000000",
		"s3:prefix":            "",
	} {
		if got, ok := r.Value(key); !ok || got != want {
			t.Errorf("Value(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
	for _, key := range []string{"s3:delimiter", "aws:UserAgent", "aws:SourceVpce", "aws:nosuch"} {
		if v, ok := r.Value(key); ok {
			t.Errorf("Value(%q) = %q, present", key, v)
		}
	}
	if v, ok := get(anonymous, "k").Value("aws:username"); ok {
		t.Errorf("anonymous aws:username = %q", v)
	}
}

func TestNilPolicyDenies(t *testing.T) {
	var nilPolicy *policy.Policy
	if nilPolicy.Evaluate(get(alice, "k")) != policy.Deny {
		t.Error("nil policy does not deny")
	}
}

// TestNeedsContext: only conditions and policy variables read the
// request context, so callers may skip building it for the others.
func TestNeedsContext(t *testing.T) {
	stmt := func(extra string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"` + extra + `}]}`
	}
	cases := []struct {
		name, doc string
		want      bool
	}{
		{"plain", stmt(""), false},
		{"condition", stmt(`,"Condition":{"Bool":{"aws:SecureTransport":"true"}}`), true},
		{"variable", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}]}`, true},
		{"old version: literal text", `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}]}`, false},
	}
	for _, tc := range cases {
		p, err := policy.ParseBucket([]byte(tc.doc))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := p.NeedsContext(); got != tc.want {
			t.Errorf("%s: NeedsContext() = %v, want %v", tc.name, got, tc.want)
		}
	}
	var nilPolicy *policy.Policy
	if nilPolicy.NeedsContext() {
		t.Error("a nil policy needs a context")
	}
}
