package access_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/policy"
)

func TestCreateUserNames(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"cache-upload", true},
		{"a", true},
		{"User_1+tag=x,y.z@example.com", true},
		{strings.Repeat("n", 64), true},
		{"", false},
		{strings.Repeat("n", 65), false},
		{"root", false},
		{"with space", false},
		{"slash/name", false},
		{"colon:name", false},
		{"star*", false},
		{"ünïcode", false},
		{"new\nline", false},
	} {
		k, err := e.svc.CreateUser(e.ctx, c.name, nil)
		if c.ok {
			if err != nil {
				t.Errorf("CreateUser(%q): %v", c.name, err)
				continue
			}
			if k.User != c.name || !k.Enabled || len(k.ID) != 20 || len(k.Secret) != 40 {
				t.Errorf("CreateUser(%q) key = %+v", c.name, k)
			}
			if _, err := e.store.User(e.ctx, c.name); err != nil {
				t.Errorf("CreateUser(%q) stored no user: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, access.ErrInvalidName) {
			t.Errorf("CreateUser(%q) = %v, want ErrInvalidName", c.name, err)
		}
	}
	if _, err := e.store.User(e.ctx, "root"); !errors.Is(err, meta.ErrNoSuchUser) {
		t.Errorf("root has a user record after a refused CreateUser: %v", err)
	}
	if _, err := e.svc.CreateUser(e.ctx, "a", nil); !errors.Is(err, meta.ErrUserExists) {
		t.Errorf("CreateUser of an existing name = %v, want ErrUserExists", err)
	}
}

func TestCreateUserPolicy(t *testing.T) {
	e := newEnv(t)
	k := e.user("cache-upload", "seed-upload.iam.json")
	if u, err := e.store.User(e.ctx, "cache-upload"); err != nil || string(u.Policy) != string(seed(t, "seed-upload.iam.json")) {
		t.Fatalf("stored user = %q, %v; want the document verbatim", u.Policy, err)
	}
	if k.User != "cache-upload" {
		t.Fatalf("key user = %q", k.User)
	}

	for _, c := range []struct {
		name, doc string
		stmt      int    // 0: outside any statement
		field     string // prefix of policy.Error.Field
		inMsg     []string
	}{
		{"not json", `{"Statement": [`, 0, "", []string{"invalid JSON"}},
		{"no statement", `{"Version": "2012-10-17"}`, 0, "Statement", []string{"Statement"}},
		{"principal in identity policy",
			`{"Statement": [{"Sid": "Fine", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
				{"Sid": "Bad", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]}`,
			2, "Principal", []string{"statement 2", `"Bad"`, "Principal"}},
		{"bad effect",
			`{"Statement": {"Sid": "Maybe", "Effect": "Perhaps", "Action": "s3:GetObject", "Resource": "*"}}`,
			1, "Effect", []string{"statement 1", `"Maybe"`, "Effect"}},
		{"bad action",
			`{"Statement": [{"Effect": "Allow", "Action": "GetObject", "Resource": "*"}]}`,
			1, "Action", []string{"statement 1", "Action"}},
		{"bad condition operator",
			`{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
				"Condition": {"StringLikeish": {"s3:prefix": "x"}}}]}`,
			1, "Condition", []string{"statement 1", "Condition"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := "u-" + strings.ReplaceAll(c.name, " ", "-")
			_, err := e.svc.CreateUser(e.ctx, name, []byte(c.doc))
			if !errors.Is(err, access.ErrMalformedPolicy) {
				t.Fatalf("CreateUser = %v, want ErrMalformedPolicy", err)
			}
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v does not wrap a *policy.Error", err)
			}
			if pe.Statement != c.stmt || !strings.HasPrefix(pe.Field, c.field) {
				t.Errorf("policy.Error statement %d field %q, want %d %q...", pe.Statement, pe.Field, c.stmt, c.field)
			}
			for _, s := range c.inMsg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q does not name %s", err, s)
				}
			}
			if _, err := e.store.User(e.ctx, name); !errors.Is(err, meta.ErrNoSuchUser) {
				t.Errorf("a user with a malformed policy was stored: %v", err)
			}
		})
	}

	// The same check guards SetUserPolicy; nil removes the policy.
	if err := e.svc.SetUserPolicy(e.ctx, "cache-upload", []byte(`{"Statement": []}`)); !errors.Is(err, access.ErrMalformedPolicy) {
		t.Errorf("SetUserPolicy(empty statements) = %v, want ErrMalformedPolicy", err)
	}
	if err := e.svc.SetUserPolicy(e.ctx, "cache-upload", nil); err != nil {
		t.Fatal(err)
	}
	if u, _ := e.store.User(e.ctx, "cache-upload"); u.Policy != nil {
		t.Errorf("policy after SetUserPolicy(nil) = %q", u.Policy)
	}
	if err := e.svc.SetUserPolicy(e.ctx, "nobody", nil); !errors.Is(err, meta.ErrNoSuchUser) {
		t.Errorf("SetUserPolicy(nobody) = %v, want ErrNoSuchUser", err)
	}
}

