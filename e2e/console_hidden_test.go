package e2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/nixbucket/nixbucket/internal/nix/nar"
	"github.com/nixbucket/nixbucket/internal/nix/nixbase32"
)

// consolePath is a store path consolePush put in a bucket.
type consolePath struct {
	Hash, Base string // Base: <hash>-<name>
}

// consolePush puts a store path named name, whose NAR is one regular file,
// in bucket as `nix copy --to http://…` does (the NAR, then the narinfo),
// with the admin's credentials, referring to refs. Its hash is derived
// from bucket and name.
func consolePush(t testing.TB, s *Server, bucket, name string, refs ...consolePath) consolePath {
	t.Helper()
	sum := sha256.Sum256([]byte(bucket + "/" + name))
	p := consolePath{Hash: nixbase32.EncodeToString(sum[:20])}
	p.Base = p.Hash + "-" + name
	var buf bytes.Buffer
	w := nar.NewWriter(&buf)
	body := []byte("contents of " + name)
	if err := w.WriteHeader(&nar.Header{Path: "/", Type: nar.TypeRegular, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	narSum := sha256.Sum256(buf.Bytes())
	fileHash := nixbase32.EncodeToString(narSum[:])
	var names []string
	for _, r := range refs {
		names = append(names, r.Base)
	}
	narinfo := fmt.Sprintf("StorePath: /nix/store/%s\nURL: nar/%s.nar\nCompression: none\nFileHash: sha256:%s\nFileSize: %d\n"+
		"NarHash: sha256:%s\nNarSize: %d\nReferences: %s\n", p.Base, fileHash, fileHash, buf.Len(), fileHash, buf.Len(), strings.Join(names, " "))
	put := func(key, contentType string, body []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPut, s.Endpoint+"/"+bucket+"/"+key, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(s.AccessKey, s.SecretKey)
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s/%s: %s", bucket, key, resp.Status)
		}
	}
	put("nar/"+fileHash+".nar", "application/x-nix-nar", buf.Bytes())
	put(p.Hash+".narinfo", "text/x-nix-narinfo", []byte(narinfo))
	return p
}

// consoleSignIn signs b in with an access key through the sign-in form.
func consoleSignIn(b *browser, ui, keyID, secret string) {
	b.t.Helper()
	if st := b.open(ui + "login"); st != http.StatusOK {
		b.t.Fatalf("GET login: %d", st)
	}
	b.do("sign in", chromedp.SendKeys(chromedp.CSS("#key_id"), keyID), chromedp.SendKeys(chromedp.CSS("#secret"), secret), chromedp.Click(chromedp.CSS("#signin-key")))
	b.until(`document.querySelector("header form.inline button") != null`)
}

// TestConsoleHidesUnreadablePaths: a user whose token may list a bucket
// but not read one path's narinfo (its policy narrows the user's with a
// Deny, as when a path pushed by mistake is hidden) does not meet that path's name anywhere in the
// console: not in recent pushes, the largest closures, a search, nor
// among the referrers of a path it refers to. Listing a bucket gives its
// keys (hashes), not its store paths' names; the console showed them.
// And a reference to a path the bucket does not hold (it was pushed to
// another bucket) is no link to a page that answers 404.
func TestConsoleHidesUnreadablePaths(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	nixAdmin(t, s, "bucket", "create", "team")
	nixAdmin(t, s, "bucket", "create", "other")
	base := consolePush(t, s, "team", "libbase-1.0")
	hidden := consolePush(t, s, "team", "classified-build-7", base)
	elsewhere := consolePush(t, s, "other", "elsewhere-1.0")
	app := consolePush(t, s, "team", "app-2.0", base, elsewhere)

	userPol := filepath.Join(t.TempDir(), "member.json")
	if err := os.WriteFile(userPol, []byte(`{"Statement":[
		{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket","s3:GetBucketPolicy"],"Resource":["arn:aws:s3:::team","arn:aws:s3:::team/*"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	nixAdmin(t, s, "user", "create", "member", "--policy", userPol)
	// The member's token narrows the user's policy: it may not read the
	// hidden path's narinfo.
	tokenPol := filepath.Join(t.TempDir(), "token.json")
	if err := os.WriteFile(tokenPol, []byte(`{"Statement":[
		{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket","s3:GetBucketPolicy"],"Resource":["arn:aws:s3:::team","arn:aws:s3:::team/*"]},
		{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::team/`+hidden.Hash+`.narinfo"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(nixAdmin(t, s, "token", "create", "--user", "member", "--policy", tokenPol))
	ui := s.Endpoint + "/-/ui/"

	b := consoleBrowser(t)
	b.open(ui + "login")
	b.do("sign in with the token", chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#signin-token")))
	b.until(`document.querySelector("header form.inline button") != null`)
	pages := map[string]string{
		"bucket":              ui + "b/team",
		"search by name":      ui + "b/team?q=classified",
		"search inside names": ui + "b/team?q=build",
		"search by hash":      ui + "b/team?q=" + hidden.Hash[:8],
		"referrers of base":   ui + "b/team/p/" + base.Hash,
	}
	for what, u := range pages {
		if st := b.open(u); st != http.StatusOK {
			t.Fatalf("%s: GET %s: %d", what, u, st)
		}
		// The search pages echo the query; no path listed may be it.
		if named := evalIn[[]string](b, `[...document.querySelectorAll("main a, main code")].map(e => e.textContent).filter(s => s.includes("`+hidden.Hash+`") || s.includes("classified"))`); len(named) > 0 {
			t.Errorf("%s: the page names the path the user may not read: %q", what, named)
		}
	}
	// The user still sees what they may read.
	b.open(ui + "b/team")
	if body := b.body(); !strings.Contains(body, app.Base) || !strings.Contains(body, base.Base) {
		t.Errorf("bucket page lacks the readable paths %s and %s:\n%s", app.Base, base.Base, body)
	}
	b.open(ui + "b/team/p/" + base.Hash)
	if got := b.text("#referrers"); !strings.Contains(got, app.Base) {
		t.Errorf("referrers of %s: %q, want %s", base.Base, got, app.Base)
	}
	if got := evalIn[string](b, `document.querySelector("#referrers-hidden")?.textContent ?? ""`); !strings.Contains(got, "1 referrers you may not read") {
		t.Errorf("the page does not say a referrer is left out: %q", got)
	}
	if st := b.open(ui + "b/team/p/" + hidden.Hash); st != http.StatusNotFound {
		t.Errorf("the hidden path's page: %d, want 404", st)
	}
	b.fitsWidth(360, "referrers-hidden")

	// The member may read the bucket's policy but not change it: the
	// page shows it in a block that scrolls, which the keyboard reaches
	// and a screen reader names (shot checks every control's name).
	nixAdmin(t, s, "bucket", "policy", "set", "team", "anonymous-read")
	if st := b.open(ui + "b/team/policy"); st != http.StatusOK {
		t.Fatalf("GET the policy page: %d", st)
	}
	if got := b.text("pre"); !strings.Contains(got, "s3:GetObject") {
		t.Errorf("the read-only policy page shows %q", got)
	}
	b.shot("policy-read-only")
	nixAdmin(t, s, "bucket", "policy", "delete", "team")

	// app refers to elsewhere-1.0, which only the bucket "other" holds:
	// its name is in app's narinfo, but no link leads to a 404.
	admin := consoleBrowser(t)
	consoleSignIn(admin, ui, s.AccessKey, s.SecretKey)
	for _, br := range []*browser{b, admin} {
		br.open(ui + "b/team/p/" + app.Hash)
		if got := br.text("#references"); !strings.Contains(got, elsewhere.Base) {
			t.Errorf("references of %s: %q, want %s named", app.Base, got, elsewhere.Base)
		}
		if n := evalIn[int](br, `document.querySelectorAll('#references a[href$="/p/`+elsewhere.Hash+`"]').length`); n != 0 {
			t.Errorf("the reference to %s, which bucket team does not hold, is a link to a missing page", elsewhere.Base)
		}
		if n := evalIn[int](br, `document.querySelectorAll('#references a[href$="/p/`+base.Hash+`"]').length`); n != 1 {
			t.Errorf("the reference to %s is no link", base.Base)
		}
	}
}

// TestConsoleConditionalBuckets: an anonymous visitor sees a bucket only
// when its policy lets this visitor read it, conditions included. A
// bucket only an address range may read (an intranet cache), or one that
// refuses plain HTTP, was listed to everyone, with its path count, NAR
// bytes, last push and signing keys, though every read was refused.
func TestConsoleConditionalBuckets(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	policies := map[string]string{
		"intranet": `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::intranet/*",
			"Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`,
		"tls-only": `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::tls-only/*"},
			{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::tls-only","arn:aws:s3:::tls-only/*"],
			"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`,
		"loopback": `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::loopback/*",
			"Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}]}`,
	}
	for name, doc := range policies {
		nixAdmin(t, s, "bucket", "create", name)
		f := filepath.Join(t.TempDir(), name+".json")
		if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		nixAdmin(t, s, "bucket", "policy", "set", name, f)
		p := consolePush(t, s, name, "pkg-of-"+name)
		// What the console shows must agree with what a read gets.
		resp, err := http.Get(s.Endpoint + "/" + name + "/" + p.Hash + ".narinfo")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{true: http.StatusOK, false: http.StatusForbidden}[name == "loopback"]; resp.StatusCode != want {
			t.Fatalf("anonymous GET of a narinfo of %s: %d, want %d", name, resp.StatusCode, want)
		}
	}
	ui := s.Endpoint + "/-/ui/"
	b := consoleBrowser(t)
	if st := b.open(ui); st != http.StatusOK {
		t.Fatalf("GET the buckets page: %d", st)
	}
	body := b.body()
	for _, hidden := range []string{"intranet", "tls-only"} {
		if strings.Contains(body, hidden) {
			t.Errorf("the buckets page shows %s to an anonymous visitor it refuses:\n%s", hidden, body)
		}
		if st := b.open(ui + "b/" + hidden); st != http.StatusNotFound {
			t.Errorf("GET the page of %s: %d, want 404", hidden, st)
		}
	}
	if !strings.Contains(body, "loopback") {
		t.Errorf("the buckets page does not show loopback, which this visitor may read:\n%s", body)
	}
	b.open(ui + "traffic")
	if body := b.body(); strings.Contains(body, "intranet") || strings.Contains(body, "tls-only") {
		t.Errorf("the traffic page charts a bucket the visitor may not read:\n%s", body)
	}
}
