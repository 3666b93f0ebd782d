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
		fwd    []string // Forwarded
		remote string
		secure bool
	}{
		{"untrusted peer: headers ignored", "192.0.2.9:4000", []string{"203.0.113.7"}, "https", nil, "192.0.2.9:4000", false},
		{"trusted peer, one hop", "127.0.0.1:5000", []string{"203.0.113.7"}, "https", nil, "203.0.113.7", true},
		{"spoofed entries at the left are skipped", "127.0.0.1:5000", []string{"6.6.6.6, 203.0.113.7"}, "http", nil, "203.0.113.7", false},
		{"chain of trusted proxies", "127.0.0.1:5000", []string{"198.51.100.4, 10.1.2.3", "10.1.9.9"}, "", nil, "198.51.100.4", false},
		{"garbage ends the walk at the last proxy", "127.0.0.1:5000", []string{"203.0.113.7, not-an-ip, 10.1.2.3"}, "", nil, "10.1.2.3", false},
		{"all trusted: the leftmost", "[::1]:5000", []string{"10.1.0.1, 127.0.0.2"}, "HTTPS", nil, "10.1.0.1", true},
		{"no header: the proxy itself", "[::1]:5000", nil, "", nil, "::1", false},
		{"addresses with ports and IPv4-mapped", "[::ffff:127.0.0.1]:5000", []string{"[2001:db8::1]:443"}, "http, https", nil, "2001:db8::1", true},

		// Forwarded (RFC 7239), alone.
		{"Forwarded: one hop", "127.0.0.1:5000", nil, "", []string{"for=192.0.2.60;proto=https;by=203.0.113.43"}, "192.0.2.60", true},
		{"Forwarded: untrusted peer", "192.0.2.9:4000", nil, "", []string{"for=203.0.113.7;proto=https"}, "192.0.2.9:4000", false},
		{"Forwarded: quoted IPv6 with a port", "127.0.0.1:5000", nil, "", []string{`For="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::17", false},
		{"Forwarded: quoted IPv4 with a port, names in capitals", "127.0.0.1:5000", nil, "", []string{`FOR="192.0.2.43:47011";PROTO=HTTPS`}, "192.0.2.43", true},
		{"Forwarded: obfuscated port", "127.0.0.1:5000", nil, "", []string{`for="192.0.2.43:_abc"`}, "192.0.2.43", false},
		{"Forwarded: spoofed elements at the left are skipped", "127.0.0.1:5000", nil, "", []string{"for=6.6.6.6;proto=https, for=203.0.113.7;proto=http"}, "203.0.113.7", false},
		{"Forwarded: a chain over several header lines", "127.0.0.1:5000", nil, "", []string{"for=198.51.100.4;proto=https, for=10.1.2.3;proto=http", "for=10.1.9.9;proto=http"}, "198.51.100.4", true},
		{"Forwarded: the scheme is the one the client used", "127.0.0.1:5000", nil, "", []string{"for=198.51.100.4;proto=https", "for=10.1.9.9;proto=http"}, "198.51.100.4", true},
		{"Forwarded: obfuscated client ends the walk", "127.0.0.1:5000", nil, "", []string{"for=_hidden;proto=https, for=10.1.2.3"}, "10.1.2.3", true},
		{"Forwarded: obfuscated client at the proxy, its scheme kept", "127.0.0.1:5000", nil, "", []string{"for=_hidden;proto=https"}, "127.0.0.1", true},
		{"Forwarded: unknown ends the walk", "127.0.0.1:5000", nil, "", []string{"for=203.0.113.7, for=unknown, for=10.1.2.3"}, "10.1.2.3", false},
		{"Forwarded: an element without for= ends the walk", "127.0.0.1:5000", nil, "", []string{"for=203.0.113.7, proto=https;by=10.1.2.3"}, "127.0.0.1", true},
		{"Forwarded: a repeated parameter is garbage", "127.0.0.1:5000", nil, "", []string{"for=203.0.113.7;for=198.51.100.4"}, "127.0.0.1", false},
		{"Forwarded: a client's unbalanced quote swallows nothing", "127.0.0.1:5000", nil, "", []string{`for="6.6.6.6, for=203.0.113.7`}, "203.0.113.7", false},
		{"Forwarded: empty pairs", "127.0.0.1:5000", nil, "", []string{";for=203.0.113.7;;proto=https;"}, "203.0.113.7", true},
		{"Forwarded: escapes in a quoted string", "127.0.0.1:5000", nil, "", []string{`for="\[2001:db8::1\]";proto="\https"`}, "2001:db8::1", true},
		{"Forwarded: an unquoted IPv6 taken leniently", "[::1]:5000", nil, "", []string{"for=2001:db8::2"}, "2001:db8::2", false},
		{"Forwarded: all trusted, the leftmost", "[::1]:5000", nil, "", []string{"for=10.1.0.1;proto=https, for=127.0.0.2"}, "10.1.0.1", true},

		// Both: X-Forwarded-* wins (what nginx and HAProxy send by default;
		// a client's Forwarded passes through them untouched).
		{"both: X-Forwarded-For wins", "127.0.0.1:5000", []string{"203.0.113.7"}, "", []string{"for=198.51.100.4;proto=https"}, "203.0.113.7", false},
		{"both: X-Forwarded-Proto alone also wins", "127.0.0.1:5000", nil, "http", []string{"for=198.51.100.4;proto=https"}, "127.0.0.1", false},
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
		if tt.fwd != nil {
			r.Header["Forwarded"] = tt.fwd
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

// FuzzClient: any X-Forwarded-For or Forwarded gives an address, never a
// panic, and never one left of an untrusted entry: whatever a client
// writes, the entry the nearest proxy appended (in the same header line,
// as nginx's $proxy_add_x_forwarded_for does, or in a line of its own)
// names the client when it is not a trusted proxy.
func FuzzClient(f *testing.F) {
	f.Add("203.0.113.7, 10.0.0.1", false)
	f.Add("[::1]:80,,, ,x", false)
	f.Add("", false)
	f.Add(`for=192.0.2.60;proto=https;by=203.0.113.43, for="[2001:db8::1]:4711"`, true)
	f.Add(`for="6.6.6.6`, true)
	f.Add(`for=_hidden;proto=https, for=unknown`, true)
	f.Add(`for="\"";for=";;,proto=`, true)
	p, _ := Parse("10.0.0.0/8, 127.0.0.1")
	peer, _ := addrOf("127.0.0.1")
	f.Fuzz(func(t *testing.T, header string, rfc7239 bool) {
		name, appended := "X-Forwarded-For", "198.51.100.9"
		if rfc7239 {
			name, appended = "Forwarded", "for=198.51.100.9;proto=https"
		}
		for _, values := range [][]string{{header}, {header + ", " + appended}, {header, appended}} {
			c, _ := p.client(peer, http.Header{name: values})
			if !c.IsValid() {
				t.Fatalf("%s: %q: the zero address", name, values)
			}
			if len(values) > 1 || values[0] != header {
				if want, _ := addrOf("198.51.100.9"); c != want {
					t.Fatalf("%s: %q: client %s, want the appended entry's %s", name, values, c, want)
				}
			}
		}
	})
}
