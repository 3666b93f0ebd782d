package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// pinAnswer is what one curl request to the pins API got back.
type pinAnswer struct {
	Status int
	Body   string
}

// pinCurl sends one pins API request with curl: method on
// /-/api/buckets/PATH with body (none when empty) and the authentication
// arguments auth.
func pinCurl(t *testing.T, s *Server, method, path, body string, auth ...string) pinAnswer {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "body")
	argv := []string{"-sS", "-X", method, "-o", out, "-w", "%{http_code}"}
	if body != "" {
		argv = append(argv, "-H", "Content-Type: application/json", "--data-binary", body)
	}
	argv = append(append(argv, auth...), s.Endpoint+"/-/api/buckets/"+path)
	r := runCmd(t, s.clientEnv(), dir, "curl", argv...)
	if r.Err != nil {
		t.Fatalf("curl %s %s: %v\n%s", method, path, r.Err, r.Stderr)
	}
	var a pinAnswer
	if _, err := fmt.Sscan(r.Stdout, &a.Status); err != nil {
		t.Fatalf("curl %s %s: status %q: %v", method, path, r.Stdout, err)
	}
	b, _ := os.ReadFile(out)
	a.Body = string(b)
	return a
}

// pinPaths returns the paths of a pin answer, failing unless it is a 200.
func pinPaths(t *testing.T, what string, a pinAnswer) []string {
	t.Helper()
	var p struct {
		Paths []string
		Keep  int
	}
	if err := json.Unmarshal([]byte(a.Body), &p); a.Status != 200 || err != nil {
		t.Fatalf("%s: %d %s", what, a.Status, a.Body)
	}
	return p.Paths
}

// wantPinError fails unless a is the JSON error code with status.
func wantPinError(t *testing.T, what string, a pinAnswer, status int, code string) {
	t.Helper()
	var e struct{ Error, Code string }
	if err := json.Unmarshal([]byte(a.Body), &e); err != nil || a.Status != status || e.Code != code {
		t.Errorf("%s: %d %s, want %d %s", what, a.Status, a.Body, status, code)
	}
}

var credentialRE = regexp.MustCompile(`(?m)^aws_(access_key_id|secret_access_key) = (\S+)$`)

