package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// browser is one headless Chromium with a fresh profile, driven by
// chromedp, and where its screenshots go.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots string
}

// consoleBrowser starts Chromium headless with the flags that keep it off
// the network, and a fresh --user-data-dir; it skips (fails under CI)
// when Chromium is missing. Every step is bounded by a generous five
// minutes in all. Screenshots go to the test's temp dir, or to
// NIXBUCKET_CONSOLE_SHOTS when set (to keep one for the docs).
func consoleBrowser(t *testing.T) *browser {
	t.Helper()
	bin := need(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	base, cancelTime := context.WithTimeout(context.Background(), 5*time.Minute)
	actx, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc(); cancelTime() })
	shots := os.Getenv("NIXBUCKET_CONSOLE_SHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	return &browser{t: t, ctx: ctx, shots: shots}
}

// do runs steps, failing the test on the first error.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// open navigates to url and returns the answer's status.
func (b *browser) open(url string) int {
	b.t.Helper()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(url))
	if err != nil {
		b.t.Fatalf("browser: open %s: %v", url, err)
	}
	return int(resp.Status)
}

// text returns the text of the first element matching a CSS selector,
// waiting for it to be visible.
func (b *browser) text(sel string) string {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("browser: text of %s: %v", sel, err)
	}
	return s
}

// until waits for a JavaScript expression to hold, across the
// navigation a click starts: a poll cut short by the page going away is
// started again on the next page.
func (b *browser) until(expr string) {
	b.t.Helper()
	var err error
	for range 100 {
		if _, err = chromedp.Run(b.ctx, chromedp.Poll[bool](expr)); err == nil {
			return
		}
		if b.ctx.Err() != nil {
			break
		}
	}
	b.t.Fatalf("browser: waiting for %s: %v", expr, err)
}

// eval evaluates JavaScript in the page.
func evalIn[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("browser: evaluate %s: %v", js, err)
	}
	return v
}

// body returns the page's text.
func (b *browser) body() string {
	b.t.Helper()
	return evalIn[string](b, `document.body.innerText`)
}

// shot saves a full-page screenshot as NAME.png (quality 100 is PNG;
// less would be JPEG) and logs where.
func (b *browser) shot(name string) string {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	p := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s: %s", name, p)
	b.labelled(name)
	return p
}

// labelled checks that every form control of the page has a label, and
// that nothing clickable is a bare element the keyboard cannot reach.
func (b *browser) labelled(page string) {
	b.t.Helper()
	bad := evalIn[[]string](b, `[...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
		.filter(e => e.labels.length == 0).map(e => e.outerHTML)
		.concat([...document.querySelectorAll("[onclick], div[role=button], span[role=button]")].map(e => e.outerHTML))`)
	if len(bad) > 0 {
		b.t.Errorf("page %s: controls without a label, or click-only elements: %q", page, bad)
	}
	for _, ext := range evalIn[[]string](b, offlineJS) {
		b.t.Errorf("page %s does not work offline: %s", page, ext)
	}
	for _, el := range b.unnamed() {
		b.t.Errorf("page %s: %s is reached by Tab but has no accessible name in Chromium's accessibility tree", page, el)
	}
}

// tabbable selects what the Tab key reaches.
const tabbable = `a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])`

// unnamed returns, as HTML, the elements the Tab key reaches whose node in
// Chromium's accessibility tree has no name: a screen reader says nothing
// useful when they get the focus.
func (b *browser) unnamed() []string {
	b.t.Helper()
	n := evalIn[int](b, `document.querySelectorAll('`+tabbable+`').length`)
	var bad []string
	for i := range n {
		el := fmt.Sprintf(`document.querySelectorAll('%s')[%d]`, tabbable, i)
		// The element's own node (not DOM.getDocument, which would
		// renumber the nodes chromedp holds).
		name, err := chromedp.Run(b.ctx, chromedp.Action[string](func(ctx context.Context, t *chromedp.Target) (string, error) {
			obj, err := cdp.Call(ctx, t, runtime.Evaluate, runtime.EvaluateParams{Expression: el})
			if err != nil {
				return "", err
			}
			no := false
			ax, err := cdp.Call(ctx, t, accessibility.GetPartialAXTree, accessibility.GetPartialAXTreeParams{ObjectID: obj.Result.ObjectID, FetchRelatives: &no})
			if err != nil {
				return "", err
			}
			for _, n := range ax.Nodes {
				if n.Ignored {
					return "(not in the tree)", nil // not shown, nor reached
				}
				if n.Name != nil {
					return strings.Trim(string(n.Name.Value), `" `), nil
				}
			}
			return "", nil
		}))
		if err != nil {
			b.t.Fatalf("browser: accessibility tree: %v", err)
		}
		if name == "" {
			bad = append(bad, evalIn[string](b, el+`.outerHTML.slice(0, 120)`))
		}
	}
	return bad
}