func TestCreateKey(t *testing.T) {
	e := newEnv(t)
	first := e.user("alice", "")
	second, err := e.svc.CreateKey(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if second.ID == first.ID || second.Secret == first.Secret {
		t.Fatalf("two keys share their id or secret: %+v %+v", first, second)
	}
	for _, k := range []meta.AccessKey{first, second} {
		if !strings.HasPrefix(k.ID, "NB") || strings.Trim(k.ID, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
			t.Errorf("key id %q is not AWS-shaped", k.ID)
		}
		secret, err := e.svc.Secret(e.ctx, k.ID)
		if err != nil || secret != k.Secret {
			t.Errorf("Secret(%s) = %q, %v; want %q", k.ID, secret, err, k.Secret)
		}
		id := e.keyID(k)
		if id != (access.Identity{User: "alice", AccessKey: k.ID}) {
			t.Errorf("KeyIdentity(%s) = %+v", k.ID, id)
		}
	}

	if _, err := e.svc.CreateKey(e.ctx, "nobody"); !errors.Is(err, meta.ErrNoSuchUser) {
		t.Errorf("CreateKey(nobody) = %v, want ErrNoSuchUser", err)
	}
	rk, err := e.svc.CreateKey(e.ctx, access.RootUser)
	if err != nil {
		t.Fatalf("CreateKey(root): %v", err)
	}
	if id := e.keyID(rk); !id.Root || id.User != access.RootUser {
		t.Errorf("root key identity = %+v, want Root", id)
	}
	if _, err := e.svc.KeyIdentity(e.ctx, "NBUNKNOWNKEY00000000"); !errors.Is(err, access.ErrBadCredentials) {
		t.Errorf("KeyIdentity(unknown) = %v, want ErrBadCredentials", err)
	}
	if _, err := e.svc.Secret(e.ctx, ""); !errors.Is(err, access.ErrBadCredentials) {
		t.Errorf("Secret(\"\") = %v, want ErrBadCredentials", err)
	}
}

// TestKeyChangesTakeEffect disables, re-enables and deletes keys, through
// the server's own Store and through a second one as the CLI does, and
// checks that the very next call sees each change although the key was
// cached.
func TestKeyChangesTakeEffect(t *testing.T) {
	for _, via := range []string{"same store", "second store"} {
		t.Run(via, func(t *testing.T) {
			e := newEnv(t)
			st := meta.IAM(e.store.Store)
			if via == "second store" {
				st = e.CLI()
			}
			k := e.user("alice", "")
			other, err := e.svc.CreateKey(e.ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			check := func(step string, want bool) {
				t.Helper()
				_, errS := e.svc.Secret(e.ctx, k.ID)
				_, errK := e.svc.KeyIdentity(e.ctx, k.ID)
				for _, err := range []error{errS, errK} {
					if want && err != nil {
						t.Fatalf("%s: %v", step, err)
					}
					if !want && !errors.Is(err, access.ErrBadCredentials) {
						t.Fatalf("%s: %v, want ErrBadCredentials", step, err)
					}
				}
				// The other key is unaffected.
				if _, err := e.svc.KeyIdentity(e.ctx, other.ID); err != nil {
					t.Fatalf("%s: the other key: %v", step, err)
				}
			}
			check("warm", true)
			before := e.store.keys.Load()
			check("cached", true)
			if n := e.store.keys.Load() - before; n != 0 {
				t.Errorf("a warm cache read the store %d times", n)
			}
			for i := range 3 { // each toggle must be seen at once
				if err := st.SetAccessKeyEnabled(e.ctx, k.ID, false); err != nil {
					t.Fatal(err)
				}
				check("disabled", false)
				if err := st.SetAccessKeyEnabled(e.ctx, k.ID, true); err != nil {
					t.Fatal(err)
				}
				check("re-enabled "+string(rune('0'+i)), true)
			}
			if err := st.DeleteAccessKey(e.ctx, k.ID); err != nil {
				t.Fatal(err)
			}
			check("deleted", false)

			// Deleting the user deletes its remaining key.
			if err := st.DeleteUser(e.ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.KeyIdentity(e.ctx, other.ID); !errors.Is(err, access.ErrBadCredentials) {
				t.Errorf("key of a deleted user: %v, want ErrBadCredentials", err)
			}
		})
	}
}

// TestKeyDisableConcurrent disables a key through a second Store while a
// lookup A, begun before, has read the key enabled and is about to cache
// it. Whether A fills the cache before or after a lookup begun after the
// disable moved the cache to the new generation, every lookup begun after
// the disable returned fails; A itself, begun before, may succeed.
func TestKeyDisableConcurrent(t *testing.T) {
	for _, order := range []string{"fill first", "newer lookup first"} {
		t.Run(order, func(t *testing.T) {
			e := newEnv(t)
			k := e.user("alice", "")
			arrived, release := make(chan struct{}), make(chan struct{})
			access.SetTestHookFill(t, func(ctx context.Context, what, name string) {
				if role(ctx) == "A" && what == "key" {
					close(arrived)
					<-release
				}
			})
			errA := make(chan error, 1)
			go func() {
				_, err := e.svc.KeyIdentity(context.WithValue(e.ctx, roleKey{}, "A"), k.ID)
				errA <- err
			}()
			<-arrived // A read the key enabled
			if err := e.CLI().SetAccessKeyEnabled(e.ctx, k.ID, false); err != nil {
				t.Fatal(err)
			}
			if order == "newer lookup first" {
				if _, err := e.svc.KeyIdentity(e.ctx, k.ID); err == nil {
					t.Error("a lookup begun after the disable accepted the key")
				}
			}
			close(release)
			if err := <-errA; err != nil {
				t.Errorf("A, begun before the disable: %v", err)
			}
			for range 2 {
				if _, err := e.svc.KeyIdentity(e.ctx, k.ID); err == nil {
					t.Fatal("the disabled key was accepted after A filled the cache")
				}
			}
		})
	}
}
