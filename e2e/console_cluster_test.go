package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestConsoleBehindNginx: two nodes on one PostgreSQL database, started at
// once (so they race to make the console's session key), behind nginx
// balancing round robin. A console session made through one node is
// honoured by the other: the browser stays signed in page after page
// while both nodes serve the pages, and a form posted to either node
// passes its CSRF check. Signing out through one node ends the session
// on both, a copy of the cookie included.
func TestConsoleBehindNginx(t *testing.T) {
	t.Parallel()
	ngx := need(t, "nginx")
	c := startCluster(t, 2) // the nodes log each request (the access log)
	a, b := c.Nodes[0], c.Nodes[1]
	front := startNginx(t, ngx, a.Addr, b.Addr)
	ui := front + "/-/ui/"

	br := consoleBrowser(t)
	if st := br.open(ui + "login"); st != http.StatusOK {
		t.Fatalf("GET login through nginx: %d", st)
	}
	br.do("sign in",
		chromedp.SendKeys(chromedp.CSS("#key_id"), a.AccessKey),
		chromedp.SendKeys(chromedp.CSS("#secret"), a.SecretKey),
		chromedp.Click(chromedp.CSS("#signin-key")),
		chromedp.WaitVisible(chromedp.CSS("header form.inline button")))
	for i := range 6 {
		br.open(ui)
		if who := br.text("header .who"); !strings.Contains(who, "Signed in as") || !strings.Contains(who, a.AccessKey) {
			t.Fatalf("page %d through nginx: %q, want the admin still signed in", i, who)
		}
	}
	// Forms too: each of two buckets made through nginx, whichever node
	// checks the CSRF token of the page another node rendered.
	for _, name := range []string{"made-on-one", "made-on-other"} {
		br.open(ui)
		br.do("create "+name, chromedp.SendKeys(chromedp.CSS("#name"), name), chromedp.Click(chromedp.CSS(`form[action="/-/ui/buckets"] button`)))
		br.until(`location.pathname == "/-/ui/b/` + name + `"`)
	}
	br.shot("cluster-buckets")
	for i, n := range []*Server{a, b} {
		// Any console request (a page, a form, a bucket page) counts:
		// round robin and the browser's own requests decide which node
		// gets which.
		if log := n.logWith("operation=Console"); !strings.Contains(log, "operation=Console") {
			t.Errorf("node %d served no console page: the test did not cross nodes\n%s", i, tail(log, 3000))
		}
	}
	// Signing out ends the session on every node, even a copy of its
	// cookie taken before: a stolen cookie dies with the sign-out.
	var copied string
	for _, ck := range br.cookies(ui) {
		if ck.Name == "nixbucket_console" {
			copied = ck.Value
		}
	}
	if copied == "" {
		t.Fatal("no console cookie in the browser")
	}
	signedIn := func(node *Server) bool {
		req, _ := http.NewRequest(http.MethodGet, "http://"+node.Addr+"/-/ui/", nil)
		req.AddCookie(&http.Cookie{Name: "nixbucket_console", Value: copied})
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return strings.Contains(string(body), "Signed in as")
	}
	if !signedIn(a) || !signedIn(b) {
		t.Fatal("the copied cookie is not a session on both nodes before the sign-out")
	}
	br.do("sign out", chromedp.Click(chromedp.CSS("header form.inline button")), chromedp.WaitVisible(chromedp.CSS(`header a[href="/-/ui/login"]`)))
	for i, n := range []*Server{a, b} {
		if signedIn(n) {
			t.Errorf("node %d: the cookie copied before the sign-out still signs in", i)
		}
	}
	br.open(ui + "login")
	br.do("sign in again",
		chromedp.SendKeys(chromedp.CSS("#key_id"), a.AccessKey),
		chromedp.SendKeys(chromedp.CSS("#secret"), a.SecretKey),
		chromedp.Click(chromedp.CSS("#signin-key")),
		chromedp.WaitVisible(chromedp.CSS("header form.inline button")))
	list := c.admin(t, "bucket", "list")
	for _, name := range []string{"made-on-one", "made-on-other"} {
		if !strings.Contains(list, name) {
			t.Errorf("bucket %s not made through the console:\n%s", name, list)
		}
	}
}