// TestPinsNix: CI pins what it pushed with real Nix 2.8. Three closures are
// pushed with nix copy; a user whose policy grants nixbucket:Pin pins them
// over HTTP with curl — a Bearer token, netrc Basic, an S3 SigV4 signature
// — moving the pin with keep 2, so it keeps the two newest; a user without
// nixbucket:Pin is refused (403) but may list the pins; the admin CLI sees
// the same pins and pins nix-build's result link.
func TestPinsNix(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	cache := nixCacheURL(s, nixCacheBucket)
	var gens []*nixClosure
	for i := range 3 {
		c := nixBuildClosure(t, 2, 4, fmt.Sprintf("pin%d", i))
		nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s), "--to", cache, c.Top)
		gens = append(gens, c)
	}

	dir := t.TempDir()
	policy := func(name, actions string) string {
		p := filepath.Join(dir, name+".json")
		doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[` + actions +
			`],"Resource":["arn:aws:s3:::` + nixCacheBucket + `","arn:aws:s3:::` + nixCacheBucket + `/*"]}]}`
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	type user struct{ id, secret, token string }
	newUser := func(name, actions string) user {
		out := nixAdmin(t, s, "user", "create", name, "--policy", policy(name, actions))
		m := credentialRE.FindAllStringSubmatch(out, -1)
		if len(m) != 2 {
			t.Fatalf("user create %s printed %q", name, out)
		}
		token := strings.TrimSpace(nixAdmin(t, s, "token", "create", "--user", name))
		return user{m[0][2], m[1][2], token}
	}
	ci := newUser("ci", `"s3:GetObject","s3:PutObject","s3:ListBucket","nixbucket:Pin"`)
	reader := newUser("reader", `"s3:GetObject","s3:ListBucket"`)

	netrc := func(login, password string) []string {
		p := filepath.Join(t.TempDir(), "netrc")
		host := strings.TrimPrefix(s.Endpoint, "http://")
		host, _, _ = strings.Cut(host, ":")
		if err := os.WriteFile(p, fmt.Appendf(nil, "machine %s login %s password %s\n", host, login, password), 0o600); err != nil {
			t.Fatal(err)
		}
		return []string{"--netrc-file", p}
	}
	bearer := func(token string) []string { return []string{"-H", "Authorization: Bearer " + token} }
	// sigv4 signs the body's own SHA-256, so the server checks it.
	sigv4 := func(u user, body string) []string {
		sum := sha256.Sum256([]byte(body))
		return []string{"--aws-sigv4", "aws:amz:" + s.Region + ":s3", "--user", u.id + ":" + u.secret,
			"-H", "x-amz-content-sha256: " + hex.EncodeToString(sum[:])}
	}
	pin := func(top string, keep int) string {
		if keep == 0 {
			return fmt.Sprintf(`{"storePath": %q}`, top)
		}
		return fmt.Sprintf(`{"storePath": %q, "keep": %d}`, top, keep)
	}
	const path = nixCacheBucket + "/pins/release"

	// CI pins generation 0 with its token, then moves the pin with keep 2
	// over netrc Basic (the token as password) and with an S3 signature.
	b := pin(gens[0].Top, 0)
	if got := pinPaths(t, "PUT as ci (Bearer)", pinCurl(t, s, "PUT", path, b, bearer(ci.token)...)); !slices.Equal(got, []string{gens[0].Top}) {
		t.Errorf("pin after PUT as ci: %v", got)
	}
	b = pin(gens[1].Top, 2)
	if got := pinPaths(t, "PUT as ci (netrc)", pinCurl(t, s, "PUT", path, b, netrc("ci", ci.token)...)); !slices.Equal(got, []string{gens[1].Top, gens[0].Top}) {
		t.Errorf("pin moved with keep 2: %v, want generations 1 and 0", got)
	}
	b = pin(gens[2].Top, 0)
	if got := pinPaths(t, "PUT as ci (SigV4)", pinCurl(t, s, "PUT", path, b, sigv4(ci, b)...)); !slices.Equal(got, []string{gens[2].Top, gens[1].Top}) {
		t.Errorf("pin moved again: %v, want the two newest, generations 2 and 1", got)
	}

	// Without nixbucket:Pin: refused, whatever the credentials; reads pass.
	b = pin(gens[0].Top, 0)
	wantPinError(t, "PUT as reader (SigV4)", pinCurl(t, s, "PUT", path, b, sigv4(reader, b)...), 403, "AccessDenied")
	wantPinError(t, "PUT as reader (Bearer)", pinCurl(t, s, "PUT", path, b, bearer(reader.token)...), 403, "AccessDenied")
	wantPinError(t, "PUT as reader (netrc key)", pinCurl(t, s, "PUT", path, b, netrc(reader.id, reader.secret)...), 403, "AccessDenied")
	wantPinError(t, "DELETE as reader", pinCurl(t, s, "DELETE", path, "", bearer(reader.token)...), 403, "AccessDenied")
	wantPinError(t, "anonymous PUT", pinCurl(t, s, "PUT", path, b), 401, "Unauthorized")
	if got := pinPaths(t, "GET as reader", pinCurl(t, s, "GET", path, "", sigv4(reader, "")...)); !slices.Equal(got, []string{gens[2].Top, gens[1].Top}) {
		t.Errorf("GET as reader: %v", got)
	}
	a := pinCurl(t, s, "GET", nixCacheBucket+"/pins", "", netrc("reader", reader.token)...)
	if a.Status != 200 || !strings.Contains(a.Body, `"name": "release"`) {
		t.Errorf("GET pins as reader: %d %s", a.Status, a.Body)
	}
	// A path never pushed is refused, named.
	notPushed := "/nix/store/" + strings.Repeat("0", 32) + "-never-pushed"
	a = pinCurl(t, s, "PUT", path, pin(notPushed, 0), bearer(ci.token)...)
	wantPinError(t, "PUT of a path never pushed", a, 404, "NoSuchNarinfo")
	if !strings.Contains(a.Body, notPushed) {
		t.Errorf("PUT of a path never pushed: %s does not name it", a.Body)
	}

	// The admin CLI sees the same pin, and pins a result link.
	out := nixAdmin(t, s, "pin", "list", nixCacheBucket)
	if !strings.Contains(out, gens[2].Top) || !strings.Contains(out, gens[1].Top) || strings.Contains(out, gens[0].Top) {
		t.Errorf("pin list after the moves:\n%s", out)
	}
	out = nixAdmin(t, s, "pin", "add", nixCacheBucket, "from-result", gens[0].root)
	if !strings.Contains(out, gens[0].Top) {
		t.Errorf("pin add of %s (a link to %s) printed %q", gens[0].root, gens[0].Top, out)
	}
	if r := nixRun(t, serverBin, "pin", "add", nixCacheBucket, "x", notPushed, "--data", s.Dir); r.Err == nil || !strings.Contains(r.Stderr, notPushed) {
		t.Errorf("pin add of a path never pushed: %v %q", r.Err, r.Stderr)
	}

	// CI removes its pin.
	if a := pinCurl(t, s, "DELETE", path, "", bearer(ci.token)...); a.Status != 204 {
		t.Errorf("DELETE as ci: %d %s", a.Status, a.Body)
	}
	wantPinError(t, "GET after DELETE", pinCurl(t, s, "GET", path, "", bearer(ci.token)...), 404, "NoSuchPin")
}
