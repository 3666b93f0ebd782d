package server

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Banner is what nixbucket prints to get someone going: on the first start
// (Server.Banner) and at any time after (`nixbucket info`, which reads
// the same facts from the data directory), so that both say the same.
type Banner struct {
	// FirstStart heads the text with what the first start created.
	FirstStart bool
	Data       string // the absolute data directory
	// Meta is the metadata store's URL with its password redacted (see
	// backend.Redact), or "" for the data directory's: the admin commands
	// the text shows must name it.
	Meta string
	// Endpoint is the base URL clients reach the server at, such as
	// http://127.0.0.1:9000 (see UsableEndpoint); Other is another one
	// they may use from other machines, or "".
	Endpoint, Other string
	Region          string
	// CA is the certificate clients must be told to trust (an https
	// endpoint the system's CAs do not vouch for), or none: the
	// commands then carry it.
	CA        ClientCA
	RootKeyID string
	// RootSecret, when set, is printed in the netrc line; else the line
	// names the file that holds it. The first start leaves it empty: its
	// banner goes to the log.
	RootSecret string
	// Buckets are listed when the text is not a first start's; Cache is
	// the bucket the paste-ready commands name.
	Buckets []BannerBucket
	Cache   string
}

// BannerBucket is one bucket as the banner lists it.
type BannerBucket struct {
	Name string
	Keys []string // trusted-public-keys form
	// Public says the bucket policy lets anonymous callers in.
	Public bool
}

// UsableEndpoint is the base URL clients should use for a server
// listening on addr (a listener's address, host:port). A wildcard address
// (":9000", "0.0.0.0:9000", "[::]:9000") is no host a client can dial, so
// the endpoint names 127.0.0.1 — paste-ready commands then work on this
// machine whatever its network — and other names this machine's host
// name, for clients elsewhere. For any other address other is "".
func UsableEndpoint(scheme, addr string) (endpoint, other string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return scheme + "://" + addr, ""
	}
	ip := net.ParseIP(host)
	if host != "" && (ip == nil || !ip.IsUnspecified()) {
		return scheme + "://" + net.JoinHostPort(host, port), ""
	}
	endpoint = scheme + "://" + net.JoinHostPort("127.0.0.1", port)
	if name, err := os.Hostname(); err == nil && name != "" {
		other = scheme + "://" + net.JoinHostPort(name, port)
	}
	return endpoint, other
}

