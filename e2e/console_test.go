package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// TestConsole drives the web console in headless Chromium against a real
// `nixbucket serve` holding a closure real Nix 2.8 pushed: the admin signs
// in, finds and opens a store path, follows a reference and checks its
// closure size against `nix path-info -S`; creates a token that curl then
// reads a private narinfo with; an anonymous visitor sees only the public
// bucket and can do nothing, not even by posting the forms; a bad policy
// shows the parser's message; a forged cross-site POST is refused.
func TestConsole(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	netrc := nixNetrc(s)
	cache := nixCacheURL(s, nixCacheBucket)
	c := nixBuildClosure(t, 3, 8, "console")
	nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", netrc,
		"--to", cache+"?compression=zstd&write-nar-listing=1", c.Top)
	// A build log for the top path, as `nix store copy-log` uploads one.
	drv := strings.TrimSpace(nixMust(t, "nix-store", "--query", "--deriver", c.Top))
	logFile := filepath.Join(t.TempDir(), "log")
	const logLine = "building the console's closure: step 1 of 1"
	if err := os.WriteFile(logFile, []byte(logLine+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	nixMustPut(t, netrc, cache+"/log/"+filepath.Base(drv), logFile, "text/plain; charset=utf-8")
	nixAdmin(t, s, "bucket", "create", "public-cache", "--public")
	readerPolicy := filepath.Join(t.TempDir(), "reader.json")
	if err := os.WriteFile(readerPolicy, []byte(`{"Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],`+
		`"Resource":["arn:aws:s3:::nix-cache","arn:aws:s3:::nix-cache/*"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	nixAdmin(t, s, "user", "create", "reader", "--policy", readerPolicy)

	ui := s.Endpoint + "/-/ui/"
	top, topHash := c.Top, nixHashPart(c.Top)
	admin := consoleBrowser(t)

	t.Run("AdminFindsPathAndClosure", func(t *testing.T) {
		b := admin
		b.t = t
		if st := b.open(ui + "login"); st != http.StatusOK {
			t.Fatalf("GET login: %d", st)
		}
		b.shot("login")
		// By keyboard alone: Tab from the top of the page to the key id
		// field (past the skip link and the navigation), type, Tab to the
		// secret, Enter submits.
		for i := 0; evalIn[string](b, `document.activeElement.id`) != "key_id"; i++ {
			if i == 12 {
				t.Fatalf("12 Tabs do not reach the access key field")
			}
			b.do("Tab", chromedp.KeyEvent(kb.Tab))
			if i == 0 && evalIn[string](b, `document.activeElement.className`) != "skip" {
				t.Errorf("the first Tab focuses %q, want the skip link", evalIn[string](b, `document.activeElement.outerHTML`))
			}
		}
		if o := evalIn[string](b, `getComputedStyle(document.activeElement).outlineStyle`); o == "none" || o == "" {
			t.Errorf("the focused field shows no focus outline (%q)", o)
		}
		b.do("sign in", chromedp.KeyEvent(s.AccessKey), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(s.SecretKey), chromedp.KeyEvent(kb.Enter))
		b.until(`document.querySelector("header form.inline button") != null`)
		if who := b.text("header .who strong"); !strings.Contains(who, "root") || !strings.Contains(who, s.AccessKey) {
			t.Errorf("signed in as %q, want root with key %s", who, s.AccessKey)
		}
		var found bool
		for _, ck := range b.cookies(ui) {
			if ck.Name != "nixbucket_console" {
				continue
			}
			found = true
			if !ck.HTTPOnly || ck.SameSite != "Strict" || ck.Secure {
				t.Errorf("session cookie HttpOnly %v SameSite %q Secure %v; want HttpOnly, Strict, not Secure over plain HTTP", ck.HTTPOnly, ck.SameSite, ck.Secure)
			}
			if strings.Contains(ck.Value, s.SecretKey) {
				t.Error("the session cookie holds the secret key")
			}
		}
		if !found {
			t.Fatal("no session cookie after signing in")
		}

		// Buckets page: both buckets, nix-cache with its 3 paths, private.
		row := b.text(`tr:has(a[href="/-/ui/b/nix-cache"])`)
		for _, want := range []string{"nix-cache", "3", "private", "nix-cache-1:"} {
			if !strings.Contains(row, want) {
				t.Errorf("buckets page row of nix-cache %q lacks %q", row, want)
			}
		}
		if pub := b.text(`tr:has(a[href="/-/ui/b/public-cache"])`); !strings.Contains(pub, "public") {
			t.Errorf("public-cache row %q does not say public", pub)
		}
		b.shot("buckets")
		b.fitsWidth(360, "buckets")

		b.do("open nix-cache", chromedp.Click(chromedp.CSS(`a[href="/-/ui/b/nix-cache"]`)), chromedp.WaitVisible(chromedp.CSS("#paths")))
		if n := b.text("#paths"); n != "3" {
			t.Errorf("bucket page: %q paths, want 3", n)
		}
		conf := evalIn[string](b, `document.querySelector("#nixconf").value`)
		if !strings.Contains(conf, "substituters = "+cache) || !strings.Contains(conf, "trusted-public-keys = "+nixServerKey(t, s, nixCacheBucket)) {
			t.Errorf("nix.conf block %q lacks the substituter or the key", conf)
		}
		if nr := evalIn[string](b, `document.querySelector("#netrc").value`); !strings.Contains(nr, "login "+s.AccessKey+" password YOUR_SECRET_ACCESS_KEY") || strings.Contains(nr, s.SecretKey) {
			t.Errorf("netrc line %q: want the key id and a placeholder, never the secret", nr)
		}
		// The CORS configuration: none, then the public preset set by
		// the admin CLI beside the server.
		if got := b.text("#cors"); !strings.Contains(got, "none") {
			t.Errorf("CORS on the bucket page before any: %q", got)
		}
		nixAdmin(t, s, "bucket", "cors", "set", nixCacheBucket, "public")
		b.open(ui + "b/nix-cache")
		if got := b.text("#cors"); got != "*: GET HEAD" {
			t.Errorf("CORS on the bucket page after bucket cors set public: %q", got)
		}
		nixAdmin(t, s, "bucket", "cors", "delete", nixCacheBucket)
		// Search by any part of a name, in another case: the bucket is
		// small enough for the console to hold its graph.
		name := filepath.Base(top)[33:]
		part := strings.ToUpper(name[1 : len(name)-1])
		b.open(ui + "b/nix-cache?q=" + url.QueryEscape(part))
		if res := b.text("#results"); !strings.Contains(res, top) {
			t.Errorf("search for %q (part of a name) found %q, want %s", part, res, top)
		}
		b.open(ui + "b/nix-cache")
		// Search by name: the top path's name after its hash.
		b.do("search", chromedp.SendKeys(chromedp.CSS("#q"), name), chromedp.Click(chromedp.CSS(`form[role="search"] button`)),
			chromedp.WaitVisible(chromedp.CSS("#results")))
		if res := b.text("#results"); !strings.Contains(res, top) {
			t.Fatalf("search for %q found %q, want %s", name, res, top)
		}
		if largest := b.text(`section[aria-labelledby="largest-h"]`); !strings.Contains(largest, top) {
			t.Errorf("largest closures %q lack the closure's top %s", largest, top)
		}
		b.shot("bucket")
		b.fitsWidth(360, "bucket")
		b.fitsWidth(1920, "bucket")
		// By keyboard: every control of the bucket page, in reading order.
		focused := b.tabWalk(80)
		for _, want := range []string{"Skip to content", "Sign out", "Bucket policy", "Generate a signing key", "nixconf", "netrc", "q", "Search", top} {
			if !slices.Contains(focused, want) {
				t.Errorf("Tab through the bucket page never reaches %q: %q", want, focused)
			}
		}

		b.do("open the path", chromedp.Click(chromedp.CSS("#results a")), chromedp.WaitVisible(chromedp.CSS("#narinfo")))
		ni := nixParseNarinfo(t, "narinfo", []byte(nixHTTP(t, netrc, http.MethodGet, cache+"/"+topHash+".narinfo").Body))
		info := b.text("#narinfo")
		for _, want := range []string{top, ni.NarHash, ni.URL, ni.FileHash, strconv.FormatUint(ni.NarSize, 10), filepath.Base(drv), ni.Sigs[0]} {
			if !strings.Contains(info, want) {
				t.Errorf("narinfo fields %q lack %q", info, want)
			}
		}
		checkClosure(t, b, top)
		if files := b.text("#files"); files == "" {
			t.Error("the .ls listing shows no file")
		}
		if log := b.text("pre.log"); !strings.Contains(log, logLine) {
			t.Errorf("build log %q, want %q", log, logLine)
		}
		b.shot("path")
		b.fitsWidth(360, "path")
		b.fitsWidth(1920, "path")
		// The NAR download link serves the NAR the narinfo names.
		href := evalIn[string](b, `document.querySelector("#nar-download").getAttribute("href")`)
		if want := "/-/ui/b/nix-cache/file/" + ni.URL; href != want {
			t.Errorf("NAR link %q, want %q", href, want)
		}
		var cookie string
		for _, ck := range b.cookies(ui) {
			if ck.Name == "nixbucket_console" {
				cookie = ck.Name + "=" + ck.Value
			}
		}
		viaConsole := nixHTTP(t, "", http.MethodGet, s.Endpoint+href, "-b", cookie)
		viaCache := nixHTTP(t, netrc, http.MethodGet, cache+"/"+ni.URL)
		if viaConsole.Status != http.StatusOK || viaCache.Status != http.StatusOK || viaConsole.Body != viaCache.Body || uint64(len(viaConsole.Body)) != ni.FileSize {
			t.Errorf("NAR through the console: %d, %d bytes; through the cache: %d, %d bytes; narinfo FileSize %d",
				viaConsole.Status, len(viaConsole.Body), viaCache.Status, len(viaCache.Body), ni.FileSize)
		}
		if r := nixHTTP(t, "", http.MethodGet, s.Endpoint+href); r.Status != http.StatusNotFound {
			t.Errorf("anonymous GET of the private NAR link: %d, want 404", r.Status)
		}
		// The file tree: into the first directory and back.
		dir := evalIn[string](b, `(document.querySelector("#files a") || {}).textContent || ""`)
		if dir == "" {
			t.Fatalf("the listing has no directory: %s", b.text("#files"))
		}
		b.do("open "+dir, chromedp.Click(chromedp.CSS("#files a")))
		b.until(`location.search == "?dir=` + strings.TrimSuffix(dir, "/") + `"`)
		if crumbs := b.text(`section[aria-labelledby="files-h"] nav`); !strings.HasSuffix(crumbs, " / "+strings.TrimSuffix(dir, "/")) {
			t.Errorf("in directory %s the path reads %q", dir, crumbs)
		}
		b.shot("path-dir")
		b.open(s.Endpoint + "/-/ui/b/nix-cache/p/" + topHash)

		// Follow a reference other than the path itself.
		ref := evalIn[string](b, `[...document.querySelectorAll("#references a")].map(a => a.getAttribute("href")).find(h => !h.endsWith("/`+topHash+`")) || ""`)
		if ref == "" {
			t.Fatalf("the path page links no reference: %s", b.text("#references"))
		}
		b.do("follow the reference", chromedp.Click(chromedp.CSS(`#references a[href="`+ref+`"]`)))
		b.until(`location.pathname == "` + ref + `"`)
		refPath := ""
		for _, p := range c.Paths {
			if strings.HasSuffix(ref, "/"+nixHashPart(p)) {
				refPath = p
			}
		}
		if refPath == "" {
			t.Fatalf("reference %s is none of the closure's paths %v", ref, c.Paths)
		}
		if h1 := b.text("h1.path-title"); h1 != refPath {
			t.Fatalf("reference page shows %q, want %s", h1, refPath)
		}
		checkClosure(t, b, refPath)
		if refs := b.text("#referrers"); !strings.Contains(refs, filepath.Base(top)) {
			t.Errorf("referrers of %s %q lack %s", refPath, refs, top)
		}
		b.shot("reference")

		// Traffic: the push was counted; charts are SVG drawn by the server.
		b.open(ui + "traffic")
		if sec := b.text(`section[aria-labelledby="t-nix-cache"]`); !strings.Contains(sec, "requests") {
			t.Errorf("traffic of nix-cache: %q", sec)
		}
		if n := evalIn[int](b, `document.querySelectorAll("section[aria-labelledby='t-nix-cache'] svg rect[height]:not([height='0.00'])").length`); n < 1 {
			t.Errorf("traffic chart of nix-cache has no bar")
		}
		if n := evalIn[int](b, `document.querySelectorAll("script").length`); n != 0 {
			t.Errorf("the traffic page has %d scripts, want none", n)
		}
		b.shot("traffic")
		b.fitsWidth(360, "traffic")
		b.fitsWidth(1920, "traffic")
	})

	t.Run("TokenCreatedInUIReadsWithCurl", func(t *testing.T) {
		b := admin
		b.t = t
		b.open(ui + "tokens")
		b.do("create a token", chromedp.SetValue(chromedp.CSS("#user"), "reader"), chromedp.Click(chromedp.CSS("#create-token")),
			chromedp.WaitVisible(chromedp.CSS("#new-token")))
		token := evalIn[string](b, `document.querySelector("#new-token").value`)
		if !strings.HasPrefix(token, "nbt_") {
			t.Fatalf("new token %q", token)
		}
		b.shot("tokens")
		// The list of tokens with its actions column, at both ends.
		b.fitsWidth(360, "tokens")
		b.fitsWidth(1920, "tokens")
		narinfo := cache + "/" + topHash + ".narinfo"
		if r := nixHTTP(t, "", http.MethodGet, narinfo); r.Status != http.StatusUnauthorized {
			t.Fatalf("anonymous GET of the private narinfo: %d, want 401", r.Status)
		}
		r := nixHTTP(t, "", http.MethodGet, narinfo, "-H", "Authorization: Bearer "+token)
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "StorePath: "+top) {
			t.Fatalf("GET with the console's token: %d %q", r.Status, r.Body)
		}
		// Revoked in the console, the token reads nothing.
		id := strings.TrimSpace(b.text(`.ok strong`))
		b.do("revoke", chromedp.Click(chromedp.CSS(`button[aria-label="Revoke token `+id+`"]`)))
		b.until(`!document.body.innerText.includes("` + id + `")`)
		if r := nixHTTP(t, "", http.MethodGet, narinfo, "-H", "Authorization: Bearer "+token); r.Status == http.StatusOK {
			t.Fatalf("GET with the revoked token: %d", r.Status)
		}
	})

	t.Run("AnonymousSeesPublicOnlyAndMayDoNothing", func(t *testing.T) {
		b := consoleBrowser(t)
		b.open(ui)
		body := b.body()
		if !strings.Contains(body, "public-cache") || strings.Contains(body, "nix-cache") {
			t.Errorf("anonymous buckets page:\n%s\nwant public-cache and not nix-cache", body)
		}
		if strings.Contains(body, "Create a bucket") || strings.Contains(body, "Tokens") {
			t.Errorf("anonymous page offers admin actions:\n%s", body)
		}
		b.shot("anonymous")
		b.fitsWidth(360, "anonymous")
		if st := b.open(ui + "b/nix-cache"); st != http.StatusNotFound {
			t.Errorf("anonymous GET of the private bucket's page: %d, want 404", st)
		}
		if st := b.open(ui + "b/nix-cache/p/" + topHash); st != http.StatusNotFound {
			t.Errorf("anonymous GET of a private path's page: %d, want 404", st)
		}
		if st := b.open(ui + "b/public-cache"); st != http.StatusOK || !strings.Contains(b.body(), "public: anyone may read it") {
			t.Errorf("anonymous GET of the public bucket's page: %d", st)
		}
		if evalIn[bool](b, `document.querySelector("#cors") !== null`) {
			t.Error("the public bucket's page shows an anonymous visitor its CORS configuration (s3:GetBucketCORS is not granted)")
		}
		// Posting the forms directly: without a session, and with an
		// anonymous session and its valid CSRF token, all refused.
		jar := filepath.Join(t.TempDir(), "jar")
		forms := map[string]url.Values{
			"buckets":                   {"name": {"evil-bucket"}},
			"tokens":                    {"user": {"reader"}},
			"b/public-cache/policy":     {"policy": {""}},
			"b/public-cache/keys":       {},
			"tokens/nonexistent/revoke": {},
			"b/nix-cache/policy":        {"policy": {`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::nix-cache/*"}]}`}},
		}
		for path, form := range forms {
			if r := postForm(t, ui+path, "", form); r.Status != http.StatusForbidden {
				t.Errorf("POST %s without a session: %d, want 403", path, r.Status)
			}
		}
		login := nixHTTP(t, "", http.MethodGet, ui+"login", "-c", jar)
		csrf := csrfOf(t, login.Body)
		for path, form := range forms {
			form.Set("csrf", csrf)
			if r := postForm(t, ui+path, jar, form); r.Status != http.StatusForbidden {
				t.Errorf("POST %s as anonymous with a valid CSRF token: %d, want 403", path, r.Status)
			}
		}
		list := nixAdmin(t, s, "bucket", "list")
		if strings.Contains(list, "evil-bucket") || !regexp.MustCompile(`(?m)^public-cache\s.*public`).MatchString(list) ||
			!regexp.MustCompile(`(?m)^nix-cache\s.*private`).MatchString(list) {
			t.Errorf("after anonymous POSTs, bucket list:\n%s", list)
		}
	})

	t.Run("BadPolicyShowsParserMessage", func(t *testing.T) {
		b := admin
		b.t = t
		b.open(ui + "b/nix-cache/policy")
		bad := `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObjekt","Resource":"arn:aws:s3:::nix-cache/*"}]}`
		b.do("submit a bad policy", chromedp.SetValue(chromedp.CSS("#policy"), bad), chromedp.Click(chromedp.CSS("main form button")),
			chromedp.WaitVisible(chromedp.CSS("#policy-error")))
		msg := b.text("#policy-error")
		if !strings.Contains(msg, `invalid action "s3:GetObjekt"`) || !strings.Contains(msg, "statement 1") {
			t.Errorf("policy error %q, want the parser's message naming the statement and the action", msg)
		}
		if kept := evalIn[string](b, `document.querySelector("#policy").value`); kept != bad {
			t.Errorf("the editor holds %q after the error, want the document submitted", kept)
		}
		if inv := evalIn[string](b, `document.querySelector("#policy").getAttribute("aria-invalid")`); inv != "true" {
			t.Errorf("the editor is not marked aria-invalid")
		}
		b.shot("policy-error")
		b.fitsWidth(360, "policy-error")
		if list := nixAdmin(t, s, "bucket", "list"); !regexp.MustCompile(`(?m)^nix-cache\s.*private`).MatchString(list) {
			t.Errorf("nix-cache changed by a refused policy:\n%s", list)
		}
	})

	t.Run("ForgedCrossSitePOSTRefused", func(t *testing.T) {
		b := admin
		b.t = t
		// Another origin (same site: an IP address's ports share one, so
		// SameSite lets the cookie go and only the CSRF token stands in
		// the way) whose page posts the create-bucket form at once.
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%sbuckets"><input name="name" value="forged-bucket"></form><script>document.getElementById("f").submit()</script>`, ui)
		}))
		defer evil.Close()
		b.open(evil.URL)
		b.until(`location.href == "` + ui + `buckets"`)
		body := b.text("main")
		if !strings.Contains(body, "CSRF") {
			t.Errorf("the forged POST's answer %q does not refuse it for its CSRF token", body)
		}
		if who := b.text("header .who"); !strings.Contains(who, "Signed in as") {
			t.Errorf("the forged POST went without the session cookie (%q): the test proves nothing", who)
		}
		b.shot("csrf-refused")
		// With the admin's cookie from curl: no token, a wrong one: 403;
		// the page's own token: the bucket is made.
		var cookie string
		for _, ck := range b.cookies(ui) {
			if ck.Name == "nixbucket_console" {
				cookie = ck.Name + "=" + ck.Value
			}
		}
		jar := filepath.Join(t.TempDir(), "jar")
		if err := os.WriteFile(jar, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, csrf := range []string{"", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
			if r := postForm(t, ui+"buckets", "", url.Values{"name": {"forged-bucket"}, "csrf": {csrf}}, "-b", cookie); r.Status != http.StatusForbidden {
				t.Errorf("POST with the admin's cookie and CSRF token %q: %d, want 403", csrf, r.Status)
			}
		}
		page := nixHTTP(t, "", http.MethodGet, ui, "-b", cookie)
		if r := postForm(t, ui+"buckets", "", url.Values{"name": {"made-by-form"}, "csrf": {csrfOf(t, page.Body)}}, "-b", cookie); r.Status != http.StatusSeeOther {
			t.Errorf("POST with the admin's cookie and the page's CSRF token: %d %s, want 303", r.Status, r.Body)
		}
		list := nixAdmin(t, s, "bucket", "list")
		if strings.Contains(list, "forged-bucket") || !strings.Contains(list, "made-by-form") {
			t.Errorf("bucket list after the forged and the genuine POSTs:\n%s", list)
		}
	})

	t.Run("TokenSignInActsAsItsUser", func(t *testing.T) {
		// A token made with the CLI signs in through the token form; the
		// console then acts as its user (reader: nix-cache, read only),
		// and revoking the token ends the session on the next page.
		token := strings.TrimSpace(nixAdmin(t, s, "token", "create", "--user", "reader"))
		id, ok := tokenID(token)
		if !ok {
			t.Fatalf("token create printed %q", token)
		}
		b := consoleBrowser(t)
		b.open(ui + "login")
		b.do("sign in with the token", chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#signin-token")))
		b.until(`document.querySelector("header form.inline button") != null`)
		if who := b.text("header .who strong"); who != "reader (token "+id+")" {
			t.Errorf("signed in with a token as %q, want reader (token %s)", who, id)
		}
		body := b.body()
		if !strings.Contains(body, "nix-cache") || strings.Contains(body, "Create a bucket") || strings.Contains(body, "Tokens") {
			t.Errorf("the reader's buckets page:\n%s\nwant nix-cache and no admin actions", body)
		}
		for _, ck := range b.cookies(ui) {
			if ck.Name == "nixbucket_console" && strings.Contains(ck.Value, token[len("nbt_"+id+"_"):]) {
				t.Error("the session cookie holds the token's secret part")
			}
		}
		b.open(ui + "b/nix-cache")
		if nr := evalIn[string](b, `document.querySelector("#netrc").value`); !strings.Contains(nr, "login reader password YOUR_TOKEN") || strings.Contains(nr, token) {
			t.Errorf("netrc line for a token session %q: want the user and a placeholder, never the token", nr)
		}
		if n := evalIn[int](b, `document.querySelectorAll("form[action$='/keys'], a[href$='/policy']").length`); n != 0 {
			t.Errorf("the reader is offered %d admin actions on nix-cache", n)
		}
		b.shot("token-session")
		nixAdmin(t, s, "token", "revoke", id)
		b.open(ui)
		if who := b.text("header .who"); !strings.Contains(who, "Anonymous") {
			t.Errorf("after the token was revoked the console shows %q, want Anonymous", who)
		}
	})

	t.Run("AdminGeneratesSigningKey", func(t *testing.T) {
		b := admin
		b.t = t
		before := strings.Fields(nixAdmin(t, s, "bucket", "public-key", "public-cache"))
		b.open(ui + "b/public-cache")
		b.do("generate a signing key", chromedp.Click(chromedp.CSS(`form[action="/-/ui/b/public-cache/keys"] button`)))
		b.until(`document.querySelector("p.ok code.key") != null`)
		made := b.text("p.ok code.key")
		after := strings.Fields(nixAdmin(t, s, "bucket", "public-key", "public-cache"))
		if len(after) != len(before)+1 || !slices.Contains(after, made) || slices.Contains(before, made) {
			t.Fatalf("the console says it made %q; bucket public-key before %q, after %q", made, before, after)
		}
		if _, err := signature.ParsePublicKey(made); err != nil {
			t.Errorf("new key %q: %v", made, err)
		}
		if keys := b.text("dl.facts"); !strings.Contains(keys, made) {
			t.Errorf("the bucket's facts %q do not list the new key", keys)
		}
		b.shot("signing-key")
	})

	t.Run("EveryNarinfoFieldAsServed", func(t *testing.T) {
		// A narinfo with the fields the index does not keep: System (old
		// Nix, Hydra) and a key of a newer Nix. The page lists every field
		// the cache serves, value for value (References also as links below).
		b := admin
		b.t = t
		served := nixHTTP(t, netrc, http.MethodGet, cache+"/"+topHash+".narinfo").Body
		var text strings.Builder
		for line := range strings.Lines(served) {
			if !strings.HasPrefix(line, "Sig: ") {
				text.WriteString(line)
			}
		}
		text.WriteString("System: x86_64-linux\nComment: a field of a newer Nix\n")
		file := filepath.Join(t.TempDir(), "narinfo")
		if err := os.WriteFile(file, []byte(text.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		nixMustPut(t, netrc, cache+"/"+topHash+".narinfo", file, "text/x-nix-narinfo")
		served = nixHTTP(t, netrc, http.MethodGet, cache+"/"+topHash+".narinfo").Body
		if !strings.Contains(served, "System: x86_64-linux") || !strings.Contains(served, "Comment: ") {
			t.Fatalf("the cache does not serve the fields put:\n%s", served)
		}
		b.open(ui + "b/nix-cache/p/" + topHash)
		fields := evalIn[[][]string](b, `[...document.querySelectorAll("#narinfo dt")].map(dt => [dt.textContent, dt.nextElementSibling.textContent])`)
		for line := range strings.Lines(served) {
			k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
			if !ok {
				continue
			}
			if !slices.ContainsFunc(fields, func(f []string) bool { return f[0] == k && f[1] == v }) {
				t.Errorf("the page's narinfo lacks %s: %s; it shows %q", k, v, fields)
			}
		}
		b.shot("narinfo-fields")
	})

	t.Run("UploadedPageIsSandboxed", func(t *testing.T) {
		// Whoever may upload to a bucket may upload HTML; the console
		// serves objects from its own origin, so such a page must get an
		// origin of its own (CSP sandbox), away from the admin's session.
		b := admin
		b.t = t
		page := filepath.Join(t.TempDir(), "page.html")
		if err := os.WriteFile(page, []byte(`<!doctype html><title>uploaded</title><form method="post" action="/-/ui/buckets"><input name="name" value="made-by-upload"></form>`), 0o644); err != nil {
			t.Fatal(err)
		}
		nixMustPut(t, netrc, s.Endpoint+"/public-cache/page.html", page, "text/html")
		if st := b.open(ui + "b/public-cache/file/page.html"); st != http.StatusOK {
			t.Fatalf("GET the uploaded page through the console: %d", st)
		}
		if title := evalIn[string](b, `document.title`); title != "uploaded" {
			t.Fatalf("the uploaded page did not load: title %q", title)
		}
		if origin := evalIn[string](b, `window.origin`); origin != "null" {
			t.Errorf("the uploaded page runs in origin %q, want a sandbox's (null)", origin)
		}
		// The same page at its plain URL, as S3 and the binary-cache
		// protocol serve it (through the fast lane): the same origin as
		// the console too, so just as sandboxed.
		if st := b.open(s.Endpoint + "/public-cache/page.html"); st != http.StatusOK {
			t.Fatalf("GET the uploaded page at its own URL: %d", st)
		}
		if title := evalIn[string](b, `document.title`); title != "uploaded" {
			t.Fatalf("the uploaded page did not load at its own URL: title %q", title)
		}
		if origin := evalIn[string](b, `window.origin`); origin != "null" {
			t.Errorf("the uploaded page at its own URL runs in origin %q, want a sandbox's (null)", origin)
		}
	})

	t.Run("SessionAndTrafficSurviveRestart", func(t *testing.T) {
		// The session key and the traffic counters live in the metadata
		// store: a restarted server (or another node) accepts the session
		// and shows the same history.
		b := admin
		b.t = t
		total := regexp.MustCompile(`Last 7 days: ([0-9,]+) requests`)
		b.open(ui + "traffic")
		before := total.FindStringSubmatch(b.text(`section[aria-labelledby="t-nix-cache"]`))
		s.Stop()
		s.Restart()
		b.open(ui + "traffic")
		if who := b.text("header .who"); !strings.Contains(who, "Signed in as") {
			t.Errorf("after a restart the console signed the admin out: %q", who)
		}
		after := total.FindStringSubmatch(b.text(`section[aria-labelledby="t-nix-cache"]`))
		if before == nil || after == nil || before[1] != after[1] || before[1] == "0" {
			t.Errorf("nix-cache requests before the restart %q, after %q: want the same, not zero", before, after)
		}
	})
}

// checkClosure compares the closure size and path count the open store
// path page shows with Nix's own: `nix path-info -S` and the requisites.
func checkClosure(t *testing.T, b *browser, path string) {
	t.Helper()
	got := evalIn[string](b, `document.querySelector("#closure-size").dataset.bytes`)
	fields := strings.Fields(nixMust(t, "nix", "path-info", "-S", path))
	if len(fields) != 2 || fields[0] != path {
		t.Fatalf("nix path-info -S %s: %q", path, fields)
	}
	if got != fields[1] {
		t.Errorf("%s: console closure size %s, nix path-info -S says %s", path, got, fields[1])
	}
	want := len(strings.Fields(nixMust(t, "nix-store", "--query", "--requisites", path)))
	if n := b.text("#closure-paths"); n != strconv.Itoa(want) {
		t.Errorf("%s: console closure has %s paths, nix-store -qR %d", path, n, want)
	}
}

// tokenID returns the id of a token's text (nbt_ID_SECRET).
func tokenID(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, "nbt_")
	id, _, ok2 := strings.Cut(rest, "_")
	return id, ok && ok2 && id != ""
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf returns the CSRF token of a page's forms.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", tail(page, 2000))
	}
	return m[1]
}

// postForm POSTs a urlencoded form with curl, with jar's cookies if not
// empty.
func postForm(t *testing.T, u, jar string, form url.Values, args ...string) curlResponse {
	t.Helper()
	argv := append([]string{"--data-raw", form.Encode()}, args...)
	if jar != "" {
		argv = append(argv, "-b", jar, "-c", jar)
	}
	return nixHTTP(t, "", http.MethodPost, u, argv...)
}
