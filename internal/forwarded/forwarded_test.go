package forwarded

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestParse(t *testing.T) {
	p, err := Parse(" 127.0.0.1, 10.0.0.0/8 ,::1,, ::ffff:192.0.2.1,2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.String(), "127.0.0.1/32,10.0.0.0/8,::1/128,192.0.2.1/32,2001:db8::/32"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if p, err := Parse(" , "); p != nil || err != nil {
		t.Errorf("Parse of an empty list = %v, %v; want nil, nil", p, err)
	}
	for _, bad := range []string{"localhost", "10.0.0.0/33", "1.2.3", "10.0.0.1:80"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// seen is what a handler behind Wrap sees of a request.
type seen struct {
	remote string
	secure bool
	local  bool
}

func through(t *testing.T, p *Proxies, r *http.Request) seen {
	t.Helper()
	var s seen
	p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s = seen{r.RemoteAddr, Secure(r), Local(r)}
	})).ServeHTTP(httptest.NewRecorder(), r)
	return s
}

func TestWrap(t *testing.T) {
	p, err := Parse("127.0.0.0/8, 10.1.0.0/16, ::1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		peer   string
		xff    []string
		proto  string
		remote string
		secure bool
	}{
		{"untrusted peer: headers ignored", "192.0.2.9:4000", []string{"203.0.113.7"}, "https", "192.0.2.9:4000", false},
		{"trusted peer, one hop", "127.0.0.1:5000", []string{"203.0.113.7"}, "https", "203.0.113.7", true},
		{"spoofed entries at the left are skipped", "127.0.0.1:5000", []string{"6.6.6.6, 203.0.113.7"}, "http", "203.0.113.7", false},
		{"chain of trusted proxies", "127.0.0.1:5000", []string{"198.51.100.4, 10.1.2.3", "10.1.9.9"}, "", "198.51.100.4", false},
		{"garbage ends the walk at the last proxy", "127.0.0.1:5000", []string{"203.0.113.7, not-an-ip, 10.1.2.3"}, "", "10.1.2.3", false},
		{"all trusted: the leftmost", "[::1]:5000", []string{"10.1.0.1, 127.0.0.2"}, "HTTPS", "10.1.0.1", true},
		{"no header: the proxy itself", "[::1]:5000", nil, "", "::1", false},
		{"addresses with ports and IPv4-mapped", "[::ffff:127.0.0.1]:5000", []string{"[2001:db8::1]:443"}, "http, https", "2001:db8::1", true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/nix-cache/nix-cache-info", nil)
		r.RemoteAddr = tt.peer
		if tt.xff != nil {
			r.Header["X-Forwarded-For"] = tt.xff
		}
		if tt.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		got := through(t, p, r)
		if got.remote != tt.remote || got.secure != tt.secure {
			t.Errorf("%s: remote %q secure %v, want %q %v", tt.name, got.remote, got.secure, tt.remote, tt.secure)
		}
		if r.RemoteAddr != tt.peer {
			t.Errorf("%s: the caller's request was changed: RemoteAddr %q", tt.name, r.RemoteAddr)
		}
	}
}

func TestNilProxies(t *testing.T) {
	var p *Proxies
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	r.Header.Set("X-Forwarded-Proto", "https")
	if got := through(t, p, r); got.remote != "127.0.0.1:5000" || got.secure || got.local {
		t.Errorf("without trusted proxies: %+v; want the peer, not secure, not local", got)
	}
}

func TestLocal(t *testing.T) {
	for _, tt := range []struct {
		remote string
		header string
		want   bool
	}{
		{"127.0.0.1:5000", "", true},
		{"[::1]:5000", "", true},
		{"127.0.0.1", "", true},
		{"192.0.2.1:5000", "", false},
		{"127.0.0.1:5000", "X-Forwarded-For", false},
		{"127.0.0.1:5000", "Forwarded", false},
		{"127.0.0.1:5000", "X-Real-Ip", false},
		{"garbage", "", false},
	} {
		r := httptest.NewRequest("GET", "/-/metrics", nil)
		r.RemoteAddr = tt.remote
		if tt.header != "" {
			r.Header.Set(tt.header, "203.0.113.7")
		}
		if got := Local(r); got != tt.want {
			t.Errorf("Local(%s, %q) = %v, want %v", tt.remote, tt.header, got, tt.want)
		}
	}
}

func TestSecureTLS(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	if Secure(r) || Scheme(r) != "http" {
		t.Error("a plain request is secure")
	}
	r.TLS = &tls.ConnectionState{}
	if !Secure(r) || Scheme(r) != "https" {
		t.Error("a TLS request is not secure")
	}
}

// FuzzClient: any X-Forwarded-For gives an address, never a panic, and
// never one left of an untrusted entry.
func FuzzClient(f *testing.F) {
	f.Add("203.0.113.7, 10.0.0.1")
	f.Add("[::1]:80,,, ,x")
	f.Add("")
	p, _ := Parse("10.0.0.0/8, 127.0.0.1")
	f.Fuzz(func(t *testing.T, xff string) {
		peer, _ := addrOf("127.0.0.1")
		c := p.client(peer, []string{xff})
		if !c.IsValid() {
			t.Fatalf("client(%q) is the zero address", xff)
		}
	})
}
