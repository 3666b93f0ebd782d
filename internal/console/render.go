package console

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/units"
)

// layout is what every page's frame shows.
type layout struct {
	Title    string
	Who      string
	SignedIn bool
	Root     bool
	CSRF     string
	Path     string
	Data     any
}

var funcs = template.FuncMap{
	"bytes": units.Bytes,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"join": strings.Join,
	"num": func(n int64) string {
		s := strconv.FormatInt(n, 10)
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 && s[0] != '-' {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		return b.String()
	},
}

var pageNames = []string{"buckets", "login", "bucket", "path", "policy", "tokens", "traffic", "error"}

func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// render writes a page into a buffer first, so that a template error is
// a clean 500 rather than half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, c caller, v view) {
	l := layout{Title: v.title, Who: c.label, SignedIn: c.sess.signedIn() && !c.id.Anonymous,
		Root: c.id.Root, Path: r.URL.Path, Data: v.data}
	if c.hasSess {
		l.CSRF = h.csrfToken(c.sess)
	}
	var buf bytes.Buffer
	if err := h.pages[v.name].Execute(&buf, l); err != nil {
		h.log.Error("console: rendering", "page", v.name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	if v.status != 0 {
		w.WriteHeader(v.status)
	}
	w.Write(buf.Bytes())
}
