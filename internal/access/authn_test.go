package access_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/meta"
)

func TestCreateToken(t *testing.T) {
	e := newEnv(t)
	e.user("alice", "")
	text, tok, err := e.svc.CreateToken(e.ctx, "alice", 30*24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	rest, ok := strings.CutPrefix(text, access.TokenPrefix)
	if !ok {
		t.Fatalf("token %q lacks the %q prefix", text, access.TokenPrefix)
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || id != tok.ID || len(secret) < 32 {
		t.Fatalf("token %q: id %q secret %q, want id %q and a long secret", text, id, secret, tok.ID)
	}
	if want := e.clock.Now().Add(30 * 24 * time.Hour); !tok.Expires.Equal(want) {
		t.Errorf("Expires = %v, want %v", tok.Expires, want)
	}
	stored, err := e.store.Token(e.ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(secret))
	if stored.User != "alice" || !bytes.Equal(stored.Hash, sum[:]) || stored.Policy != nil {
		t.Errorf("stored token = %+v, want alice's with the secret's SHA-256", stored)
	}

	// Stored hashed, never in clear: the secret appears nowhere in the
	// database's files.
	e.store.Close()
	files, _ := filepath.Glob(e.path + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the token's secret in clear", filepath.Base(f))
		}
	}

	e = newEnv(t)
	e.user("alice", "")
	if _, tok, err := e.svc.CreateToken(e.ctx, "alice", 0, nil); err != nil || !tok.Expires.IsZero() {
		t.Errorf("CreateToken without ttl: Expires = %v, %v; want none", tok.Expires, err)
	}
	if _, _, err := e.svc.CreateToken(e.ctx, "nobody", 0, nil); !errors.Is(err, meta.ErrNoSuchUser) {
		t.Errorf("CreateToken(nobody) = %v, want ErrNoSuchUser", err)
	}
	if _, _, err := e.svc.CreateToken(e.ctx, access.RootUser, 0, nil); !errors.Is(err, meta.ErrNoSuchUser) {
		t.Errorf("CreateToken(root) = %v, want ErrNoSuchUser (root has no tokens)", err)
	}
	_, _, err = e.svc.CreateToken(e.ctx, "alice", 0, []byte(`{"Statement": {"Effect": "Allow", "Action": "s3:GetObject"}}`))
	if !errors.Is(err, access.ErrMalformedPolicy) || !strings.Contains(err.Error(), "statement 1") {
		t.Errorf("CreateToken with a policy lacking Resource = %v, want ErrMalformedPolicy naming statement 1", err)
	}
	if ts, _ := e.store.Tokens(e.ctx); len(ts) != 1 {
		t.Errorf("%d tokens stored, want the 1 valid one", len(ts))
	}
}

func TestTokenIdentity(t *testing.T) {
	e := newEnv(t)
	e.user("alice", "")
	e.user("bob", "")
	text := e.token("alice", time.Hour, "")
	id, secret, _ := strings.Cut(strings.TrimPrefix(text, access.TokenPrefix), "_")
	other := e.token("bob", 0, "")

	want := access.Identity{User: "alice", TokenID: id}
	for _, user := range []string{"", "alice"} {
		if got, err := e.svc.TokenIdentity(e.ctx, text, user); err != nil || got != want {
			t.Errorf("TokenIdentity(user %q) = %+v, %v; want %+v", user, got, err, want)
		}
	}

	bad := []struct{ name, text, user string }{
		{"wrong user", text, "bob"},
		{"root as user", text, "root"},
		{"empty", "", ""},
		{"no prefix", strings.TrimPrefix(text, access.TokenPrefix), ""},
		{"prefix only", access.TokenPrefix, ""},
		{"no separator", access.TokenPrefix + id + secret, ""},
		{"no id", access.TokenPrefix + "_" + secret, ""},
		{"no secret", access.TokenPrefix + id + "_", ""},
		{"unknown id", access.TokenPrefix + "aaaaaaaaaaaa_" + secret, ""},
		{"wrong secret", access.TokenPrefix + id + "_" + strings.Repeat("a", len(secret)), ""},
		{"secret truncated", text[:len(text)-1], ""},
		{"secret extended", text + "a", ""},
		{"another's secret", access.TokenPrefix + id + "_" + other[strings.LastIndex(other, "_")+1:], ""},
		{"upper case prefix", "NBT_" + strings.TrimPrefix(text, access.TokenPrefix), ""},
		{"access key secret", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""},
	}
	for _, c := range bad {
		if got, err := e.svc.TokenIdentity(e.ctx, c.text, c.user); !errors.Is(err, access.ErrBadCredentials) {
			t.Errorf("%s: TokenIdentity(%q, %q) = %+v, %v; want ErrBadCredentials", c.name, c.text, c.user, got, err)
		}
	}
	// A bad guess at one token does not spoil it.
	if _, err := e.svc.TokenIdentity(e.ctx, text, ""); err != nil {
		t.Errorf("after the bad guesses: %v", err)
	}
}

func TestTokenExpiry(t *testing.T) {
	e := newEnv(t)
	e.user("alice", "")
	hour := e.token("alice", time.Hour, "")
	forever := e.token("alice", 0, "")
	for _, c := range []struct {
		advance   time.Duration
		hourValid bool
	}{
		{0, true},
		{59 * time.Minute, true},
		{time.Minute, true}, // exactly at Expires: not yet after it
		{time.Nanosecond, false},
		{10 * 365 * 24 * time.Hour, false},
	} {
		e.clock.Add(c.advance)
		_, err := e.svc.TokenIdentity(e.ctx, hour, "alice")
		if c.hourValid && err != nil {
			t.Errorf("at %v: 1h token: %v", e.clock.Now(), err)
		}
		if !c.hourValid && (!errors.Is(err, access.ErrBadCredentials) || !strings.Contains(err.Error(), "expired")) {
			t.Errorf("at %v: 1h token = %v, want an expired ErrBadCredentials", e.clock.Now(), err)
		}
		if _, err := e.svc.TokenIdentity(e.ctx, forever, ""); err != nil {
			t.Errorf("at %v: token without expiry: %v", e.clock.Now(), err)
		}
	}
}

// TestTokenRevocation revokes tokens through a second Store, as `nixbucket
// token revoke` does while the server runs: the next call refuses them.
func TestTokenRevocation(t *testing.T) {
	e := newEnv(t)
	e.user("alice", "seed-upload.iam.json")
	text := e.token("alice", 0, "")
	keep := e.token("alice", 0, "")
	id, err := e.svc.TokenIdentity(e.ctx, text, "alice")
	if err != nil {
		t.Fatal(err)
	}
	r := request("PUT", "/"+cacheBucket+"/"+narKey)
	if !e.allowed(r, id, "s3:PutObject", objectARN(narKey)) {
		t.Fatal("the token's user may not PutObject")
	}
	before := e.store.tokens.Load()
	if _, err := e.svc.TokenIdentity(e.ctx, text, ""); err != nil {
		t.Fatal(err)
	}
	if n := e.store.tokens.Load() - before; n != 0 {
		t.Errorf("a warm cache read the store %d times", n)
	}

	if err := e.CLI().DeleteToken(e.ctx, id.TokenID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.TokenIdentity(e.ctx, text, ""); !errors.Is(err, access.ErrBadCredentials) {
		t.Errorf("TokenIdentity after revocation = %v, want ErrBadCredentials", err)
	}
	// A request authenticated just before the revocation is refused too.
	if err := e.svc.Authorize(e.ctx, r, id, "s3:PutObject", objectARN(narKey)); !errors.Is(err, access.ErrBadCredentials) {
		t.Errorf("Authorize with a revoked token = %v, want ErrBadCredentials", err)
	}
	if _, err := e.svc.TokenIdentity(e.ctx, keep, ""); err != nil {
		t.Errorf("the other token: %v", err)
	}

	// Deleting the user revokes its tokens.
	if err := e.CLI().DeleteUser(e.ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.TokenIdentity(e.ctx, keep, ""); !errors.Is(err, access.ErrBadCredentials) {
		t.Errorf("token of a deleted user = %v, want ErrBadCredentials", err)
	}
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestHTTPIdentity(t *testing.T) {
	e := newEnv(t)
	key := e.user("alice", "")
	e.user("bob", "")
	rootKey, err := e.svc.CreateKey(e.ctx, access.RootUser)
	if err != nil {
		t.Fatal(err)
	}
	text := e.token("alice", time.Hour, "")
	tokID := strings.SplitN(text, "_", 3)[1]
	tokenAlice := access.Identity{User: "alice", TokenID: tokID}
	keyAlice := access.Identity{User: "alice", AccessKey: key.ID}

	for _, c := range []struct {
		name   string
		auth   []string // Authorization header values; nil for none
		want   access.Identity
		ok     bool // credentials present
		reject bool // ErrBadCredentials
	}{
		{"none", nil, access.Identity{}, false, false},
		{"sigv4 is not ours", []string{"AWS4-HMAC-SHA256 Credential=" + key.ID + "/20250601/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"}, access.Identity{}, false, false},
		{"bearer", []string{"Bearer " + text}, tokenAlice, true, false},
		{"bearer lower case", []string{"bearer " + text}, tokenAlice, true, false},
		{"bearer padded", []string{"Bearer   " + text + " "}, tokenAlice, true, false},
		{"bearer empty", []string{"Bearer"}, access.Identity{}, true, true},
		{"bearer garbage", []string{"Bearer nbt_x"}, access.Identity{}, true, true},
		{"bearer access key secret", []string{"Bearer " + key.Secret}, access.Identity{}, true, true},
		{"basic user and token", []string{basic("alice", text)}, tokenAlice, true, false},
		{"basic wrong user and token", []string{basic("bob", text)}, access.Identity{}, true, true},
		{"basic unknown user and token", []string{basic("carol", text)}, access.Identity{}, true, true},
		{"basic key id and secret", []string{basic(key.ID, key.Secret)}, keyAlice, true, false},
		{"basic key id and wrong secret", []string{basic(key.ID, flipLast(key.Secret))}, access.Identity{}, true, true},
		{"basic key id and empty secret", []string{basic(key.ID, "")}, access.Identity{}, true, true},
		{"basic user name and key secret", []string{basic("alice", key.Secret)}, access.Identity{}, true, true},
		{"basic root key", []string{basic(rootKey.ID, rootKey.Secret)}, access.Identity{Root: true, User: access.RootUser, AccessKey: rootKey.ID}, true, false},
		{"basic not base64", []string{"Basic !!!"}, access.Identity{}, true, true},
		{"basic no colon", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))}, access.Identity{}, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := request("GET", "/"+cacheBucket+"/"+narinfoKey)
			for _, a := range c.auth {
				r.Header.Add("Authorization", a)
			}
			got, ok, err := e.svc.HTTPIdentity(e.ctx, r)
			if ok != c.ok {
				t.Errorf("ok = %v, want %v", ok, c.ok)
			}
			if c.reject {
				if !errors.Is(err, access.ErrBadCredentials) {
					t.Errorf("err = %v, want ErrBadCredentials", err)
				}
				if got != (access.Identity{}) {
					t.Errorf("rejected credentials gave identity %+v", got)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("HTTPIdentity = %+v, %v; want %+v", got, err, c.want)
			}
		})
	}

	// The key's and the token's later fate reaches HTTPIdentity at once.
	if err := e.CLI().SetAccessKeyEnabled(e.ctx, key.ID, false); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(2 * time.Hour)
	for _, auth := range []string{basic(key.ID, key.Secret), basic("alice", text), "Bearer " + text} {
		r := request("GET", "/")
		r.Header.Set("Authorization", auth)
		if _, ok, err := e.svc.HTTPIdentity(e.ctx, r); !ok || !errors.Is(err, access.ErrBadCredentials) {
			t.Errorf("%.30s…: ok %v, %v; want refused", auth, ok, err)
		}
	}
}

// flipLast changes the last character of s, so a "wrong" secret is never
// the right one by chance.
func flipLast(s string) string {
	last := byte('x')
	if s[len(s)-1] == last {
		last = 'y'
	}
	return s[:len(s)-1] + string(last)
}
