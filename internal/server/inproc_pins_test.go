package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
)

// pushPath uploads a NAR and its narinfo for a store path of bucket, as a
// push does, and returns the store path.
func (e *env) pushPath(bucket string, n int) string {
	e.t.Helper()
	nar := bytes.Repeat(fmt.Appendf(nil, "NAR %d ", n), 100)
	sum := sha256.Sum256(nar)
	url := "nar/" + nixhash.SHA256(sum).Nix32() + ".nar"
	e.put(bucket, url, nar)
	hash := []byte("0123456789abcdfghijklmnpqrsvwxyz")
	hash[31] = "0123456789abcdfghijklmnpqrsvwxyz"[n%32]
	hash[30] = "0123456789abcdfghijklmnpqrsvwxyz"[n/32%32]
	ni := narinfo.NarInfo{
		StorePath: "/nix/store/" + string(hash) + fmt.Sprintf("-app-%d", n), URL: url, Compression: "none",
		FileHash: nixhash.SHA256(sum).String(), FileSize: uint64(len(nar)),
		NarHash: nixhash.SHA256(sum).String(), NarSize: uint64(len(nar)),
	}
	e.put(bucket, string(hash)+".narinfo", []byte(ni.String()))
	return ni.StorePath
}

// pinAnswer is a pins API response: a pin, a list of them, or an error.
type pinAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (a pinAnswer) pin(t *testing.T) (p struct {
	Name      string
	StorePath string
	Paths     []string
	Keep      int
	Updated   time.Time
}) {
	t.Helper()
	if err := json.Unmarshal(a.body, &p); err != nil {
		t.Fatalf("pin JSON %s: %v", a.body, err)
	}
	return p
}