// String renders the banner; every command in it is ready to paste.
func (b Banner) String() string {
	u, err := url.Parse(b.Endpoint)
	if err != nil || u.Host == "" {
		u = &url.URL{Scheme: "http", Host: "127.0.0.1:9000"}
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[bool]string{true: "443", false: "80"}[u.Scheme == "https"]
	}
	endpoint := u.Scheme + "://" + u.Host
	cache := b.Cache
	if cache == "" {
		cache = DefaultCache
	}
	var keys []string
	for _, bk := range b.Buckets {
		if bk.Name == cache {
			keys = bk.Keys
		}
	}
	creds := filepath.Join(b.Data, "credentials")
	netrc := filepath.Join(b.Data, "netrc")
	var w strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&w, format, a...) }
	if b.FirstStart {
		p("\nnixbucket: first start — admin credentials and the binary cache %q created.\n\n", cache)
	} else {
		p("\nnixbucket: data in %s\n\n", b.Data)
	}
	p("  endpoint:          %s\n", endpoint)
	if b.Other != "" {
		p("                     (from other machines: %s)\n", b.Other)
	}
	// With a certificate the system does not trust, every client must be
	// told which one to: Nix by NIX_SSL_CERT_FILE alone (Debian's 2.8
	// ignores ssl-cert-file; the variable replaces the system bundle),
	// nixbucket push and use by SSL_CERT_FILE (which they prefer, and
	// which many machines set), the aws CLI by --ca-bundle.
	var nixCA, goCA, awsCA string
	if f := b.CA.File; f != "" {
		nixCA, goCA, awsCA = "NIX_SSL_CERT_FILE="+f+" ", "SSL_CERT_FILE="+f+" ", " --ca-bundle "+f
		p("  certificate:       no CA of this system vouches for it (self-signed?): clients must trust\n")
		if b.CA.Root {
			p("                     %s, as the commands below do (Nix: NIX_SSL_CERT_FILE=%s)\n", f, f)
		} else {
			awsCA = " --ca-bundle CA.pem"
			p("                     %s (Nix: NIX_SSL_CERT_FILE=%s), as the commands below do;\n", f, f)
			p("                     the aws CLI wants the certificate of the CA that issued it: CA.pem below\n")
		}
	}
	p("  access key id:     %s\n", b.RootKeyID)
	p("  secret access key: not printed; it is saved (mode 0600) in\n")
	p("    %s   as the AWS profile [%s]\n", creds, CredentialsProfile)
	p("    %s   as netrc lines for 127.0.0.1 and localhost (Nix's netrc-file)\n", netrc)
	p("  To read it:\n")
	p("    grep aws_secret_access_key %s\n", creds)
	p("    AWS_SHARED_CREDENTIALS_FILE=%s aws configure get aws_secret_access_key --profile %s\n", creds, CredentialsProfile)
	secret := b.RootSecret
	if secret == "" {
		secret = "SECRET"
	}
	p("  netrc line (Nix matches the host without the port):\n")
	p("    machine %s login %s password %s\n", host, b.RootKeyID, secret)
	if b.RootSecret == "" {
		p("    (SECRET: the secret access key above; nixbucket info --show-secrets prints the line whole)\n")
	}
	if !b.FirstStart {
		p("\nBuckets:\n")
		if len(b.Buckets) == 0 {
			p("  none (aws s3 mb, or nixbucket serve's first start, makes one)\n")
		}
		for _, bk := range b.Buckets {
			access := "private"
			if bk.Public {
				access = "public: its policy lets anonymous callers in"
			}
			p("  %s/%s   (%s)\n", endpoint, bk.Name, access)
			if len(bk.Keys) == 0 {
				p("    no signing key: what is pushed there is stored unsigned\n")
			}
			for _, k := range bk.Keys {
				p("    %s\n", k)
			}
		}
	}
	p("\nS3:\n")
	p("  AWS_SHARED_CREDENTIALS_FILE=%s aws%s --endpoint-url %s --profile %s s3 ls\n", creds, awsCA, endpoint, CredentialsProfile)
	p("\nNix (the cache signs what you push; trust its key):\n")
	p("  substituter:         %s/%s\n", endpoint, cache)
	p("  trusted-public-keys: %s\n", strings.Join(keys, " "))
	p("  nix.conf:            %snixbucket use %s/%s --netrc-file %s  (prints the lines; --write adds them)\n", goCA, endpoint, cache, netrc)
	if nixCA != "" {
		p("                       (and Nix needs %sin its environment, the nix-daemon's if it has one)\n", nixCA)
	}
	p("  push over HTTP:      %snix --extra-experimental-features nix-command copy --option netrc-file %s --to '%s/%s?compression=zstd' ./result\n", nixCA, netrc, endpoint, cache)
	p("  push over S3:        %sAWS_SHARED_CREDENTIALS_FILE=%s nix --extra-experimental-features nix-command copy --to 's3://%s?endpoint=%s&scheme=%s&profile=%s&region=%s' ./result\n",
		nixCA, creds, cache, net.JoinHostPort(host, port), u.Scheme, CredentialsProfile, b.Region)
	p("                       (a Nix built with S3 support; Debian's is not: push over HTTP, or with nixbucket push)\n")
	p("  nixbucket push:      %snixbucket push --netrc-file %s --to %s/%s ./result\n", goCA, netrc, endpoint, cache)
	p("  substitute:          %snix-store -r /nix/store/... --option substituters '%s/%s' --option trusted-public-keys '%s' --option netrc-file %s --option narinfo-cache-positive-ttl 0\n",
		nixCA, endpoint, cache, strings.Join(keys, " "), netrc)
	// Nix keeps what it pushed, unsigned, in ~/.cache/nix for 30 days: on
	// the machine that pushed, without the ttl option, the substitute above
	// fails "not signed by any of the keys".
	p("                       (narinfo-cache-positive-ttl 0: Nix remembers the narinfos it pushed, unsigned; another machine needs no such option)\n")
	public := false
	for _, bk := range b.Buckets {
		public = public || bk.Name == cache && bk.Public
	}
	if !public {
		p("\nThe cache is private. To let anyone read it (the seed's anonymous-read policy):\n")
		if b.Meta == "" {
			p("  nixbucket bucket policy set --data %s %s anonymous-read\n", b.Data, cache)
		} else {
			p("  nixbucket bucket policy set --meta '%s' %s anonymous-read\n", b.Meta, cache)
			if strings.Contains(b.Meta, "xxxxx") {
				p("  (with the password in place of xxxxx, or with the URL in NIXBUCKET_META and no --meta)\n")
			}
		}
	}
	p("\n")
	return w.String()
}
