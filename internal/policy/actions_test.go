package policy

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

func TestUnknownPolicyActionRefused(t *testing.T) {
	doc := func(actions string) []byte {
		return []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"S","Effect":"Allow","Action":` + actions + `,"Resource":"*"}]}`)
	}
	tests := []struct {
		actions string
		bad     string // the action the error must name; "" = valid
	}{
		{`"s3:GetObject"`, ""},
		{`"S3:getobject"`, ""},
		{`"s3:Get*"`, ""},
		{`"s3:*"`, ""},
		{`"*"`, ""},
		{`"s3:List?ucket"`, ""},
		{`"s3:*MultipartUpload*"`, ""},
		{`["s3:GetObject","iam:GetUser","ec2:*"]`, ""}, // other services: not ours to judge
		{`"s3*:Get*"`, ""},
		{`"s3:GetObjekt"`, "s3:GetObjekt"},
		{`["s3:GetObject","s3:PutObjekt"]`, "s3:PutObjekt"},
		{`"s3:HeadBucket"`, "s3:HeadBucket"},
		{`"s3:Frob*"`, "s3:Frob*"},
		{`"s3:Get?"`, "s3:Get?"},
		{`"nixbucket:Pin"`, ""},
		{`"nixbucket:GetMetrics"`, ""},
		{`"nixbucket:Get*"`, ""},
		{`"NixBucket:pin"`, ""},
		{`"nixbucket:*"`, ""},
		{`"nixbucket:P*"`, ""},
		{`["s3:GetObject","nixbucket:Pin"]`, ""},
		{`"nixbucket:Pinn"`, "nixbucket:Pinn"},
		{`"nixbucket:GetObject"`, "nixbucket:GetObject"},
		{`"nixbucket:X*"`, "nixbucket:X*"},
	}
	for _, tc := range tests {
		for _, field := range []string{"Action", "NotAction"} {
			d := doc(tc.actions)
			if field == "NotAction" {
				d = []byte(strings.Replace(string(d), `"Action"`, `"NotAction"`, 1))
			}
			p, err := ParseIdentity(d)
			if err != nil {
				t.Fatalf("%s %s: parse: %v", field, tc.actions, err)
			}
			err = p.CheckActions()
			if tc.bad == "" {
				if err != nil {
					t.Errorf("%s %s: %v", field, tc.actions, err)
				}
				continue
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Field != field || pe.Statement != 1 || !strings.Contains(err.Error(), `"`+tc.bad+`"`) {
				t.Errorf("%s %s: error %v, want one naming %q in %s", field, tc.actions, err, tc.bad, field)
			}
		}
	}
}

// TestUnknownActionSuggestsNearest: a misspelt action is refused with the
// action that was meant, when one is near enough to be a typo.
func TestUnknownActionSuggestsNearest(t *testing.T) {
	for _, tc := range []struct{ action, want string }{
		{"s3:PutObjet", `invalid action "s3:PutObjet": there is no such S3 action; did you mean "s3:PutObject"?`},
		{"s3:getobjekt", `invalid action "s3:getobjekt": there is no such S3 action; did you mean "s3:GetObject"?`},
		{"nixbucket:Pinn", `invalid action "nixbucket:Pinn": there is no such nixbucket action; did you mean "nixbucket:Pin"?`},
		{"s3:Frobnicate", `invalid action "s3:Frobnicate": there is no such S3 action`},
	} {
		p, err := ParseIdentity([]byte(`{"Statement":{"Effect":"Allow","Action":"` + tc.action + `","Resource":"*"}}`))
		if err != nil {
			t.Fatal(err)
		}
		err = p.CheckActions()
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error ending %q", tc.action, err, tc.want)
		}
	}
}

// TestSharedPolicyFixturesHaveKnownActions: the policies users copy from
// the docs stay valid.
func TestSharedPolicyFixturesHaveKnownActions(t *testing.T) {
	dir := testenv.SharedDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "fixtures", "policies", "*.json"))
	local, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	if len(files) == 0 {
		t.Fatalf("no policy fixtures under %s", dir)
	}
	for _, f := range append(files, local...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParseBucket(b)
		if err != nil {
			if p, err = ParseIdentity(b); err != nil {
				continue // testdata holds invalid documents on purpose
			}
		}
		if err := p.CheckActions(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestMayAllow(t *testing.T) {
	anon := &Principal{}
	alice := User("000000000000", "alice")
	bucket := func(stmt string) *Policy {
		p, err := ParseBucket([]byte(`{"Version":"2012-10-17","Statement":[` + stmt + `]}`))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	prefix := ObjectARN("b", "")
	tests := []struct {
		name string
		p    *Policy
		who  *Principal
		want bool
	}{
		{"nil", nil, anon, false},
		{"public read", bucket(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}`), anon, false},
		{"public delete", bucket(`{"Effect":"Allow","Principal":"*","Action":"s3:Delete*","Resource":"arn:aws:s3:::b/tmp/*"}`), anon, true},
		{"delete for alice only", bucket(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/alice"},"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*"}`), anon, false},
		{"delete for alice, alice", bucket(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/alice"},"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*"}`), &alice, true},
		{"conditional delete", bucket(`{"Effect":"Allow","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}`), anon, true},
		{"NotAction", bucket(`{"Effect":"Allow","Principal":"*","NotAction":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}`), anon, true},
		{"bucket resource only", bucket(`{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b"}`), anon, false},
		{"deny only", bucket(`{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}`), anon, false},
	}
	for _, tc := range tests {
		if got := tc.p.MayAllow(tc.who, "s3:DeleteObject", prefix); got != tc.want {
			t.Errorf("%s: MayAllow = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestNixbucketActionsGranted: "*" and "nixbucket:*" grant nixbucket:Pin;
// "s3:*" (another service) does not.
func TestNixbucketActionsGranted(t *testing.T) {
	for action, want := range map[string]Decision{
		`"*"`:             Allow,
		`"nixbucket:*"`:   Allow,
		`"nixbucket:Pin"`: Allow,
		`"NIXBUCKET:pin"`: Allow,
		`"s3:*"`:          Deny,
	} {
		p, err := ParseIdentity([]byte(`{"Statement":{"Effect":"Allow","Action":` + action + `,"Resource":"arn:aws:s3:::cache"}}`))
		if err != nil {
			t.Fatal(err)
		}
		r := &Request{Action: ActionPin, Resource: "arn:aws:s3:::cache", Principal: User("000000000000", "ci")}
		if got := Decide(p, nil, r); got != want {
			t.Errorf("Action %s: %v for nixbucket:Pin, want %v", action, got, want)
		}
	}
}

// TestMayAllowFor: a conditional Allow counts only for a request its
// conditions hold for, and a Deny of every object that holds for the
// request leaves nothing allowed; a Deny of some objects does not.
func TestMayAllowFor(t *testing.T) {
	bucket := func(stmts ...string) *Policy {
		p, err := ParseBucket([]byte(`{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	const (
		public   = `{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}`
		intranet = `{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}`
		tlsOnly  = `{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}`
		notTmp   = `{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","NotResource":"arn:aws:s3:::b/tmp/*"}`
		allObj   = `{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","NotResource":"arn:aws:s3:::other/*"}`
		oneKey   = `{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/secret.narinfo"}`
		oneChar  = `{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/?"}`
	)
	inside := netip.MustParseAddr("10.1.2.3")
	outside := netip.MustParseAddr("192.0.2.7")
	tests := []struct {
		name   string
		p      *Policy
		ip     netip.Addr
		tls    bool
		may    bool
		denied bool
	}{
		{"public", bucket(public), outside, false, true, false},
		{"intranet, from inside", bucket(intranet), inside, false, true, false},
		{"intranet, from outside", bucket(intranet), outside, false, false, false},
		{"TLS only, over TLS", bucket(public, tlsOnly), outside, true, true, false},
		{"TLS only, over plain HTTP", bucket(public, tlsOnly), outside, false, true, true},
		{"deny all but tmp", bucket(public, notTmp), outside, false, true, false},
		{"deny all objects by NotResource", bucket(public, allObj), outside, false, true, true},
		{"deny one key", bucket(public, oneKey), outside, false, true, false},
		{"deny one-character keys", bucket(public, oneChar), outside, false, true, false},
	}
	prefix := ObjectARN("b", "")
	for _, tc := range tests {
		r := &Request{Action: "s3:GetObject", Context: Context{SourceIP: tc.ip, SecureTransport: tc.tls}}
		if got := tc.p.MayAllowFor(r, prefix); got != tc.may {
			t.Errorf("%s: MayAllowFor = %v, want %v", tc.name, got, tc.may)
		}
		if got := tc.p.DeniesAllFor(r, prefix); got != tc.denied {
			t.Errorf("%s: DeniesAllFor = %v, want %v", tc.name, got, tc.denied)
		}
	}
}