// wantError fails unless a is the JSON error code with status.
func (a pinAnswer) wantError(t *testing.T, what string, status int, code string) {
	t.Helper()
	var e struct{ Error, Code string }
	if err := json.Unmarshal(a.body, &e); err != nil || a.status != status || e.Code != code || e.Error == "" {
		t.Errorf("%s: %d %s, want %d with JSON code %s", what, a.status, a.body, status, code)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
}

// pinReq sends one pins API request; auth signs or authenticates it.
func (e *env) pinReq(method, path, body string, auth func(*http.Request, []byte)) pinAnswer {
	e.t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	r := e.request(method, e.ts.URL+"/-/api/buckets/"+path, b)
	r.Header.Del("User-Agent")
	if auth != nil {
		auth(r, b)
	}
	status, hdr, out := e.do(r)
	return pinAnswer{status, hdr, out}
}

// sigv4As signs the whole body's SHA-256 with a key.
func sigv4As(t *testing.T, id, secret string) func(*http.Request, []byte) {
	return func(r *http.Request, b []byte) {
		sum := sha256.Sum256(b)
		signAs(t, r, id, secret, hex.EncodeToString(sum[:]), time.Now())
	}
}

func bearer(token string) func(*http.Request, []byte) {
	return func(r *http.Request, _ []byte) { r.Header.Set("Authorization", "Bearer "+token) }
}

// TestPinsAPI: pins over HTTP, with callers known by signature, token or
// Basic, decided by policy (nixbucket:Pin to write, s3:ListBucket to
// read), and JSON errors with their statuses.
func TestPinsAPI(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("pins")
	p := []string{e.pushPath(b, 1), e.pushPath(b, 2), e.pushPath(b, 3)}
	root := sigv4As(t, e.id, e.secret)
	body := func(sp string, keep int) string {
		if keep == 0 {
			return fmt.Sprintf(`{"storePath": %q}`, sp)
		}
		return fmt.Sprintf(`{"storePath": %q, "keep": %d}`, sp, keep)
	}

	// Root, SigV4 with the payload's hash.
	a := e.pinReq("PUT", b+"/pins/release", body(p[0], 0), root)
	if a.status != 200 {
		t.Fatalf("PUT pin as root: %d %s", a.status, a.body)
	}
	if got := a.pin(t); got.Name != "release" || got.StorePath != p[0] || len(got.Paths) != 1 || got.Keep != 1 || time.Since(got.Updated) > time.Hour {
		t.Errorf("PUT pin answered %s", a.body)
	}
	// A body other than the one signed is refused, and changes nothing.
	r := e.request("PUT", e.ts.URL+"/-/api/buckets/"+b+"/pins/release", []byte(body(p[1], 0)))
	e.signBody(r, []byte(body(p[2], 0)))
	status, hdr, out := e.do(r)
	pinAnswer{status, hdr, out}.wantError(t, "PUT with a body not the one signed", 400, "XAmzContentSHA256Mismatch")
	if got := e.pinReq("GET", b+"/pins/release", "", root).pin(t); got.StorePath != p[0] {
		t.Errorf("after a refused PUT the pin is %+v", got)
	}

	// Users: ci may pin; reader may only list the bucket.
	pol := func(actions string) []byte {
		return fmt.Appendf(nil, `{"Statement":[{"Effect":"Allow","Action":[%s],"Resource":["arn:aws:s3:::%s","arn:aws:s3:::%s/*"]}]}`, actions, b, b)
	}
	ci, err := e.srv.Access().CreateUser(ctx(t), "ci", pol(`"nixbucket:Pin","s3:ListBucket","s3:PutObject"`))
	if err != nil {
		t.Fatal(err)
	}
	reader, err := e.srv.Access().CreateUser(ctx(t), "reader", pol(`"s3:ListBucket","s3:GetObject"`))
	if err != nil {
		t.Fatal(err)
	}
	ciToken, _, err := e.srv.Access().CreateToken(ctx(t), "ci", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	readerToken, _, err := e.srv.Access().CreateToken(ctx(t), "reader", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A token narrowed to reads cannot pin, though its user may.
	narrowToken, _, err := e.srv.Access().CreateToken(ctx(t), "ci", 0, pol(`"s3:ListBucket"`))
	if err != nil {
		t.Fatal(err)
	}

	// ci moves its pin, keeping two revisions; with a token the move
	// keeps the pin's N.
	if a := e.pinReq("PUT", b+"/pins/ci", body(p[0], 2), sigv4As(t, ci.ID, ci.Secret)); a.status != 200 {
		t.Fatalf("PUT as ci (SigV4): %d %s", a.status, a.body)
	}
	if a := e.pinReq("PUT", b+"/pins/ci", body(p[1], 0), bearer(ciToken)); a.status != 200 {
		t.Fatalf("PUT as ci (Bearer): %d %s", a.status, a.body)
	}
	basic := func(user, pass string) func(*http.Request, []byte) {
		return func(r *http.Request, _ []byte) { r.SetBasicAuth(user, pass) }
	}
	a = e.pinReq("PUT", b+"/pins/ci", body(p[2], 0), basic("ci", ciToken))
	if got := a.pin(t); a.status != 200 || got.Keep != 2 || len(got.Paths) != 2 || got.Paths[0] != p[2] || got.Paths[1] != p[1] {
		t.Errorf("moved pin with keep 2 (Basic): %d %s, want paths %s %s", a.status, a.body, p[2], p[1])
	}

	for _, tc := range []struct {
		what string
		auth func(*http.Request, []byte)
	}{
		{"reader (SigV4)", sigv4As(t, reader.ID, reader.Secret)},
		{"reader (Bearer)", bearer(readerToken)},
		{"reader (Basic key)", basic(reader.ID, reader.Secret)},
		{"ci with a token narrowed to reads", bearer(narrowToken)},
	} {
		e.pinReq("PUT", b+"/pins/ci", body(p[0], 0), tc.auth).wantError(t, "PUT as "+tc.what, 403, "AccessDenied")
		e.pinReq("DELETE", b+"/pins/ci", "", tc.auth).wantError(t, "DELETE as "+tc.what, 403, "AccessDenied")
		a := e.pinReq("GET", b+"/pins", "", tc.auth)
		var list []struct{ Name string }
		if err := json.Unmarshal(a.body, &list); a.status != 200 || err != nil || len(list) != 2 || list[0].Name != "ci" || list[1].Name != "release" {
			t.Errorf("GET pins as %s: %d %s", tc.what, a.status, a.body)
		}
	}
	// Anonymous callers are asked for credentials; bad ones are refused.
	a = e.pinReq("PUT", b+"/pins/ci", body(p[0], 0), nil)
	a.wantError(t, "anonymous PUT", 401, "Unauthorized")
	if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("anonymous PUT: WWW-Authenticate %q", a.header.Get("WWW-Authenticate"))
	}
	e.pinReq("GET", b+"/pins", "", nil).wantError(t, "anonymous GET", 401, "Unauthorized")
	e.pinReq("PUT", b+"/pins/ci", body(p[0], 0), bearer(ciToken+"x")).wantError(t, "wrong token", 403, "AccessDenied")
	e.pinReq("PUT", b+"/pins/ci", body(p[0], 0), sigv4As(t, ci.ID, "wrong"+ci.Secret)).wantError(t, "wrong secret", 403, "SignatureDoesNotMatch")

	// Not found: bucket, pin, narinfo (naming the path).
	e.pinReq("GET", "nope/pins", "", root).wantError(t, "GET pins of a missing bucket", 404, "NoSuchBucket")
	e.pinReq("PUT", "nope/pins/x", body(p[0], 0), root).wantError(t, "PUT in a missing bucket", 404, "NoSuchBucket")
	// Others learn nothing of buckets their policy does not cover.
	e.pinReq("GET", "nope/pins", "", bearer(ciToken)).wantError(t, "GET pins of a missing bucket as ci", 403, "AccessDenied")
	e.pinReq("GET", b+"/pins/nope", "", root).wantError(t, "GET a missing pin", 404, "NoSuchPin")
	e.pinReq("DELETE", b+"/pins/nope", "", root).wantError(t, "DELETE a missing pin", 404, "NoSuchPin")
	missing := "/nix/store/0123456789abcdfghijklmnpqrsvwxyy-not-pushed"
	a = e.pinReq("PUT", b+"/pins/ci", body(missing, 0), root)
	a.wantError(t, "PUT of a path without narinfo", 404, "NoSuchNarinfo")
	if !strings.Contains(string(a.body), missing) {
		t.Errorf("PUT of a path without narinfo: %s does not name it", a.body)
	}

	// Bad requests (with a token: the bodies here are not what matters).
	for what, tc := range map[string]struct{ path, body, code string }{
		"not JSON":          {b + "/pins/x", `storePath=x`, "MalformedJSON"},
		"an unknown field":  {b + "/pins/x", `{"storePath": "` + p[0] + `", "keeps": 2}`, "MalformedJSON"},
		"two values":        {b + "/pins/x", `{"storePath": "` + p[0] + `"} {}`, "MalformedJSON"},
		"no storePath":      {b + "/pins/x", `{"keep": 2}`, "InvalidArgument"},
		"a bad store path":  {b + "/pins/x", `{"storePath": "/tmp/x"}`, "InvalidArgument"},
		"a negative keep":   {b + "/pins/x", body(p[0], -1), "InvalidArgument"},
		"a bad pin name":    {b + "/pins/.hidden", body(p[0], 0), "InvalidArgument"},
		"an escaped slash":  {b + "/pins/a%2Fb", body(p[0], 0), "InvalidArgument"},
		"a nested resource": {b + "/pins/a/b", body(p[0], 0), "NotFound"},
	} {
		status := 400
		if tc.code == "NotFound" {
			status = 404
		}
		e.pinReq("PUT", tc.path, tc.body, bearer(ciToken)).wantError(t, "PUT with "+what, status, tc.code)
	}
	big := `{"storePath": "` + p[0] + `"` + strings.Repeat(" ", 70<<10) + `}`
	e.pinReq("PUT", b+"/pins/x", big, root).wantError(t, "PUT of a body over 64 KiB", 413, "BodyTooLarge")
	e.pinReq("POST", b+"/pins/x", body(p[0], 0), root).wantError(t, "POST", 405, "MethodNotAllowed")
	e.pinReq("PUT", b+"/pins", body(p[0], 0), root).wantError(t, "PUT on the list", 405, "MethodNotAllowed")

	// Remove.
	if a := e.pinReq("DELETE", b+"/pins/ci", "", bearer(ciToken)); a.status != 204 {
		t.Fatalf("DELETE as ci: %d %s", a.status, a.body)
	}
	e.pinReq("GET", b+"/pins/ci", "", root).wantError(t, "GET a removed pin", 404, "NoSuchPin")
}