// offlineJS lists what a page needs from another origin: a resource it
// loaded (script, style, font, image), a link, source or form target,
// or a url() in its style sheets. The console must work with no network.
const offlineJS = `(() => {
	const bad = [], here = location.origin;
	const away = (u, base) => !u.startsWith("data:") && !u.startsWith("#") && new URL(u, base || location.href).origin != here;
	for (const e of performance.getEntriesByType("resource")) {
		if (away(e.name)) bad.push("loaded " + e.name);
	}
	for (const e of document.querySelectorAll("[href], [src], [action], [srcset], [poster]")) {
		for (const a of ["href", "src", "action", "poster"]) {
			const v = e.getAttribute(a);
			if (v && away(v)) bad.push(e.tagName.toLowerCase() + " " + a + "=" + v);
		}
	}
	for (const sh of document.styleSheets) {
		if (sh.href && away(sh.href)) bad.push("style sheet " + sh.href);
		let rules = [];
		try { rules = [...sh.cssRules]; } catch (e) { bad.push("style sheet not readable: " + sh.href); }
		for (const r of rules) {
			for (const m of r.cssText.matchAll(/url\(\s*["']?([^"')]*)/g)) {
				if (away(m[1], sh.href)) bad.push("css url(" + m[1] + ")");
			}
			if (r.constructor.name == "CSSImportRule") bad.push("css @import " + r.href);
		}
	}
	return bad;
})()`

// cookies returns the browser's cookies for url.
func (b *browser) cookies(url string) []*network.Cookie {
	b.t.Helper()
	res, err := chromedp.Run(b.ctx, chromedp.Action[network.GetCookiesResult](func(ctx context.Context, t *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	}))
	if err != nil {
		b.t.Fatalf("browser: cookies: %v", err)
	}
	return res.Cookies
}

// fitsWidth checks, at a viewport of width CSS pixels, that the page does
// not scroll sideways and can be read (see readable), then restores the
// window's viewport.
func (b *browser) fitsWidth(width int64, what string) {
	b.t.Helper()
	b.do("viewport", chromedp.EmulateViewport(width, 800))
	defer b.do("viewport back", chromedp.EmulateViewport(1280, 900))
	sw := evalIn[int64](b, `document.documentElement.scrollWidth`)
	if sw > width {
		b.t.Errorf("%s at %d px: scrollWidth %d, the page scrolls sideways", what, width, sw)
	}
	for _, bad := range evalIn[[]string](b, readableJS) {
		b.t.Errorf("%s at %d px: %s", what, width, bad)
	}
	b.shot(strings.ReplaceAll(what, " ", "-") + "-" + itoa(width))
}

// tabWalk presses Tab from the top of the page until the focus leaves
// the page's last control (at most max presses), checking that each
// control focused shows its focus outline, and returns what was focused:
// the id, else the text or aria-label, of each element.
func (b *browser) tabWalk(max int) []string {
	b.t.Helper()
	evalIn[bool](b, `(document.activeElement && document.activeElement.blur(), window.scrollTo(0, 0), true)`)
	var seen []string
	for range max {
		b.do("Tab", chromedp.KeyEvent(kb.Tab))
		el := evalIn[[]string](b, `(() => { const e = document.activeElement;
			if (!e || e == document.body) return [];
			return [e.id || e.getAttribute("aria-label") || e.textContent.trim(), getComputedStyle(e).outlineStyle]; })()`)
		if len(el) == 0 {
			return seen // past the last control
		}
		if el[1] == "none" || el[1] == "" {
			b.t.Errorf("%q focused by Tab shows no focus outline", el[0])
		}
		seen = append(seen, el[0])
	}
	b.t.Errorf("%d Tabs did not get through the page: %q", max, seen)
	return seen
}

// readableJS lists what a page at the current width hides or garbles,
// beyond scrolling sideways (which a scrolling box inside the page
// avoids): a table cell outside the screen (a column cut off behind a
// box's scrollbar), a chart label drawn under 10 px high or stretched
// (a → d of its transform: an SVG scaled to the width with
// preserveAspectRatio=none squeezes its text), chart labels on top of
// each other, and a block to copy whose lines are hidden behind its own
// scrollbar.
const readableJS = `(() => {
	const w = window.innerWidth, bad = [];
	for (const c of document.querySelectorAll("main table th, main table td")) {
		const r = c.getBoundingClientRect();
		if (r.width > 0 && (r.right > w + 0.5 || r.left < -0.5)) {
			bad.push("table cell outside the screen (" + Math.round(r.left) + ".." + Math.round(r.right) + "): " + c.textContent.trim().slice(0, 60));
		}
	}
	for (const fig of document.querySelectorAll("figure.chart")) {
		const boxes = [];
		for (const e of fig.querySelectorAll("text")) {
			if (getComputedStyle(e).display == "none") continue;
			const m = e.getScreenCTM(), px = parseFloat(getComputedStyle(e).fontSize) * m.d;
			if (px < 10 || Math.abs(m.a - m.d) > 0.01) {
				bad.push("chart label " + JSON.stringify(e.textContent) + " drawn " + px.toFixed(1) + " px high and " + (m.a / m.d).toFixed(2) + " times as wide as it should be");
			}
			if (e.hasAttribute("text-anchor")) boxes.push(e.getBoundingClientRect());
		}
		boxes.sort((a, b) => a.left - b.left);
		for (let i = 1; i < boxes.length; i++) {
			if (boxes[i].left < boxes[i - 1].right) bad.push("chart tick labels overlap in " + fig.querySelector("figcaption").textContent);
		}
	}
	for (const ta of document.querySelectorAll("textarea.copy")) {
		if (ta.scrollHeight > ta.clientHeight + 1) {
			bad.push("copy block #" + ta.id + " hides lines behind its scrollbar (" + ta.scrollHeight + " px of text in " + ta.clientHeight + ")");
		}
	}
	return bad;
})()`

func itoa(n int64) string {
	var s []byte
	if n == 0 {
		return "0"
	}
	for n > 0 {
		s = append([]byte{byte('0' + n%10)}, s...)
		n /= 10
	}
	return string(s)
}
