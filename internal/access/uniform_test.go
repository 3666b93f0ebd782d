package access_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/meta"
)

// TestUniformRefusalAccessKey checks that an unknown access key, a disabled
// one and a wrong secret read alike, so Basic credentials cannot be used to
// probe which key ids exist.
func TestUniformRefusalAccessKey(t *testing.T) {
	e := newEnv(t)
	key := e.user("alice", "")
	off := e.user("bob", "")
	if err := e.CLI().SetAccessKeyEnabled(e.ctx, off.ID, false); err != nil {
		t.Fatal(err)
	}
	try := func(user, pass string) string {
		t.Helper()
		r := request("GET", "/"+cacheBucket+"/"+narinfoKey)
		r.Header.Set("Authorization", basic(user, pass))
		_, ok, err := e.svc.HTTPIdentity(e.ctx, r)
		if !ok || !errors.Is(err, access.ErrBadCredentials) {
			t.Fatalf("HTTPIdentity(%s) = %v, %v; want ErrBadCredentials", user, ok, err)
		}
		return err.Error()
	}
	wrong := try(key.ID, flipLast(key.Secret))
	for name, msg := range map[string]string{
		"unknown key":  try("AKIANOSUCHKEY0000000", key.Secret),
		"disabled key": try(off.ID, off.Secret),
	} {
		if msg != wrong {
			t.Errorf("%s: %q, wrong secret: %q; want the same", name, msg, wrong)
		}
	}
	if strings.Contains(wrong, key.ID) {
		t.Errorf("message %q names the key", wrong)
	}
	_, err := e.svc.Secret(e.ctx, "AKIANOSUCHKEY0000000")
	_, err2 := e.svc.Secret(e.ctx, off.ID)
	if err == nil || err2 == nil || err.Error() != err2.Error() {
		t.Errorf("Secret: unknown %v, disabled %v; want the same error", err, err2)
	}
}

// TestUniformRefusalToken is TestUniformRefusalAccessKey for token ids.
func TestUniformRefusalToken(t *testing.T) {
	e := newEnv(t)
	e.user("alice", "")
	text := e.token("alice", time.Hour, "")
	id, secret, _ := strings.Cut(strings.TrimPrefix(text, access.TokenPrefix), "_")
	_, errWrong := e.svc.TokenIdentity(e.ctx, access.TokenPrefix+id+"_"+flipLast(secret), "")
	_, errUnknown := e.svc.TokenIdentity(e.ctx, access.TokenPrefix+"aaaaaaaaaaaa_"+secret, "")
	if errWrong == nil || errUnknown == nil || errWrong.Error() != errUnknown.Error() {
		t.Fatalf("wrong secret: %v; unknown id: %v; want the same error", errWrong, errUnknown)
	}
	if strings.Contains(errWrong.Error(), id) {
		t.Errorf("message %q names the token", errWrong)
	}
}

// TestMissesCachedLikeHits checks that looking up an unknown key or token
// a second time does not reach the store, as for a known one: a database
// round trip only for misses would time them apart.
func TestMissesCachedLikeHits(t *testing.T) {
	e := newEnv(t)
	key := e.user("alice", "")
	for _, id := range []string{key.ID, "AKIANOSUCHKEY0000000"} {
		e.svc.Secret(e.ctx, id) // fill the cache
		before := e.store.keys.Load()
		for range 3 {
			e.svc.Secret(e.ctx, id)
		}
		if n := e.store.keys.Load() - before; n != 0 {
			t.Errorf("key %s: %d store lookups after the first", id, n)
		}
	}
	text := e.token("alice", 0, "")
	for _, tok := range []string{text, access.TokenPrefix + "aaaaaaaaaaaa_secret"} {
		e.svc.TokenIdentity(e.ctx, tok, "")
		before := e.store.tokens.Load()
		for range 3 {
			e.svc.TokenIdentity(e.ctx, tok, "")
		}
		if n := e.store.tokens.Load() - before; n != 0 {
			t.Errorf("token %s: %d store lookups after the first", tok, n)
		}
	}
	// A remembered miss does not outlive the key's creation.
	const later = "AKIALATER00000000000"
	if _, err := e.svc.Secret(e.ctx, later); err == nil {
		t.Fatal("unknown key accepted")
	}
	if err := e.CLI().PutAccessKey(e.ctx, meta.AccessKey{ID: later, Secret: "s", User: "alice", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Secret(e.ctx, later); err != nil {
		t.Fatalf("key created after a miss: %v", err)
	}
}

// TestUnknownPolicyActionRefusedOnSet: setting a bucket, user or token
// policy that names no S3 action fails with ErrMalformedPolicy naming it.
func TestUnknownPolicyActionRefusedOnSet(t *testing.T) {
	e := newEnv(t)
	e.user("alice", "")
	bucketDoc := []byte(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObjekt","Resource":"arn:aws:s3:::` + cacheBucket + `/*"}]}`)
	err := e.svc.SetBucketPolicy(e.ctx, cacheBucket, bucketDoc)
	if !errors.Is(err, access.ErrMalformedPolicy) || !strings.Contains(err.Error(), "s3:GetObjekt") {
		t.Errorf("SetBucketPolicy: %v", err)
	}
	idDoc := []byte(`{"Statement":[{"Effect":"Allow","Action":"s3:Gett*","Resource":"*"}]}`)
	if _, err := e.svc.CreateUser(e.ctx, "bob", idDoc); !errors.Is(err, access.ErrMalformedPolicy) || !strings.Contains(err.Error(), "s3:Gett*") {
		t.Errorf("CreateUser: %v", err)
	}
	if _, _, err := e.svc.CreateToken(e.ctx, "alice", time.Hour, idDoc); !errors.Is(err, access.ErrMalformedPolicy) {
		t.Errorf("CreateToken: %v", err)
	}
}
