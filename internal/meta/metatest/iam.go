package metatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Policy documents; the store keeps them verbatim, so any bytes do.
var (
	policyA = []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`)
	policyB = []byte(`{"Statement":{"Effect":"Deny","NotAction":"s3:*","Resource":"*"}}`)
)

func mustCreateUser(t *testing.T, s meta.Store, name string, policy []byte) {
	t.Helper()
	if err := s.CreateUser(t.Context(), meta.User{Name: name, Created: when, Policy: policy}); err != nil {
		t.Fatalf("CreateUser(%q): %v", name, err)
	}
}

func mustPutKey(t *testing.T, s meta.Store, id, user string) {
	t.Helper()
	k := meta.AccessKey{ID: id, Secret: "secret-" + id, User: user, Created: when, Enabled: true}
	if err := s.PutAccessKey(t.Context(), k); err != nil {
		t.Fatalf("PutAccessKey(%q): %v", id, err)
	}
}

// newToken returns a token with every field set.
func newToken(id, user string) meta.Token {
	hash := bytes.Repeat([]byte(id), 32)[:32]
	return meta.Token{ID: id, User: user, Hash: hash, Created: when,
		Expires: when.Add(30 * 24 * time.Hour), Policy: policyA}
}

func mustPutToken(t *testing.T, s meta.Store, tok meta.Token) {
	t.Helper()
	if err := s.PutToken(t.Context(), tok); err != nil {
		t.Fatalf("PutToken(%q): %v", tok.ID, err)
	}
}

func checkUser(t *testing.T, got, want meta.User) {
	t.Helper()
	checkTime(t, "user "+want.Name+" Created", got.Created, want.Created)
	if got.Name != want.Name || !bytes.Equal(got.Policy, want.Policy) || (got.Policy == nil) != (want.Policy == nil) {
		t.Errorf("user:\n got %q %q\nwant %q %q", got.Name, got.Policy, want.Name, want.Policy)
	}
}

func checkToken(t *testing.T, got, want meta.Token) {
	t.Helper()
	checkTime(t, "token "+want.ID+" Created", got.Created, want.Created)
	if want.Expires.IsZero() {
		if !got.Expires.IsZero() {
			t.Errorf("token %s Expires %v, want zero", want.ID, got.Expires)
		}
	} else {
		checkTime(t, "token "+want.ID+" Expires", got.Expires, want.Expires)
	}
	if got.ID != want.ID || got.User != want.User || !bytes.Equal(got.Hash, want.Hash) ||
		!bytes.Equal(got.Policy, want.Policy) || (got.Policy == nil) != (want.Policy == nil) {
		t.Errorf("token:\n got %+v\nwant %+v", got, want)
	}
}

func testUsers(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if us, err := s.Users(ctx); err != nil || len(us) != 0 {
		t.Fatalf("Users on an empty store = %v, %v; want none", us, err)
	}
	want := map[string]meta.User{
		"cache-upload": {Name: "cache-upload", Created: when, Policy: policyA},
		"alice":        {Name: "alice", Created: when.Add(time.Second)},
		"Alice":        {Name: "Alice", Created: when}, // names are case-sensitive
		"bob@example":  {Name: "bob@example", Created: when, Policy: policyB},
	}
	for _, u := range want {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%q): %v", u.Name, err)
		}
	}
	for _, c := range []struct {
		name string
		u    meta.User
	}{
		{"an existing name", meta.User{Name: "alice", Created: when.Add(time.Hour), Policy: policyB}},
		{"the administrator's name", meta.User{Name: "root", Created: when}},
	} {
		wantErr(t, "CreateUser of "+c.name, s.CreateUser(ctx, c.u), meta.ErrUserExists)
	}
	for _, w := range want { // unchanged by the failed creates
		got, err := s.User(ctx, w.Name)
		if err != nil {
			t.Fatalf("User(%q): %v", w.Name, err)
		}
		checkUser(t, got, w)
	}
	for _, name := range []string{"missing", "root", "ALICE"} {
		_, err := s.User(ctx, name)
		wantErr(t, fmt.Sprintf("User(%q)", name), err, meta.ErrNoSuchUser)
	}

	us, err := s.Users(ctx)
	if err != nil {
		t.Fatalf("Users: %v", err)
	}
	order := []string{"Alice", "alice", "bob@example", "cache-upload"}
	if len(us) != len(order) {
		t.Fatalf("Users = %+v, want %q", us, order)
	}
	for i, name := range order {
		checkUser(t, us[i], want[name])
	}

	// SetUserPolicy replaces, adds and removes.
	for _, c := range []struct {
		user   string
		policy []byte
	}{
		{"cache-upload", policyB},
		{"alice", policyA},
		{"bob@example", nil},
	} {
		if err := s.SetUserPolicy(ctx, c.user, c.policy); err != nil {
			t.Fatalf("SetUserPolicy(%q): %v", c.user, err)
		}
		u := want[c.user]
		u.Policy = c.policy
		got, err := s.User(ctx, c.user)
		if err != nil {
			t.Fatalf("User(%q): %v", c.user, err)
		}
		checkUser(t, got, u)
	}
	wantErr(t, "SetUserPolicy(missing)", s.SetUserPolicy(ctx, "missing", policyA), meta.ErrNoSuchUser)
	wantErr(t, "SetUserPolicy(root)", s.SetUserPolicy(ctx, "root", policyA), meta.ErrNoSuchUser)

	wantErr(t, "DeleteUser(missing)", s.DeleteUser(ctx, "missing"), meta.ErrNoSuchUser)
	if err := s.DeleteUser(ctx, "alice"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	_, err = s.User(ctx, "alice")
	wantErr(t, "User after DeleteUser", err, meta.ErrNoSuchUser)
	wantErr(t, "second DeleteUser", s.DeleteUser(ctx, "alice"), meta.ErrNoSuchUser)
	if us, err := s.Users(ctx); err != nil || len(us) != 3 {
		t.Errorf("Users after DeleteUser = %+v, %v; want 3", us, err)
	}
	mustCreateUser(t, s, "alice", nil) // the name is free again
}

// testDeleteUserCascade checks that deleting a user deletes its keys and
// tokens, and nobody else's; and that root's keys survive DeleteUser("root").
func testDeleteUserCascade(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, "alice", policyA)
	mustCreateUser(t, s, "bob", nil)
	keys := map[string]string{"AK1": "alice", "AK2": "alice", "BK1": "bob", "RK1": "root"}
	for id, user := range keys {
		mustPutKey(t, s, id, user)
	}
	tokens := map[string]string{"at1": "alice", "at2": "alice", "bt1": "bob"}
	for id, user := range tokens {
		mustPutToken(t, s, newToken(id, user))
	}

	wantErr(t, "DeleteUser(root)", s.DeleteUser(ctx, "root"), meta.ErrNoSuchUser)
	if err := s.DeleteUser(ctx, "alice"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	for id, user := range keys {
		k, err := s.AccessKey(ctx, id)
		if user == "alice" {
			wantErr(t, "AccessKey of a deleted user's key "+id, err, meta.ErrNoSuchAccessKey)
		} else if err != nil || k.User != user {
			t.Errorf("AccessKey(%q) = %+v, %v; want %s's key", id, k, err, user)
		}
	}
	for id, user := range tokens {
		tok, err := s.Token(ctx, id)
		if user == "alice" {
			wantErr(t, "Token of a deleted user's token "+id, err, meta.ErrNoSuchToken)
		} else if err != nil || tok.User != user {
			t.Errorf("Token(%q) = %+v, %v; want %s's token", id, tok, err, user)
		}
	}
	if ks, err := s.AccessKeys(ctx); err != nil || len(ks) != 2 {
		t.Errorf("AccessKeys after DeleteUser = %+v, %v; want bob's and root's", ks, err)
	}
	if ts, err := s.Tokens(ctx); err != nil || len(ts) != 1 {
		t.Errorf("Tokens after DeleteUser = %+v, %v; want bob's", ts, err)
	}
	// A new user of the same name starts with nothing.
	mustCreateUser(t, s, "alice", nil)
	if ts, err := s.Tokens(ctx); err != nil || len(ts) != 1 {
		t.Errorf("Tokens after re-creating the user = %+v, %v; want bob's", ts, err)
	}
}

func testAccessKeyAdmin(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustPutKey(t, s, "K1", "alice")
	mustPutKey(t, s, "K2", "root")
	for _, enabled := range []bool{false, false, true} { // setting the same value again is fine
		if err := s.SetAccessKeyEnabled(ctx, "K1", enabled); err != nil {
			t.Fatalf("SetAccessKeyEnabled(%v): %v", enabled, err)
		}
		if k, err := s.AccessKey(ctx, "K1"); err != nil || k.Enabled != enabled || k.Secret != "secret-K1" {
			t.Errorf("AccessKey after SetAccessKeyEnabled(%v) = %+v, %v", enabled, k, err)
		}
	}
	if err := s.SetAccessKeyEnabled(ctx, "K2", false); err != nil {
		t.Fatal(err)
	}
	if k, err := s.AccessKey(ctx, "K1"); err != nil || !k.Enabled {
		t.Errorf("disabling K2 changed K1: %+v, %v", k, err)
	}
	wantErr(t, "SetAccessKeyEnabled(missing)", s.SetAccessKeyEnabled(ctx, "k1", true), meta.ErrNoSuchAccessKey)

	wantErr(t, "DeleteAccessKey(missing)", s.DeleteAccessKey(ctx, "k1"), meta.ErrNoSuchAccessKey)
	if err := s.DeleteAccessKey(ctx, "K1"); err != nil {
		t.Fatalf("DeleteAccessKey: %v", err)
	}
	_, err := s.AccessKey(ctx, "K1")
	wantErr(t, "AccessKey after DeleteAccessKey", err, meta.ErrNoSuchAccessKey)
	wantErr(t, "second DeleteAccessKey", s.DeleteAccessKey(ctx, "K1"), meta.ErrNoSuchAccessKey)
	if ks, err := s.AccessKeys(ctx); err != nil || len(ks) != 1 || ks[0].ID != "K2" {
		t.Errorf("AccessKeys = %+v, %v; want K2 alone", ks, err)
	}
	mustPutKey(t, s, "K1", "alice") // the ID is free again
}

func testTokens(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if ts, err := s.Tokens(ctx); err != nil || len(ts) != 0 {
		t.Fatalf("Tokens on an empty store = %v, %v; want none", ts, err)
	}
	mustCreateUser(t, s, "alice", nil)
	mustCreateUser(t, s, "bob", nil)
	for _, user := range []string{"nobody", "root"} {
		err := s.PutToken(ctx, newToken("t-"+user, user))
		wantErr(t, fmt.Sprintf("PutToken for user %q", user), err, meta.ErrNoSuchUser)
	}

	forever := newToken("b", "alice")
	forever.Expires = time.Time{}
	forever.Policy = nil
	toks := []meta.Token{newToken("a", "bob"), newToken("z", "alice"), forever}
	for _, tok := range toks {
		mustPutToken(t, s, tok)
	}
	dup := newToken("a", "alice")
	dup.Hash = bytes.Repeat([]byte{1}, 32)
	if err := s.PutToken(ctx, dup); err == nil {
		t.Error("PutToken of an ID in use succeeded")
	}
	noHash := newToken("nohash", "alice")
	noHash.Hash = nil
	if err := s.PutToken(ctx, noHash); err == nil {
		t.Error("PutToken of a token without a hash succeeded")
	}
	for _, tok := range toks {
		got, err := s.Token(ctx, tok.ID)
		if err != nil {
			t.Fatalf("Token(%q): %v", tok.ID, err)
		}
		checkToken(t, got, tok)
	}
	for _, id := range []string{"missing", "A", "nohash", "t-root"} {
		_, err := s.Token(ctx, id)
		wantErr(t, fmt.Sprintf("Token(%q)", id), err, meta.ErrNoSuchToken)
	}

	ts, err := s.Tokens(ctx)
	if err != nil {
		t.Fatalf("Tokens: %v", err)
	}
	want := []meta.Token{forever, toks[1], toks[0]} // by user, then ID
	if len(ts) != len(want) {
		t.Fatalf("Tokens = %+v, want %d tokens", ts, len(want))
	}
	for i := range want {
		checkToken(t, ts[i], want[i])
	}

	wantErr(t, "DeleteToken(missing)", s.DeleteToken(ctx, "missing"), meta.ErrNoSuchToken)
	if err := s.DeleteToken(ctx, "z"); err != nil {
		t.Fatalf("DeleteToken: %v", err)
	}
	_, err = s.Token(ctx, "z")
	wantErr(t, "Token after DeleteToken", err, meta.ErrNoSuchToken)
	wantErr(t, "second DeleteToken", s.DeleteToken(ctx, "z"), meta.ErrNoSuchToken)
	if ts, err := s.Tokens(ctx); err != nil || len(ts) != 2 {
		t.Errorf("Tokens after DeleteToken = %+v, %v; want 2", ts, err)
	}
}

func checkBucketPolicy(t *testing.T, s meta.Store, bucket string, want []byte) {
	t.Helper()
	got, err := s.BucketPolicy(t.Context(), bucket)
	if want == nil {
		wantErr(t, "BucketPolicy("+bucket+")", err, meta.ErrNoSuchBucketPolicy)
		return
	}
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("BucketPolicy(%q) = %q, %v; want %q", bucket, got, err, want)
	}
}

func testBucketPolicies(t *testing.T, s meta.Store) {
	ctx := t.Context()
	_, err := s.BucketPolicy(ctx, "b")
	wantErr(t, "BucketPolicy of a missing bucket", err, meta.ErrNoSuchBucket)
	wantErr(t, "SetBucketPolicy of a missing bucket", s.SetBucketPolicy(ctx, "b", policyA), meta.ErrNoSuchBucket)
	wantErr(t, "removing the policy of a missing bucket", s.SetBucketPolicy(ctx, "b", nil), meta.ErrNoSuchBucket)

	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "other")
	checkBucketPolicy(t, s, "b", nil)
	for _, c := range []struct {
		name   string
		policy []byte
	}{
		{"set", policyA},
		{"replace", policyB},
		{"remove", nil},
		{"remove again", nil},
		{"set again", policyA},
	} {
		if err := s.SetBucketPolicy(ctx, "b", c.policy); err != nil {
			t.Fatalf("%s: SetBucketPolicy: %v", c.name, err)
		}
		checkBucketPolicy(t, s, "b", c.policy)
		checkBucketPolicy(t, s, "other", nil)
	}

	// A policy does not keep a bucket from being deleted, and goes with it.
	if err := s.SetBucketPolicy(ctx, "other", policyB); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, newObject("b", "k"))
	wantErr(t, "DeleteBucket of a full bucket", s.DeleteBucket(ctx, "b"), meta.ErrBucketNotEmpty)
	checkBucketPolicy(t, s, "b", policyA)
	if _, err := s.DeleteObject(ctx, "b", "k", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, "b"); err != nil {
		t.Fatalf("DeleteBucket of a bucket with a policy: %v", err)
	}
	_, err = s.BucketPolicy(ctx, "b")
	wantErr(t, "BucketPolicy of a deleted bucket", err, meta.ErrNoSuchBucket)
	mustCreateBucket(t, s, "b")
	checkBucketPolicy(t, s, "b", nil)
	checkBucketPolicy(t, s, "other", policyB)
}

func testSettings(t *testing.T, s meta.Store) {
	ctx := t.Context()
	for _, c := range []struct {
		set, value string // set: the name to set, "" for none
		get, want  string
	}{
		{get: "account", want: ""},
		{set: "account", value: "123456789012", get: "account", want: "123456789012"},
		{get: "Account", want: ""},
		{set: "other", value: "x", get: "account", want: "123456789012"},
		{set: "account", value: "210987654321", get: "account", want: "210987654321"},
		{set: "account", value: "", get: "account", want: ""},
		{set: "ünï", value: "é\x00ok", get: "ünï", want: "é\x00ok"},
	} {
		if c.set != "" {
			if err := s.SetSetting(ctx, c.set, c.value); err != nil {
				t.Fatalf("SetSetting(%q, %q): %v", c.set, c.value, err)
			}
		}
		if got, err := s.Setting(ctx, c.get); err != nil || got != c.want {
			t.Errorf("after setting %q to %q: Setting(%q) = %q, %v; want %q", c.set, c.value, c.get, got, err, c.want)
		}
	}
	l, ok := s.(meta.SettingsLister)
	if !ok {
		return
	}
	want := map[string]string{"account": "", "other": "x", "ünï": "é\x00ok"}
	if got, err := l.Settings(ctx); err != nil || !maps.Equal(got, want) {
		t.Errorf("Settings() = %q, %v; want %q", got, err, want)
	}
}

// testGeneration runs every identity change and checks that each one
// changes the generation and that reads do not.
func testGeneration(t *testing.T, s meta.Store) {
	ctx := t.Context()
	gen := func() uint64 {
		t.Helper()
		g, err := s.Generation(ctx)
		if err != nil {
			t.Fatalf("Generation: %v", err)
		}
		return g
	}
	tok := newToken("t1", "alice")
	steps := []struct {
		name   string
		fn     func() error
		change bool
	}{
		{"CreateBucket", func() error { return s.CreateBucket(ctx, meta.Bucket{Name: "b", Created: when}) }, true},
		{"CreateUser", func() error { return s.CreateUser(ctx, meta.User{Name: "alice", Created: when}) }, true},
		{"SetUserPolicy", func() error { return s.SetUserPolicy(ctx, "alice", policyA) }, true},
		{"SetUserPolicy nil", func() error { return s.SetUserPolicy(ctx, "alice", nil) }, true},
		{"PutAccessKey", func() error {
			return s.PutAccessKey(ctx, meta.AccessKey{ID: "K1", Secret: "s", User: "alice", Created: when, Enabled: true})
		}, true},
		{"SetAccessKeyEnabled", func() error { return s.SetAccessKeyEnabled(ctx, "K1", false) }, true},
		{"PutToken", func() error { return s.PutToken(ctx, tok) }, true},
		{"SetBucketPolicy", func() error { return s.SetBucketPolicy(ctx, "b", policyA) }, true},
		{"SetSetting", func() error { return s.SetSetting(ctx, "account", "123456789012") }, true},
		{"reads", func() error {
			for _, read := range []func(context.Context) error{
				func(ctx context.Context) error { _, err := s.User(ctx, "alice"); return err },
				func(ctx context.Context) error { _, err := s.User(ctx, "missing"); return err },
				func(ctx context.Context) error { _, err := s.Users(ctx); return err },
				func(ctx context.Context) error { _, err := s.AccessKey(ctx, "K1"); return err },
				func(ctx context.Context) error { _, err := s.AccessKeys(ctx); return err },
				func(ctx context.Context) error { _, err := s.Token(ctx, "t1"); return err },
				func(ctx context.Context) error { _, err := s.Tokens(ctx); return err },
				func(ctx context.Context) error { _, err := s.BucketPolicy(ctx, "b"); return err },
				func(ctx context.Context) error { _, err := s.BucketPolicy(ctx, "missing"); return err },
				func(ctx context.Context) error { _, err := s.Setting(ctx, "account"); return err },
				func(ctx context.Context) error { _, err := s.Buckets(ctx); return err },
			} {
				read(ctx) // some fail; only the generation matters here
			}
			return nil
		}, false},
		{"SetBucketPolicy nil", func() error { return s.SetBucketPolicy(ctx, "b", nil) }, true},
		{"SetBucketPolicy again", func() error { return s.SetBucketPolicy(ctx, "b", policyB) }, true},
		{"DeleteBucket", func() error { return s.DeleteBucket(ctx, "b") }, true},
		{"DeleteToken", func() error { return s.DeleteToken(ctx, "t1") }, true},
		{"DeleteAccessKey", func() error { return s.DeleteAccessKey(ctx, "K1") }, true},
		{"PutToken again", func() error { return s.PutToken(ctx, tok) }, true},
		{"DeleteUser", func() error { return s.DeleteUser(ctx, "alice") }, true},
	}
	for _, st := range steps {
		before := gen()
		if err := st.fn(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		after := gen()
		if st.change && after == before {
			t.Errorf("%s: generation stayed %d", st.name, after)
		}
		if !st.change && after != before {
			t.Errorf("%s: generation changed from %d to %d", st.name, before, after)
		}
	}
	if _, err := s.User(ctx, "alice"); !errors.Is(err, meta.ErrNoSuchUser) {
		t.Errorf("User after the steps: %v, want ErrNoSuchUser", err)
	}
}
