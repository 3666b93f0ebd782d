package sigv4

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestCurlNixKeys signs requests for the keys Nix ≥2.33 uses with the real
// curl, as Nix does (libcurl's CURLOPT_AWS_SIGV4 with service "s3"). Nix
// renders a key's path leaving ':' and '@' unescaped and escaping the rest
// ("sha256:…%21out.doi"), and curl signs that path as sent, where AWS's
// rule re-encodes the decoded path (":" as "%3A"). Nix's CA realisations
// live under such keys, so they must verify too.
func TestCurlNixKeys(t *testing.T) {
	curl := needTool(t, "curl", "--version")
	var rec recorder
	srv := httptest.NewServer(verifyHandler(newTestVerifier(time.Now()), rec.add))
	defer srv.Close()
	for _, target := range []string{
		"/nix-cache/nix-cache-info",
		"/nix-cache/nar/0mw6qwsrz35cck0wnjgmfnjzwnjbspsyihnfkng38kxghdc9k9zd.nar.xz",
		"/nix-cache/log/7ch0l3hcz6xk8s9g8xq0ashgczmqmjl6-libsigc%2B%2B-2.12.1.drv",
		"/nix-cache/realisations/sha256:1b4sb93wp679q4zx9k1ignby1yna3z7c4c2ri3wphylbc2dwsys0%21out.doi",
		"/nix-cache/realisations/sha256%3A1b4sb93wp679q4zx9k1ignby1yna3z7c4c2ri3wphylbc2dwsys0%21out.doi",
		"/nix-cache/odd/a@b:c%20d",
	} {
		for _, method := range []string{"GET", "PUT"} {
			args := []string{"-sS", "-o", "/dev/null", "-D", "-", "-X", method,
				"--aws-sigv4", "aws:amz:us-east-1:s3", "--user", testAK + ":" + testSecret}
			if method == "PUT" {
				// curl ≥ 8 adds this header itself for "s3"; 7.88 needs it.
				args = append(args, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "--data-binary", "{}")
			} else {
				args = append(args, "-H", "x-amz-content-sha256: "+emptySHA256)
			}
			out, err := exec.Command(curl, append(args, srv.URL+target)...).Output()
			if err != nil {
				t.Fatalf("curl %s %s: %v", method, target, err)
			}
			var got verdict
			for _, line := range strings.Split(string(out), "\n") {
				if v, ok := strings.CutPrefix(line, "X-Verdict: "); ok {
					if err := json.Unmarshal([]byte(strings.TrimSpace(v)), &got); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got.Code != "" || got.AccessKey != testAK {
				t.Errorf("curl %s %s: %s: %s", method, target, got.Code, got.Message)
			}
		}
	}
	rec.take()
}

// TestPathAsSentIsTheOnlyAlternative checks that a signature over the path
// as sent covers that path only: not another key, and not the same key
// sent with another escaping.
func TestPathAsSentIsTheOnlyAlternative(t *testing.T) {
	now := time.Now().UTC()
	v := newTestVerifier(now)
	sign := func(signedPath, target string) error {
		r := httptest.NewRequest(http.MethodGet, "http://example.com"+target, nil)
		amzDate := now.Format("20060102T150405Z")
		date := amzDate[:8]
		r.Header.Set("X-Amz-Date", amzDate)
		r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
		canon := "GET\n" + signedPath + "\n\nhost:example.com\nx-amz-content-sha256:" + emptySHA256 +
			"\nx-amz-date:" + amzDate + "\n\nhost;x-amz-content-sha256;x-amz-date\n" + emptySHA256
		scope := date + "/us-east-1/s3/aws4_request"
		sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + sha256Hex([]byte(canon))
		sig := refHMAC(refSigningKey(testSecret, date, "us-east-1"), sts)
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAK+"/"+scope+
			", SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="+hex.EncodeToString(sig))
		_, err := v.Verify(r)
		return err
	}
	const key = "/b/realisations/sha256:x%21out.doi"
	for _, c := range []struct {
		signed, target string
		ok             bool
	}{
		{"/b/realisations/sha256%3Ax%21out.doi", key, true}, // AWS's rule
		{key, key, true}, // as sent (curl, Nix ≥2.33)
		{key, "/b/realisations/sha256%3Ax%21out.doi", false},
		{key, "/b/realisations/sha256:x!out.doi", false},
		{key, "/b/realisations/sha256:y%21out.doi", false},
		{"/b/realisations/sha256:x!out.doi", key, false},
	} {
		err := sign(c.signed, c.target)
		if c.ok && err != nil {
			t.Errorf("signed %s, sent %s: %v, want accepted", c.signed, c.target, err)
		}
		if !c.ok {
			wantCode(t, err, CodeSignatureDoesNotMatch)
		}
	}
}
